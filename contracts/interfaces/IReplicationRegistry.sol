// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAppAuth} from "./IAppAuth.sol";
import {IDstackKmsInfo} from "./IDstackKmsInfo.sol";

/// @title IReplicationRegistry
/// @notice The public surface of {ReplicationRegistry}: which TDX nodes of one dstack app hold the app's shared
/// secret, the on-chain record of how each got it, and the evidence each showed.
/// @dev Protocol, in four signed messages (EIP-712, domain `{name: "ReplicationRegistry", version: "2", chainId,
/// verifyingContract}`):
///
/// 1. A node, inside its TEE, derives its Ethereum key and an encryption key with dstack's `GetKey` (the Ethereum
///    key with the purpose {NODE_KEY_PURPOSE}, so `GetKey` also returns the key's signature chain up to dstack's KMS
///    root), gets a TDX quote whose `report_data` binds both keys (see `lib/replication/`), and signs
///    `Registration(address node,bytes encryptionPublicKey,AppBootInfo bootInfo,bytes quote,bytes eventLog)` with
///    its Ethereum key. Anyone submits it, with the key chain, to {register}.
/// 2. The app's owner picks the first member once: {setGenesis} on a registered node.
/// 3. A member's guest agent verifies a registered node's evidence off-chain, encrypts the secret to its key and
///    signs `Onboarding(address node,bytes32 quoteHash,bytes ciphertext)`. Anyone submits it to {onboard}.
/// 4. At least every {ATTESTATION_PERIOD}, a node gets a fresh quote, verifies it with fresh collateral and signs
///    `AttestationRefresh(address node,uint64 nonce,bytes quote,bytes eventLog,string tcbStatus,
///    string[] advisoryIds)`. Anyone submits it to {refreshAttestation}.
///
/// `AppBootInfo(address appId,bytes32 composeHash,address instanceId,bytes32 deviceId,bytes32 mrAggregated,
/// bytes32 mrSystem,bytes32 osImageHash,string tcbStatus,string[] advisoryIds)` is dstack's {IAppAuth.AppBootInfo}
/// with its field order, as dstack's KMS saw it when it released the node's keys (the "boot" view:
/// `mrSystem` without a key provider, `mrAggregated` over RTMR3 up to `boot-mr-done`).
interface IReplicationRegistry {
    /// @notice What a node's TEE says about it, kept auditable in {NodeRegistered} and {AttestationRefreshed}.
    /// @param quote The TDX quote; its `report_data` binds the node's address and encryption key.
    /// @param eventLog dstack's event log (JSON, at least its RTMR3 entries), from which a verifier replays RTMR3
    /// and reads what was measured; may be empty if verifiers get it another way.
    struct Attestation {
        bytes quote;
        bytes eventLog;
    }

    /// @notice dstack's signature chain for the node's Ethereum key, as `GetKey(path, NODE_KEY_PURPOSE)` returns it:
    /// the app key signed the derived key for {NODE_KEY_PURPOSE}, and the KMS root signed the app key for this app.
    /// @param derivedPublicKey The node's public key, 33 bytes compressed (its address is the node's).
    /// @param appPublicKey The app's public key, 33 bytes compressed (the key `appSignature` recovers to).
    /// @param appSignature `sig0`, 65 bytes `r ‖ s ‖ v` with v in {0, 1}.
    /// @param kmsSignature `kmsSig`, 65 bytes `r ‖ s ‖ v` with v in {0, 1}.
    struct KeyChain {
        bytes derivedPublicKey;
        bytes appPublicKey;
        bytes appSignature;
        bytes kmsSignature;
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
    /// `AttestationExpired`: its last attestation is older than {ATTESTATION_PERIOD} (anyone may remove it).
    enum EvictionCause {
        Left,
        NoLongerAllowed,
        RemovedByOwner,
        AttestationExpired
    }

