// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ERC165Checker} from "@openzeppelin/contracts/utils/introspection/ERC165Checker.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {IAppAuth} from "./interfaces/IAppAuth.sol";
import {IReplicationRegistry} from "./interfaces/IReplicationRegistry.sol";
import {ITimelockedAppAuth} from "./interfaces/ITimelockedAppAuth.sol";

/// @title ReplicationRegistry
/// @notice Which TDX nodes of one dstack app hold the app's shared secret. A node joins only when a current member
/// hands it the secret, encrypted to a key its TDX quote binds, and only while the app's policy allows the node.
/// @dev Threat model: the app's developer (the owner of the bound {TimelockedAppAuth}) must not be able to obtain
/// the shared secret, and neither may the hosts that run the nodes and pay their gas. So:
/// - Membership only grows by a signature of a current member's in-TEE key ({onboard}); the owner cannot add a
///   member. The single exception is the genesis member, which the owner sets once ({setGenesis}); its quote is
///   recorded like any other, so auditors and every joining node can check it is a real TEE running allowed code.
/// - The contract cannot verify a TDX quote; members verify it off-chain before they sign (DCAP signature and
///   collateral, TCB, `report_data` binding of the node's address and encryption key, measured compose hash). A
///   registration is therefore only a claim, and anyone may make one; what the contract enforces is that the
///   claimed boot info is allowed by the policy at registration, again at onboarding (for the new node and for its
///   sponsor), and that a member whose boot info the policy stops allowing can be removed by anyone.
/// - Widening the policy waits the AppAuth's notice period, so new code cannot be onboarded before users can
///   react; narrowing it (and the owner's {evict}) is instant, so a revoked node is removed at once. Eviction
///   cannot take back a secret already held: it stops the node from onboarding others and tells agents to stop
///   trusting it; rotating the secret is the app's business.
/// - Hosts can delay or withhold submissions (anyone may submit, so any one honest relayer defeats censorship)
///   but cannot alter them: every message is signed by the key it speaks for.
///
/// Design decisions:
/// - Bound to one policy for life (immutable), and the policy's address must be the `appId` of every boot info,
///   so nodes of another app with the same compose file cannot join.
/// - One registration per node address, ever: re-registering reverts (a node that reboots makes new keys), which
///   makes the registration signature single-use. An onboarding signature names the node and its quote hash and
///   can succeed only once for the same reason. The EIP-712 domain binds the chain and this contract.
/// - Genesis by a one-shot call of the policy's owner (not a constructor argument): the genesis node must sign
///   its registration for this contract's address, which does not exist before deployment. If every member
///   leaves, the registry is dead for good; a new one is a new, public deployment.
/// - The full quote, the event log (self-authenticating: it must replay to the quote's RTMR3) and the ciphertext
///   live in events; storage keeps the quote's hash and the boot info needed to re-check the policy. Every
///   operation is O(1) in the number of members.
// EIP-712 type strings are longer than 32 bytes by nature.
// solhint-disable gas-small-strings
contract ReplicationRegistry is IReplicationRegistry, EIP712 {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice EIP-712 type of dstack's boot info, as nested in a registration.
    bytes32 public constant APP_BOOT_INFO_TYPEHASH = keccak256(
        "AppBootInfo(address appId,bytes32 composeHash,address instanceId,bytes32 deviceId,bytes32 mrAggregated,"
        "bytes32 mrSystem,bytes32 osImageHash,string tcbStatus,string[] advisoryIds)"
    );

    /// @notice EIP-712 type a node signs to register.
    bytes32 public constant REGISTRATION_TYPEHASH = keccak256(
        "Registration(address node,bytes encryptionPublicKey,AppBootInfo bootInfo,bytes quote,bytes eventLog)"
        "AppBootInfo(address appId,bytes32 composeHash,address instanceId,bytes32 deviceId,bytes32 mrAggregated,"
        "bytes32 mrSystem,bytes32 osImageHash,string tcbStatus,string[] advisoryIds)"
    );

    /// @notice EIP-712 type a member signs to onboard a node.
    bytes32 public constant ONBOARDING_TYPEHASH =
        keccak256("Onboarding(address node,bytes32 quoteHash,bytes ciphertext)");

    /// @notice The longest encryption public key accepted, in bytes (room for any elliptic-curve encoding).
    uint256 public constant MAX_ENCRYPTION_KEY_LENGTH = 128;

    IAppAuth private immutable _appAuth;
    address private _genesis;
    mapping(address node => NodeRecord record) private _nodes;
    EnumerableSet.AddressSet private _members;

    /// @notice Binds the registry to one app's policy for life.
    /// @param appAuth_ The app's policy (its `TimelockedAppAuth`); its address is the app id.
    ///
    /// Requirements: `appAuth_` answers ERC-165 `supportsInterface(0x1e079198)` (dstack's `IAppAuth`) with true.
    constructor(IAppAuth appAuth_) EIP712("ReplicationRegistry", "1") {
        // Only a timelocked policy: bound to an instantly changeable one, the registry would hand the secret to
        // whatever code its owner allowed a minute ago, and the DevProof guarantee would be gone.
        if (!ERC165Checker.supportsInterface(address(appAuth_), type(ITimelockedAppAuth).interfaceId)) {
            revert RegistryAppAuthInvalid(address(appAuth_));
        }
        _appAuth = appAuth_;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Operations
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Register `node`, with its own EIP-712 signature over its key, boot info, quote and event log. Anyone
    /// may submit it (the host pays the gas).
    /// @dev Emits {NodeRegistered}.
    ///
    /// Requirements:
    /// - `node` has never registered;
    /// - `bootInfo.appId` is the policy's address;
    /// - `encryptionPublicKey` is 1 to {MAX_ENCRYPTION_KEY_LENGTH} bytes; `attestation.quote` is non-empty;
    /// - `nodeSignature` is `node`'s signature of the `Registration` struct;
    /// - the policy allows `bootInfo` now.
    function register(
        address node,
        bytes calldata encryptionPublicKey,
        IAppAuth.AppBootInfo calldata bootInfo,
        Attestation calldata attestation,
        bytes calldata nodeSignature
    ) external {
        bytes32 quoteHash = _checkRegistration(node, encryptionPublicKey, bootInfo, attestation, nodeSignature);

        NodeRecord storage record = _nodes[node];
        record.status = NodeStatus.Registered;
        record.registeredAt = uint64(block.timestamp);
        record.quoteHash = quoteHash;
        record.encryptionPublicKey = encryptionPublicKey;
        record.bootInfo = bootInfo;
        emit NodeRegistered(node, bootInfo.composeHash, quoteHash, encryptionPublicKey, bootInfo, attestation);
    }

    /// @notice Make the registered `node` the first member. It then holds (generates) the shared secret.
    /// @dev Emits {GenesisSet}.
    ///
    /// Requirements:
    /// - the caller is the policy's owner;
    /// - no genesis was ever set;
    /// - `node` is registered and the policy allows its boot info now.
    function setGenesis(address node) external {
        address owner = _appAuthOwner();
        if (msg.sender != owner) revert RegistryCallerNotAppAuthOwner(msg.sender, owner);
        if (_genesis != address(0)) revert RegistryGenesisAlreadySet(_genesis);
        NodeRecord storage record = _requireRegistered(node);
        _requireAllowed(node, record);

        _genesis = node;
        _admit(node, record, address(0));
        emit GenesisSet(node, msg.sender);
    }

    /// @notice Make the registered `node` a member, with a member's EIP-712 signature over the shared secret
    /// encrypted to `node`'s key. Anyone may submit it.
    /// @dev Emits {NodeOnboarded}. The signer can never be `node` itself: it must be a member, `node` must not.
    ///
    /// Requirements:
    /// - `node` is registered and not a member (nor evicted);
    /// - `ciphertext` is non-empty;
    /// - `memberSignature` signs the `Onboarding` struct for `node`, its stored quote hash and `ciphertext`, and
    ///   its signer is a member whose own boot info the policy still allows;
    /// - the policy allows `node`'s boot info now.
    function onboard(address node, bytes calldata ciphertext, bytes calldata memberSignature) external {
        NodeRecord storage record = _requireRegistered(node);
        if (ciphertext.length == 0) revert RegistryCiphertextEmpty(node);

        bytes32 quoteHash = record.quoteHash;
        address sponsor = ECDSA.recoverCalldata(_onboardingDigest(node, quoteHash, ciphertext), memberSignature);
        if (!_members.contains(sponsor)) revert RegistrySignerNotMember(sponsor);
        (bool sponsorAllowed, string memory sponsorReason) = _appAuth.isAppAllowed(_nodes[sponsor].bootInfo);
        if (!sponsorAllowed) revert RegistrySponsorNotAllowed(sponsor, sponsorReason);
        _requireAllowed(node, record);

        _admit(node, record, sponsor);
        emit NodeOnboarded(node, sponsor, quoteHash, ciphertext);
    }

    /// @notice Remove the member `node`: a member may leave; anyone may remove a member whose boot info the policy
    /// no longer allows; the policy's owner may remove any member (narrowing, so instant).
    /// @dev Emits {MemberEvicted}. Eviction is final: the address can never register or join again.
    ///
    /// Requirements:
    /// - `node` is a member;
    /// - the caller is `node`, or the policy denies `node`'s boot info, or the caller is the policy's owner.
    function evict(address node) external {
        NodeRecord storage record = _nodes[node];
        if (record.status != NodeStatus.Member) revert RegistryNodeNotMember(node, record.status);

        EvictionCause cause;
        string memory reason;
        if (msg.sender == node) {
            cause = EvictionCause.Left;
        } else {
            bool allowed;
            (allowed, reason) = _appAuth.isAppAllowed(record.bootInfo);
            if (!allowed) {
                cause = EvictionCause.NoLongerAllowed;
            } else if (msg.sender == _appAuthOwner()) {
                cause = EvictionCause.RemovedByOwner;
            } else {
                revert RegistryEvictionUnauthorized(node, msg.sender);
            }
        }

        record.status = NodeStatus.Evicted;
        record.evictedAt = uint64(block.timestamp);
        _members.remove(node);
        emit MemberEvicted(node, msg.sender, cause, reason);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------------------

    /// @inheritdoc IReplicationRegistry
    function appAuth() external view returns (IAppAuth) {
        return _appAuth;
    }

    /// @inheritdoc IReplicationRegistry
    function genesis() external view returns (address) {
        return _genesis;
    }

    /// @inheritdoc IReplicationRegistry
    function memberCount() external view returns (uint256) {
        return _members.length();
    }

    /// @inheritdoc IReplicationRegistry
    function isMember(address node) external view returns (bool) {
        return _members.contains(node);
    }

    /// @inheritdoc IReplicationRegistry
    function getMembers(uint256 offset, uint256 limit) external view returns (address[] memory page) {
        uint256 count = _members.length();
        if (offset >= count) return new address[](0);
        uint256 size = count - offset < limit ? count - offset : limit;
        page = new address[](size);
        for (uint256 i = 0; i < size; ++i) {
            page[i] = _members.at(offset + i);
        }
    }

    /// @inheritdoc IReplicationRegistry
    function nodeStatus(address node) external view returns (NodeStatus) {
        return _nodes[node].status;
    }

    /// @inheritdoc IReplicationRegistry
    function getNode(address node) external view returns (NodeRecord memory) {
        return _nodes[node];
    }

    /// @inheritdoc IReplicationRegistry
    function isNodeAllowed(address node) external view returns (bool isAllowed, string memory reason) {
        return _appAuth.isAppAllowed(_nodes[node].bootInfo);
    }

    /// @inheritdoc IReplicationRegistry
    function registrationDigest(
        address node,
        bytes calldata encryptionPublicKey,
        IAppAuth.AppBootInfo calldata bootInfo,
        Attestation calldata attestation
    ) external view returns (bytes32) {
        return _registrationDigest(node, encryptionPublicKey, bootInfo, attestation, keccak256(attestation.quote));
    }

    /// @inheritdoc IReplicationRegistry
    function onboardingDigest(address node, bytes32 quoteHash, bytes calldata ciphertext)
        external
        view
        returns (bytes32)
    {
        return _onboardingDigest(node, quoteHash, ciphertext);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------------

    /// @dev Every check of {register}, in its documented order; returns the quote's hash.
    function _checkRegistration(
        address node,
        bytes calldata encryptionPublicKey,
        IAppAuth.AppBootInfo calldata bootInfo,
        Attestation calldata attestation,
        bytes calldata nodeSignature
    ) private view returns (bytes32 quoteHash) {
        NodeStatus status = _nodes[node].status;
        if (status != NodeStatus.None) revert RegistryNodeAlreadyRegistered(node, status);
        if (bootInfo.appId != address(_appAuth)) revert RegistryAppIdMismatch(bootInfo.appId, address(_appAuth));
        uint256 keyLength = encryptionPublicKey.length;
        if (keyLength == 0 || keyLength > MAX_ENCRYPTION_KEY_LENGTH) {
            revert RegistryEncryptionKeyLengthInvalid(keyLength, MAX_ENCRYPTION_KEY_LENGTH);
        }
        if (attestation.quote.length == 0) revert RegistryQuoteEmpty(node);

        quoteHash = keccak256(attestation.quote);
        bytes32 digest = _registrationDigest(node, encryptionPublicKey, bootInfo, attestation, quoteHash);
        address signer = ECDSA.recoverCalldata(digest, nodeSignature);
        if (signer != node) revert RegistrySignerMismatch(node, signer);

        (bool allowed, string memory reason) = _appAuth.isAppAllowed(bootInfo);
        if (!allowed) revert RegistryBootInfoNotAllowed(node, reason);
    }

    function _admit(address node, NodeRecord storage record, address sponsor) private {
        record.status = NodeStatus.Member;
        record.sponsor = sponsor;
        record.joinedAt = uint64(block.timestamp);
        _members.add(node);
    }

    function _requireRegistered(address node) private view returns (NodeRecord storage record) {
        record = _nodes[node];
        NodeStatus status = record.status;
        if (status == NodeStatus.Member) revert RegistryNodeAlreadyMember(node);
        if (status != NodeStatus.Registered) revert RegistryNodeNotRegistered(node, status);
    }

    function _requireAllowed(address node, NodeRecord storage record) private view {
        (bool allowed, string memory reason) = _appAuth.isAppAllowed(record.bootInfo);
        if (!allowed) revert RegistryBootInfoNotAllowed(node, reason);
    }

    function _appAuthOwner() private view returns (address) {
        return Ownable(address(_appAuth)).owner();
    }

    function _registrationDigest(
        address node,
        bytes calldata encryptionPublicKey,
        IAppAuth.AppBootInfo calldata bootInfo,
        Attestation calldata attestation,
        bytes32 quoteHash
    ) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    REGISTRATION_TYPEHASH,
                    node,
                    keccak256(encryptionPublicKey),
                    _hashBootInfo(bootInfo),
                    quoteHash,
                    keccak256(attestation.eventLog)
                )
            )
        );
    }

    function _onboardingDigest(address node, bytes32 quoteHash, bytes calldata ciphertext)
        private
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(ONBOARDING_TYPEHASH, node, quoteHash, keccak256(ciphertext))));
    }

    /// @dev EIP-712 `hashStruct` of an `AppBootInfo`: strings are hashed, and `string[]` is the hash of the
    /// concatenated hashes of its elements.
    function _hashBootInfo(IAppAuth.AppBootInfo calldata bootInfo) private pure returns (bytes32) {
        uint256 count = bootInfo.advisoryIds.length;
        bytes32[] memory advisoryHashes = new bytes32[](count);
        for (uint256 i = 0; i < count; ++i) {
            advisoryHashes[i] = keccak256(bytes(bootInfo.advisoryIds[i]));
        }
        bytes memory head = abi.encode(
            APP_BOOT_INFO_TYPEHASH,
            bootInfo.appId,
            bootInfo.composeHash,
            bootInfo.instanceId,
            bootInfo.deviceId,
            bootInfo.mrAggregated
        );
        bytes memory tail = abi.encode(
            bootInfo.mrSystem,
            bootInfo.osImageHash,
            keccak256(bytes(bootInfo.tcbStatus)),
            keccak256(abi.encodePacked(advisoryHashes))
        );
        return keccak256(bytes.concat(head, tail));
    }
}
