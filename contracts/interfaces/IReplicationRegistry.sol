// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAppAuth} from "./IAppAuth.sol";

/// @title IReplicationRegistry
/// @notice The public surface of {ReplicationRegistry}: which TDX nodes of one dstack app hold the app's shared
/// secret, and the on-chain record of how each got it.
/// @dev Protocol, in three signed messages (EIP-712, domain `{name: "ReplicationRegistry", version: "1", chainId,
/// verifyingContract}`):
///
/// 1. A node, inside its TEE, makes an Ethereum key and an encryption key, gets a TDX quote whose `report_data`
///    binds both (see `lib/replication/`), and signs `Registration(address node,bytes encryptionPublicKey,
///    AppBootInfo bootInfo,bytes quote,bytes eventLog)` with its Ethereum key. Anyone submits it to {register}.
/// 2. The app's owner picks the first member once: {setGenesis} on a registered node.
/// 3. A member's guest agent verifies a registered node's quote off-chain, encrypts the secret to its key and
///    signs `Onboarding(address node,bytes32 quoteHash,bytes ciphertext)`. Anyone submits it to {onboard}.
///
/// `AppBootInfo(address appId,bytes32 composeHash,address instanceId,bytes32 deviceId,bytes32 mrAggregated,
/// bytes32 mrSystem,bytes32 osImageHash,string tcbStatus,string[] advisoryIds)` is dstack's {IAppAuth.AppBootInfo}
/// with its field order.
interface IReplicationRegistry {
    /// @notice What a node's TEE says about it, kept auditable in {NodeRegistered}.
    /// @param quote The TDX quote; its `report_data` binds the node's address and encryption key.
    /// @param eventLog dstack's event log (JSON, at least its RTMR3 entries), from which a verifier replays RTMR3
    /// and reads the measured compose hash; may be empty if verifiers get it another way.
    struct Attestation {
        bytes quote;
        bytes eventLog;
    }

    /// @notice Where a node stands. `None`: never registered. `Registered`: registered, waiting to be onboarded.
    /// `Member`: holds the shared secret. `Evicted`: was a member and was removed or left; final.
    enum NodeStatus {
        None,
        Registered,
        Member,
        Evicted
    }

    /// @notice Why a member was removed.
    /// @dev `Left`: the member removed itself. `NoLongerAllowed`: the app's policy no longer allows its boot info
    /// (anyone may remove it). `RemovedByOwner`: the app's owner removed a member the policy still allows.
    enum EvictionCause {
        Left,
        NoLongerAllowed,
        RemovedByOwner
    }

    /// @notice One node as auditors and agents read it.
    /// @param status Where the node stands.
    /// @param registeredAt When it registered (block timestamp); zero if never.
    /// @param sponsor The member that signed its onboarding; zero for the genesis member and for non-members.
    /// @param joinedAt When it became a member; zero if never.
    /// @param evictedAt When it stopped being a member; zero if it did not.
    /// @param quoteHash `keccak256` of the TDX quote it registered with (the quote and event log are in
    /// {NodeRegistered}).
    /// @param encryptionPublicKey The key the shared secret is encrypted to (33-byte compressed secp256k1 for the
    /// reference agent).
    /// @param bootInfo The boot info it claimed, re-checked against the app's policy at onboarding and eviction.
    struct NodeRecord {
        NodeStatus status;
        uint64 registeredAt;
        address sponsor;
        uint64 joinedAt;
        uint64 evictedAt;
        bytes32 quoteHash;
        bytes encryptionPublicKey;
        IAppAuth.AppBootInfo bootInfo;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------------------

    /// @notice A node registered. Everything a member needs to verify it off-chain is here.
    /// @param node The node's in-TEE Ethereum address (it signed the registration).
    /// @param composeHash The compose hash it claims to run (also in `bootInfo`), indexed for filtering.
    /// @param quoteHash `keccak256(quote)`, as stored.
    /// @param encryptionPublicKey The key the shared secret is to be encrypted to.
    /// @param bootInfo The boot info it claims.
    /// @param attestation The full TDX quote, whose `report_data` must bind `node` and `encryptionPublicKey`, and
    /// the event log that shows what was measured into RTMR3.
    event NodeRegistered(
        address indexed node,
        bytes32 indexed composeHash,
        bytes32 indexed quoteHash,
        bytes encryptionPublicKey,
        IAppAuth.AppBootInfo bootInfo,
        Attestation attestation
    );

    /// @notice The first member was set by the app's owner.
    /// @param node The genesis member; its quote is in its {NodeRegistered} event.
    /// @param setBy The app's owner at that moment.
    event GenesisSet(address indexed node, address indexed setBy);

    /// @notice A registered node became a member.
    /// @param node The new member.
    /// @param sponsor The member that signed the onboarding.
    /// @param quoteHash The quote hash the sponsor signed for (the one the node registered with).
    /// @param ciphertext The shared secret encrypted to the node's encryption key.
    event NodeOnboarded(address indexed node, address indexed sponsor, bytes32 quoteHash, bytes ciphertext);

