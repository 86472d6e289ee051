// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

/// @title UpgradeCycleFloor
/// @notice The least a timelocked upgrade can store, measured rather than estimated (scripts/bench/): proposing writes
/// ONE new storage word (when the hash may be activated) and announces the compose URI in an event, which is where an
/// agent reads it; activating clears that word and adds the hash to ONE enumerable set (OpenZeppelin's
/// `EnumerableSet`, so `getComposeHashes` stays a view), with dstack's `ComposeHashAdded` and `PolicyChanged`.
/// Retiring older releases on activation removes them from the set. It takes the same calldata as
/// `TimelockedAppAuth`'s `proposeComposeHash`, `activateComposeHash` and `activateComposeHashAndRetire`.
/// @dev A measuring stick, not a policy: no devices, TCB rule, expiry, notice changes, open-proposal list or
/// current release, and only the checks that cost no extra storage read. Do not deploy it for a real app.
contract UpgradeCycleFloor is Ownable {
    using EnumerableSet for EnumerableSet.Bytes32Set;

    /// @notice Seconds between a proposal and its earliest activation.
    uint256 public immutable noticePeriod;

    /// @notice When a proposed compose hash may be activated; zero when it has no open proposal.
    mapping(bytes32 composeHash => uint256 readyAt) public readyAt;
    EnumerableSet.Bytes32Set private _composeHashes;

    /// @notice A compose hash was proposed; its compose file is at `uri`.
    event ComposeHashProposed(bytes32 indexed composeHash, uint256 readyAt, string uri);
    /// @notice A compose hash became allowed (dstack's event).
    event ComposeHashAdded(bytes32 composeHash);
    /// @notice A compose hash stopped being allowed (dstack's event).
    event ComposeHashRemoved(bytes32 composeHash);
    /// @notice dstack's audit event, next to each change.
    event PolicyChanged(address indexed actor, bytes32 indexed policy, bytes32 indexed value, bool enabled);

    /// @notice The hash already has an open proposal.
    error AlreadyProposed(bytes32 composeHash);
    /// @notice The hash has no proposal whose notice has passed.
    error NotReady(bytes32 composeHash);
    /// @notice The hash is already allowed.
    error AlreadyAllowed(bytes32 composeHash);
    /// @notice A hash to retire is not allowed.
    error NotAllowed(bytes32 composeHash);

    bytes32 private constant _POLICY_COMPOSE_HASH = keccak256("compose-hash");

    /// @param initialOwner Who proposes and retires.
    /// @param notice Seconds every proposal waits.
    /// @param genesisComposeHash The first release.
    constructor(address initialOwner, uint256 notice, bytes32 genesisComposeHash) Ownable(initialOwner) {
        noticePeriod = notice;
        _composeHashes.add(genesisComposeHash);
    }

    /// @notice Announce a compose hash and where its compose file is.
    function proposeComposeHash(bytes32 composeHash, string calldata uri) external onlyOwner returns (bytes32) {
        if (readyAt[composeHash] != 0) revert AlreadyProposed(composeHash);
        uint256 at = block.timestamp + noticePeriod;
        readyAt[composeHash] = at;
        emit ComposeHashProposed(composeHash, at, uri);
        return composeHash;
    }

    /// @notice Allow a proposed hash once its notice has passed. Anyone may call it.
    function activateComposeHash(bytes32 composeHash) external {
        _activate(composeHash);
    }

    /// @notice Activate and stop allowing `retired` in the same transaction. Owner only (retiring narrows).
    function activateComposeHashAndRetire(bytes32 composeHash, bytes32[] calldata retired) external onlyOwner {
        _activate(composeHash);
        for (uint256 i = 0; i < retired.length; ++i) {
            if (!_composeHashes.remove(retired[i])) revert NotAllowed(retired[i]);
            emit ComposeHashRemoved(retired[i]);
            emit PolicyChanged(msg.sender, _POLICY_COMPOSE_HASH, retired[i], false);
        }
    }

    /// @notice The allowed compose hashes.
    function getComposeHashes() external view returns (bytes32[] memory) {
        return _composeHashes.values();
    }

    function _activate(bytes32 composeHash) private {
        uint256 at = readyAt[composeHash];
        if (at == 0 || block.timestamp < at) revert NotReady(composeHash);
        delete readyAt[composeHash];
        if (!_composeHashes.add(composeHash)) revert AlreadyAllowed(composeHash);
        emit ComposeHashAdded(composeHash);
        emit PolicyChanged(msg.sender, _POLICY_COMPOSE_HASH, composeHash, true);
    }
}