    /// @notice One node as auditors and agents read it.
    /// @param status Where the node stands.
    /// @param registeredAt When it registered (block timestamp); zero if never.
    /// @param sponsor The member that signed its onboarding; zero for the genesis member and for non-members.
    /// @param joinedAt When it became a member; zero if never.
    /// @param evictedAt When it stopped being a member; zero if it did not.
    /// @param attestedAt When its last attestation (its registration or its last refresh) was submitted.
    /// @param refreshes How many times it refreshed its attestation: the `nonce` its next refresh signs.
    /// @param quoteHash `keccak256` of its last TDX quote (the quote and event log are in {NodeRegistered} or
    /// {AttestationRefreshed}).
    /// @param encryptionPublicKey The key the shared secret is encrypted to (33-byte compressed secp256k1 for the
    /// reference agent).
    /// @param bootInfo Its boot info, with the TCB status and advisories of its last attestation; re-checked against
    /// the app's policy at onboarding and eviction.
    struct NodeRecord {
        NodeStatus status;
        uint64 registeredAt;
        address sponsor;
        uint64 joinedAt;
        uint64 evictedAt;
        uint64 attestedAt;
        uint64 refreshes;
        bytes32 quoteHash;
        bytes encryptionPublicKey;
        IAppAuth.AppBootInfo bootInfo;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------------------

    /// @notice The registry was bound to dstack's KMS contract and the KMS root it published (at deployment).
    /// @param kms The KMS contract.
    /// @param kmsRoot The address of the KMS root key: every registered node's key chain ends in it.
    /// @param k256Pubkey The KMS root key as `kmsInfo()` published it.
    event KmsRootBound(IDstackKmsInfo indexed kms, address indexed kmsRoot, bytes k256Pubkey);

    /// @notice A node registered. Everything a member needs to verify it off-chain is here.
    /// @param node The node's in-TEE Ethereum address (it signed the registration; dstack's KMS issued its key).
    /// @param composeHash The compose hash it runs (also in `bootInfo`), indexed for filtering.
    /// @param quoteHash `keccak256(quote)`, as stored.
    /// @param encryptionPublicKey The key the shared secret is to be encrypted to.
    /// @param bootInfo Its boot info, which members hold to what its quote and event log measure.
    /// @param attestation The full TDX quote, whose `report_data` must bind `node` and `encryptionPublicKey`, and
    /// the event log that shows what was measured into RTMR3.
    /// @param keyChain The signature chain that the registry verified against the KMS root for this app.
    event NodeRegistered(
        address indexed node,
        bytes32 indexed composeHash,
        bytes32 indexed quoteHash,
        bytes encryptionPublicKey,
        IAppAuth.AppBootInfo bootInfo,
        Attestation attestation,
        KeyChain keyChain
    );

    /// @notice A node refreshed its attestation: a new quote, and the TCB status and advisories Intel's collateral
    /// gives it now.
    /// @param node The node.
    /// @param quoteHash `keccak256` of the new quote, as stored.
    /// @param nonce The refresh's number (its first refresh is 0).
    /// @param tcbStatus The TCB status it now reports (stored in its boot info).
    /// @param advisoryIds The advisories it now reports (stored in its boot info).
    /// @param attestation The new quote, whose `report_data` binds the node's keys as at registration, and its
    /// event log.
    /// @param allowed Whether the app's policy allows the refreshed boot info; if not, anyone may evict a member.
    /// @param reason The policy's reason when it does not allow it; empty otherwise.
    event AttestationRefreshed(
        address indexed node,
        bytes32 indexed quoteHash,
        uint64 nonce,
        string tcbStatus,
        string[] advisoryIds,
        Attestation attestation,
        bool allowed,
        string reason
    );

    /// @notice The first member was set by the app's owner.
    /// @param node The genesis member; its evidence is in its {NodeRegistered} event.
    /// @param setBy The app's owner at that moment.
    event GenesisSet(address indexed node, address indexed setBy);

    /// @notice A registered node became a member.
    /// @param node The new member.
    /// @param sponsor The member that signed the onboarding.
    /// @param quoteHash The quote hash the sponsor signed for (the node's last attestation).
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

    /// @notice The KMS address given at deployment publishes no KMS root: no code, no `kmsInfo()`, or an empty key.
    error RegistryKmsInvalid(address kms);

    /// @notice The node is already registered (or was a member): registration is one-shot per address.
    error RegistryNodeAlreadyRegistered(address node, NodeStatus status);

    /// @notice The registration (or refresh) was not signed by the node it names.
    error RegistrySignerMismatch(address node, address signer);

    /// @notice The boot info names another app than the one this registry serves.
    error RegistryAppIdMismatch(address appId, address expected);

    /// @notice The encryption public key is empty or longer than the registry accepts.
    error RegistryEncryptionKeyLengthInvalid(uint256 length, uint256 maxLength);

    /// @notice A registration (or refresh) needs a quote.
    error RegistryQuoteEmpty(address node);

