// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// The tutorial contract reverts with strings ("not owner", "notice period not elapsed", ...), as here.
// solhint-disable gas-custom-errors

/// @title TutorialTimelockAppAuth
/// @notice A baseline that behaves like the `TimelockAppAuth` of dstack's public tutorial ("custom authorization and
/// on-chain due diligence"): compose hashes only, each proposed by the owner and allowed by anyone once a fixed notice
/// period has passed. It exists so the DevProof report can be run on a timelocked AppAuth that is not ours (and that
/// it cannot verify from the chain), and to be measured against. Do not deploy it for a real app.
/// @dev Written from the tutorial contract's observable behaviour, not its source: the same public getters
/// (`owner`, `noticePeriod`, `allowAnyDevice`, `allowedComposeHashes`, `allowedDeviceIds`, `proposedAt`), functions,
/// events (hash indexed), revert and reason strings. Like it: no ERC-165, no ownership transfer, no setter for the
/// notice period or the devices, a proposal keyed by its hash (one storage word), the notice counted at activation
/// from the proposal's time.
contract TutorialTimelockAppAuth {
    /// @notice dstack's `IAppAuth.AppBootInfo`, declared here (not inherited: dstack's `IAppAuth` extends ERC-165,
    /// which the tutorial contract does not implement). Same fields, same order: `isAppAllowed` keeps 0x1e079198.
    struct AppBootInfo {
        address appId;
        bytes32 composeHash;
        address instanceId;
        bytes32 deviceId;
        bytes32 mrAggregated;
        bytes32 mrSystem;
        bytes32 osImageHash;
        string tcbStatus;
        string[] advisoryIds;
    }

    /// @notice Who may propose, cancel and remove (fixed at deployment).
    address public owner;
    /// @notice Seconds between a proposal and the earliest activation (fixed at deployment).
    uint256 public noticePeriod;
    /// @notice Whether any device is allowed (no device can be listed otherwise).
    bool public allowAnyDevice;
    /// @notice Whether a compose hash is allowed.
    mapping(bytes32 composeHash => bool allowed) public allowedComposeHashes;
    /// @notice Whether a device is allowed (nothing sets it, as in the tutorial).
    mapping(bytes32 deviceId => bool allowed) public allowedDeviceIds;
    /// @notice When a compose hash was proposed; 0 when it has no open proposal.
    mapping(bytes32 composeHash => uint256 timestamp) public proposedAt;

    /// @notice A compose hash was proposed; it can be activated from `activatesAt`.
    event ComposeHashProposed(bytes32 indexed hash, uint256 activatesAt);
    /// @notice A proposed compose hash became allowed.
    event ComposeHashActivated(bytes32 indexed hash);
    /// @notice An open proposal was withdrawn.
    event ComposeHashCancelled(bytes32 indexed hash);
    /// @notice A compose hash stopped being allowed.
    event ComposeHashRemoved(bytes32 indexed hash);

    /// @param notice The notice period, in seconds.
    /// @param anyDevice Whether any device is allowed.
    /// @param firstHash A compose hash allowed from the start (none when zero).
    constructor(uint256 notice, bool anyDevice, bytes32 firstHash) {
        owner = msg.sender;
        noticePeriod = notice;
        allowAnyDevice = anyDevice;
        if (firstHash != bytes32(0)) allowedComposeHashes[firstHash] = true;
    }

    function _checkOwner() private view {
        require(msg.sender == owner, "not owner");
    }

    /// @notice Start the notice for a compose hash. Owner only; not while it is open or already allowed.
    function proposeComposeHash(bytes32 hash) external {
        _checkOwner();
        require(proposedAt[hash] == 0, "already proposed");
        require(!allowedComposeHashes[hash], "already active");
        proposedAt[hash] = block.timestamp;
        emit ComposeHashProposed(hash, block.timestamp + noticePeriod);
    }

    /// @notice Allow a proposed compose hash once the notice has passed. Anyone may call it.
    function activateComposeHash(bytes32 hash) external {
        uint256 at = proposedAt[hash];
        require(at != 0, "not proposed");
        require(block.timestamp >= at + noticePeriod, "notice period not elapsed");
        delete proposedAt[hash];
        allowedComposeHashes[hash] = true;
        emit ComposeHashActivated(hash);
    }

    /// @notice Withdraw an open proposal. Owner only.
    function cancelProposal(bytes32 hash) external {
        _checkOwner();
        require(proposedAt[hash] != 0, "not proposed");
        delete proposedAt[hash];
        emit ComposeHashCancelled(hash);
    }

    /// @notice Stop allowing a compose hash, at once. Owner only.
    function removeComposeHash(bytes32 hash) external {
        _checkOwner();
        allowedComposeHashes[hash] = false;
        emit ComposeHashRemoved(hash);
    }

    /// @notice When an open proposal can be activated; reverts when there is none.
    function activatesAt(bytes32 hash) external view returns (uint256) {
        uint256 at = proposedAt[hash];
        require(at != 0, "not proposed");
        return at + noticePeriod;
    }

    /// @notice What dstack's KMS asks at every boot: the compose hash, then the device.
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        if (!allowedComposeHashes[bootInfo.composeHash]) return (false, "compose hash not allowed");
        if (!allowAnyDevice && !allowedDeviceIds[bootInfo.deviceId]) return (false, "device not allowed");
        return (true, "");
    }
}