    /// @notice A member was removed.
    /// @param node The removed member.
    /// @param by Who sent the removal.
    /// @param cause Why it was removed.
    /// @param reason For `NoLongerAllowed`, the policy's reason string; empty otherwise.
    event MemberEvicted(address indexed node, address indexed by, EvictionCause indexed cause, string reason);

    // ---------------------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------------------

    /// @notice The policy address given at deployment is not a `TimelockedAppAuth` (ERC-165 `ITimelockedAppAuth`).
    error RegistryAppAuthInvalid(address appAuth);

    /// @notice The node is already registered (or was a member): registration is one-shot per address.
    error RegistryNodeAlreadyRegistered(address node, NodeStatus status);

    /// @notice The registration was not signed by the node it names.
    error RegistrySignerMismatch(address node, address signer);

    /// @notice The boot info names another app than the one this registry serves.
    error RegistryAppIdMismatch(address appId, address expected);

    /// @notice The encryption public key is empty or longer than the registry accepts.
    error RegistryEncryptionKeyLengthInvalid(uint256 length, uint256 maxLength);

    /// @notice A registration needs a quote.
    error RegistryQuoteEmpty(address node);

    /// @notice The app's policy does not allow the node's boot info.
    error RegistryBootInfoNotAllowed(address node, string reason);

    /// @notice The node is not waiting to be onboarded.
    error RegistryNodeNotRegistered(address node, NodeStatus status);

    /// @notice The node is a member already.
    error RegistryNodeAlreadyMember(address node);

    /// @notice An onboarding needs the encrypted secret.
    error RegistryCiphertextEmpty(address node);

    /// @notice The onboarding was not signed by a member.
    error RegistrySignerNotMember(address signer);

    /// @notice The member that signed the onboarding is no longer allowed by the app's policy.
    error RegistrySponsorNotAllowed(address sponsor, string reason);

    /// @notice Only the app's owner (the owner of the policy contract) may do this.
    error RegistryCallerNotAppAuthOwner(address caller, address owner);

    /// @notice The genesis member was set already; it can be set only once.
    error RegistryGenesisAlreadySet(address genesis);

    /// @notice The node is not a member.
    error RegistryNodeNotMember(address node, NodeStatus status);

    /// @notice The member is still allowed by the policy and the caller is neither the member nor the app's owner.
    error RegistryEvictionUnauthorized(address node, address caller);

    // ---------------------------------------------------------------------------------------------------------
    // Operations
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Register a node, with its own signature; anyone may submit it.
    function register(
        address node,
        bytes calldata encryptionPublicKey,
        IAppAuth.AppBootInfo calldata bootInfo,
        Attestation calldata attestation,
        bytes calldata nodeSignature
    ) external;

    /// @notice Make a registered node the first member. Once, by the app's owner.
    function setGenesis(address node) external;

    /// @notice Make a registered node a member, with a member's signature over the encrypted secret; anyone may
    /// submit it.
    function onboard(address node, bytes calldata ciphertext, bytes calldata memberSignature) external;

    /// @notice Remove a member: itself, anyone when the policy no longer allows it, or the app's owner.
    function evict(address node) external;

    // ---------------------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------------------

    /// @notice The app policy this registry is bound to (also the app id).
    function appAuth() external view returns (IAppAuth);

    /// @notice The genesis member; zero before it is set.
    function genesis() external view returns (address);

    /// @notice How many members there are.
    function memberCount() external view returns (uint256);

    /// @notice Whether `node` is a member.
    function isMember(address node) external view returns (bool);

    /// @notice Up to `limit` members starting at `offset`. The order is stable while nobody is evicted; an
    /// eviction moves the last member into the freed place.
    function getMembers(uint256 offset, uint256 limit) external view returns (address[] memory);

    /// @notice Where `node` stands.
    function nodeStatus(address node) external view returns (NodeStatus);

    /// @notice Everything stored about `node`.
    function getNode(address node) external view returns (NodeRecord memory);

    /// @notice Whether the app's policy allows `node`'s stored boot info now, and if not, why. An agent that
    /// finds a member not allowed may {evict} it.
    function isNodeAllowed(address node) external view returns (bool isAllowed, string memory reason);

    /// @notice The EIP-712 digest a node signs to register.
    function registrationDigest(
        address node,
        bytes calldata encryptionPublicKey,
        IAppAuth.AppBootInfo calldata bootInfo,
        Attestation calldata attestation
    ) external view returns (bytes32);

    /// @notice The EIP-712 digest a member signs to onboard `node`.
    function onboardingDigest(address node, bytes32 quoteHash, bytes calldata ciphertext)
        external
        view
        returns (bytes32);
}