    /// @notice The key chain is valid, but for another key than the node's: dstack's KMS did not issue the node's
    /// key to this app.
    /// @param node The node that registers.
    /// @param derivedKey The key the chain is for.
    error RegistryNodeKeyNotKmsIssued(address node, address derivedKey);

    /// @notice The app's policy does not allow the node's boot info.
    error RegistryBootInfoNotAllowed(address node, string reason);

    /// @notice The node's last attestation is older than {ATTESTATION_PERIOD}: it must refresh it first.
    error RegistryAttestationExpired(address node, uint64 attestedAt, uint64 expiredAt);

    /// @notice Only a registered node or a member can refresh its attestation.
    error RegistryNodeCannotRefresh(address node, NodeStatus status);

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

    /// @notice The member that signed the onboarding has not refreshed its attestation within {ATTESTATION_PERIOD}.
    error RegistrySponsorAttestationExpired(address sponsor, uint64 attestedAt, uint64 expiredAt);

    /// @notice Only the app's owner (the owner of the policy contract) may do this.
    error RegistryCallerNotAppAuthOwner(address caller, address owner);

    /// @notice The genesis member was set already; it can be set only once.
    error RegistryGenesisAlreadySet(address genesis);

    /// @notice The node is not a member.
    error RegistryNodeNotMember(address node, NodeStatus status);

    /// @notice The member is still allowed and attested, and the caller is neither the member nor the app's owner.
    error RegistryEvictionUnauthorized(address node, address caller);

    // ---------------------------------------------------------------------------------------------------------
    // Operations
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Register a node, with its own signature and dstack's chain for its key; anyone may submit it.
    function register(
        address node,
        bytes calldata encryptionPublicKey,
        IAppAuth.AppBootInfo calldata bootInfo,
        Attestation calldata attestation,
        KeyChain calldata keyChain,
        bytes calldata nodeSignature
    ) external;

    /// @notice Record a node's fresh quote and the TCB status and advisories it now has, with its own signature;
    /// anyone may submit it.
    function refreshAttestation(
        address node,
        Attestation calldata attestation,
        string calldata tcbStatus,
        string[] calldata advisoryIds,
        bytes calldata nodeSignature
    ) external;

    /// @notice Make a registered node the first member. Once, by the app's owner.
    function setGenesis(address node) external;

    /// @notice Make a registered node a member, with a member's signature over the encrypted secret; anyone may
    /// submit it.
    function onboard(address node, bytes calldata ciphertext, bytes calldata memberSignature) external;

    /// @notice Remove a member: itself; anyone when the policy no longer allows it or its attestation expired; or
    /// the app's owner.
    function evict(address node) external;

    // ---------------------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------------------

    /// @notice The `GetKey` purpose of a node's Ethereum key: the purpose its key chain's `sig0` signs.
    // solhint-disable-next-line func-name-mixedcase
    function NODE_KEY_PURPOSE() external view returns (string memory);

    /// @notice How long an attestation counts: a node whose last attestation is older may not be onboarded nor
    /// onboard anyone, and anyone may evict such a member.
    // solhint-disable-next-line func-name-mixedcase
    function ATTESTATION_PERIOD() external view returns (uint64);

    /// @notice The app policy this registry is bound to (also the app id).
    function appAuth() external view returns (IAppAuth);

    /// @notice dstack's KMS contract this registry is bound to.
    function kms() external view returns (IDstackKmsInfo);

    /// @notice The address of the KMS root key that `kms().kmsInfo()` published at deployment: every registered
    /// node's key chain ends in it.
    function kmsRoot() external view returns (address);

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

    /// @notice When `node`'s last attestation stops counting (`attestedAt + ATTESTATION_PERIOD`); zero for a node
    /// that never registered. From that moment on anyone may {evict} it if it is a member.
    function attestationExpiresAt(address node) external view returns (uint64);

    /// @notice The EIP-712 digest a node signs to register.
    function registrationDigest(
        address node,
        bytes calldata encryptionPublicKey,
        IAppAuth.AppBootInfo calldata bootInfo,
        Attestation calldata attestation
    ) external view returns (bytes32);

    /// @notice The EIP-712 digest `node` signs for its next refresh (its `nonce` is its stored `refreshes`).
    function refreshDigest(
        address node,
        Attestation calldata attestation,
        string calldata tcbStatus,
        string[] calldata advisoryIds
    ) external view returns (bytes32);

    /// @notice The EIP-712 digest a member signs to onboard `node`.
    function onboardingDigest(address node, bytes32 quoteHash, bytes calldata ciphertext)
        external
        view
        returns (bytes32);
}
