// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ERC165Checker} from "@openzeppelin/contracts/utils/introspection/ERC165Checker.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {IAppAuth} from "./interfaces/IAppAuth.sol";
import {IDstackKmsInfo} from "./interfaces/IDstackKmsInfo.sol";
import {IReplicationRegistry} from "./interfaces/IReplicationRegistry.sol";
import {ITimelockedAppAuth} from "./interfaces/ITimelockedAppAuth.sol";
import {DstackSignatureChain} from "./lib/DstackSignatureChain.sol";

/// @title ReplicationRegistry
/// @notice Which TDX nodes of one dstack app hold the app's shared secret. A node joins only when a current member
/// hands it the secret, encrypted to a key its TDX quote binds, and only while the app's policy allows the node.
/// @dev Threat model: the app's developer (the owner of the bound {TimelockedAppAuth}) must not be able to obtain
/// the shared secret, and neither may the hosts that run the nodes and pay their gas. Trusted: Intel (TDX, DCAP),
/// dstack's KMS and the owner of its contract, the chain. So:
/// - A node is admitted only on evidence that dstack's genuine KMS would accept for this app. On-chain: its
///   Ethereum key must be one the KMS issued to this app — dstack's key signature chain, verified in {register}
///   against the KMS root bound at deployment, must end in the node's address. The KMS releases an app's key only
///   to a CVM whose boot it measured itself and the app's policy allowed (OS image, compose hash, device, TCB), so
///   a custom OS, a rogue KMS or another app's CVM has no such key. Off-chain, before they sign, members verify the
///   rest (DCAP signature and collateral, `report_data` binding of both keys, the boot info the quote and its event
///   log measure, the key provider naming this KMS). The genesis member is held to the same evidence: only a
///   registered node, whose chain passed, can be picked.
/// - Membership only grows by a signature of a current member's in-TEE key ({onboard}); the owner cannot add a
///   member, only pick the genesis once ({setGenesis}).
/// - A member's platform is re-judged: it refreshes its attestation ({refreshAttestation}) with the TCB status and
///   advisories Intel's current collateral gives its quote, at least every {ATTESTATION_PERIOD}. Its stored boot
///   info then carries the new TCB, which the policy is asked about; a member whose last attestation is older than
///   the period, or whose refreshed boot info the policy denies, onboards nobody and can be evicted by anyone.
/// - Widening the policy waits the AppAuth's notice period, so new code cannot be onboarded before users can
///   react; narrowing it (and the owner's {evict}) is instant, so a revoked node is removed at once. Eviction
///   cannot take back a secret already held: it stops the node from onboarding others and tells agents to stop
///   trusting it; rotating the secret is the app's business.
/// - Hosts can delay or withhold submissions (anyone may submit, so any one honest relayer defeats censorship)
///   but cannot alter them: every message is signed by the key it speaks for.
///
/// Design decisions:
/// - Bound for life (immutable) to one policy, whose address must be the `appId` of every boot info and is the app
///   id every key chain is checked for, and to one dstack KMS contract.
/// - The KMS root is read once, at deployment (`kmsInfo().k256Pubkey`), and never followed afterwards. Reading it in
///   every {register} would copy the KMS's whole `kmsInfo` (its quote and event log too) out of storage. And dstack
///   derives every app key from the root, so a new root means every app's keys, and sealed data, change: a new KMS,
///   to which a registry moves by a new, public deployment. Not following also means the KMS contract's owner cannot
///   swap the root under existing members: a changed `kmsInfo` makes new registrations revert (their chains lead to
///   another root), and agents report it.
/// - The node's encryption key has no chain of its own: the node's quote binds it (`report_data`), and the node's
///   registration signature, made with the KMS-issued key, covers it. Only code the KMS gave this app's key can
///   make that signature.
/// - One registration per node address, ever: re-registering reverts (a node that reboots makes new keys), which
///   makes the registration signature single-use. A refresh signs the node's refresh count (`nonce`), and an
///   onboarding names the node and its last quote hash, so neither can succeed twice. The EIP-712 domain binds the
///   chain and this contract.
/// - A refresh is recorded even when the policy denies the refreshed boot info: the TCB status a member's platform
///   now has is a fact to publish; the denial makes it evictable at once.
/// - Genesis by a one-shot call of the policy's owner (not a constructor argument): the genesis node must sign
///   its registration for this contract's address, which does not exist before deployment. If every member
///   leaves, the registry is dead for good; a new one is a new, public deployment.
/// - The full quote, the event log (self-authenticating: it must replay to the quote's RTMR3), the key chain and the
///   ciphertext live in events; storage keeps the quote's hash and the boot info needed to re-check the policy.
///   Every operation is O(1) in the number of members.
// EIP-712 type strings are longer than 32 bytes by nature.
// solhint-disable gas-small-strings
contract ReplicationRegistry is IReplicationRegistry, EIP712 {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @inheritdoc IReplicationRegistry
    string public constant NODE_KEY_PURPOSE = "dstack-devproof/replication/node-key";

    /// @inheritdoc IReplicationRegistry
    /// @dev 30 days: Intel publishes TCB info for a month at a time (its `nextUpdate`), so a platform that falls out
    /// of date is re-judged within about one collateral cycle; agents refresh well before (see guest/README.md).
    uint64 public constant ATTESTATION_PERIOD = 30 days;

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

    /// @notice EIP-712 type a node signs to refresh its attestation.
    bytes32 public constant ATTESTATION_REFRESH_TYPEHASH = keccak256(
        "AttestationRefresh(address node,uint64 nonce,bytes quote,bytes eventLog,string tcbStatus,"
        "string[] advisoryIds)"
    );

    /// @notice EIP-712 type a member signs to onboard a node.
    bytes32 public constant ONBOARDING_TYPEHASH =
        keccak256("Onboarding(address node,bytes32 quoteHash,bytes ciphertext)");

    /// @notice The longest encryption public key accepted, in bytes (room for any elliptic-curve encoding).
    uint256 public constant MAX_ENCRYPTION_KEY_LENGTH = 128;

    IAppAuth private immutable _appAuth;
    IDstackKmsInfo private immutable _kms;
    address private immutable _kmsRoot;
    address private _genesis;
    mapping(address node => NodeRecord record) private _nodes;
    EnumerableSet.AddressSet private _members;

    /// @notice Binds the registry to one app's policy and to dstack's KMS for life, and reads the KMS root once.
    /// @dev Emits {KmsRootBound}.
    /// @param appAuth_ The app's policy (its `TimelockedAppAuth`); its address is the app id.
    /// @param kms_ dstack's KMS contract the app is registered with (`DstackKms`).
    ///
    /// Requirements:
    /// - `appAuth_` answers ERC-165 `supportsInterface` for `ITimelockedAppAuth` with true;
    /// - `kms_` is a contract whose `kmsInfo()` answers with a `k256Pubkey` that is a secp256k1 public key.
    constructor(IAppAuth appAuth_, IDstackKmsInfo kms_) EIP712("ReplicationRegistry", "2") {
        // Only a timelocked policy: bound to an instantly changeable one, the registry would hand the secret to
        // whatever code its owner allowed a minute ago, and the DevProof guarantee would be gone.
        if (!ERC165Checker.supportsInterface(address(appAuth_), type(ITimelockedAppAuth).interfaceId)) {
            revert RegistryAppAuthInvalid(address(appAuth_));
        }
        if (address(kms_).code.length == 0) revert RegistryKmsInvalid(address(kms_));
        bytes memory k256Pubkey;
        try kms_.kmsInfo() returns (bytes memory rootKey, bytes memory, bytes memory, bytes memory) {
            k256Pubkey = rootKey;
        } catch {
            revert RegistryKmsInvalid(address(kms_));
        }
        if (k256Pubkey.length == 0) revert RegistryKmsInvalid(address(kms_));
        address root = DstackSignatureChain.publicKeyAddress(k256Pubkey);
        _appAuth = appAuth_;
        _kms = kms_;
        _kmsRoot = root;
        emit KmsRootBound(kms_, root, k256Pubkey);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Operations
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Register `node`, with its own EIP-712 signature over its key, boot info, quote and event log, and
    /// dstack's signature chain for its key. Anyone may submit it (the host pays the gas).
    /// @dev Emits {NodeRegistered}.
    ///
    /// Requirements:
    /// - `node` has never registered;
    /// - `bootInfo.appId` is the policy's address;
    /// - `encryptionPublicKey` is 1 to {MAX_ENCRYPTION_KEY_LENGTH} bytes; `attestation.quote` is non-empty;
    /// - `nodeSignature` is `node`'s signature of the `Registration` struct;
    /// - `keyChain` is dstack's chain for `node`'s key: the app key signed it for {NODE_KEY_PURPOSE}, and the KMS
    ///   root bound at deployment signed the app key for this app (reverts with `DstackSignatureChain`'s errors, or
    ///   {RegistryNodeKeyNotKmsIssued} when the chain is for another key);
    /// - the policy allows `bootInfo` now.
    function register(
        address node,
        bytes calldata encryptionPublicKey,
        IAppAuth.AppBootInfo calldata bootInfo,
        Attestation calldata attestation,
        KeyChain calldata keyChain,
        bytes calldata nodeSignature
    ) external {
        bytes32 quoteHash = _checkRegistration(node, encryptionPublicKey, bootInfo, attestation, nodeSignature);
        _checkKeyChain(node, keyChain);
        (bool allowed, string memory reason) = _appAuth.isAppAllowed(bootInfo);
        if (!allowed) revert RegistryBootInfoNotAllowed(node, reason);

        NodeRecord storage record = _nodes[node];
        record.status = NodeStatus.Registered;
        record.registeredAt = uint64(block.timestamp);
        record.attestedAt = uint64(block.timestamp);
        record.quoteHash = quoteHash;
        record.encryptionPublicKey = encryptionPublicKey;
        record.bootInfo = bootInfo;
        emit NodeRegistered(
            node, bootInfo.composeHash, quoteHash, encryptionPublicKey, bootInfo, attestation, keyChain
        );
    }

    /// @notice Record `node`'s fresh quote and the TCB status and advisories Intel's collateral now gives it, with
    /// the node's own EIP-712 signature. Anyone may submit it. Its boot info keeps every other field: members hold
    /// the new quote to the same measured boot.
    /// @dev Emits {AttestationRefreshed}, with whether the policy allows the refreshed boot info (recorded either
    /// way; a member it denies may be evicted by anyone).
    ///
    /// Requirements:
    /// - `node` is registered or a member;
    /// - `attestation.quote` is non-empty;
    /// - `nodeSignature` is `node`'s signature of the `AttestationRefresh` struct with `nonce` its refresh count.
    function refreshAttestation(
        address node,
        Attestation calldata attestation,
        string calldata tcbStatus,
        string[] calldata advisoryIds,
        bytes calldata nodeSignature
    ) external {
        (NodeRecord storage record, uint64 nonce) =
            _checkRefresh(node, attestation, tcbStatus, advisoryIds, nodeSignature);
        bytes32 quoteHash = keccak256(attestation.quote);
        record.refreshes = nonce + 1;
        record.attestedAt = uint64(block.timestamp);
        record.quoteHash = quoteHash;
        record.bootInfo.tcbStatus = tcbStatus;
        // Element by element: the legacy code generator cannot copy a calldata `string[]` to storage at once.
        delete record.bootInfo.advisoryIds;
        for (uint256 i = 0; i < advisoryIds.length; ++i) {
            record.bootInfo.advisoryIds.push(advisoryIds[i]);
        }
        _emitRefreshed(node, quoteHash, nonce, attestation, record.bootInfo);
    }

    /// @notice Make the registered `node` the first member. It then holds (generates) the shared secret.
    /// @dev Emits {GenesisSet}. Only a registered node can be picked, and registering takes a key chain to the KMS
    /// root for this app: the owner cannot make an address without KMS-issued keys the genesis member.
    ///
    /// Requirements:
    /// - the caller is the policy's owner;
    /// - no genesis was ever set;
    /// - `node` is registered, its last attestation is younger than {ATTESTATION_PERIOD}, and the policy allows its
    ///   boot info now.
    function setGenesis(address node) external {
        address owner = _appAuthOwner();
        if (msg.sender != owner) revert RegistryCallerNotAppAuthOwner(msg.sender, owner);
        if (_genesis != address(0)) revert RegistryGenesisAlreadySet(_genesis);
        NodeRecord storage record = _requireRegistered(node);
        _requireAttested(node, record);
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
    /// - `memberSignature` signs the `Onboarding` struct for `node`, its last quote hash and `ciphertext`, and its
    ///   signer is a member whose last attestation is younger than {ATTESTATION_PERIOD} and whose boot info the
    ///   policy still allows;
    /// - `node`'s last attestation is younger than {ATTESTATION_PERIOD} and the policy allows its boot info now.
    function onboard(address node, bytes calldata ciphertext, bytes calldata memberSignature) external {
        NodeRecord storage record = _requireRegistered(node);
        if (ciphertext.length == 0) revert RegistryCiphertextEmpty(node);

        bytes32 quoteHash = record.quoteHash;
        address sponsor = ECDSA.recoverCalldata(_onboardingDigest(node, quoteHash, ciphertext), memberSignature);
        if (!_members.contains(sponsor)) revert RegistrySignerNotMember(sponsor);
        NodeRecord storage sponsorRecord = _nodes[sponsor];
        uint64 sponsorExpiry = sponsorRecord.attestedAt + ATTESTATION_PERIOD;
        if (block.timestamp >= sponsorExpiry) {
            revert RegistrySponsorAttestationExpired(sponsor, sponsorRecord.attestedAt, sponsorExpiry);
        }
        (bool sponsorAllowed, string memory sponsorReason) = _appAuth.isAppAllowed(sponsorRecord.bootInfo);
        if (!sponsorAllowed) revert RegistrySponsorNotAllowed(sponsor, sponsorReason);
        _requireAttested(node, record);
        _requireAllowed(node, record);

        _admit(node, record, sponsor);
        emit NodeOnboarded(node, sponsor, quoteHash, ciphertext);
    }

    /// @notice Remove the member `node`: a member may leave; anyone may remove a member whose boot info the policy
    /// no longer allows or whose last attestation is older than {ATTESTATION_PERIOD}; the policy's owner may remove
    /// any member (narrowing, so instant).
    /// @dev Emits {MemberEvicted}, with the first ground that applies in that order. Eviction is final: the address
    /// can never register or join again.
    ///
    /// Requirements:
    /// - `node` is a member;
    /// - the caller is `node`, or the policy denies `node`'s boot info, or its attestation expired, or the caller is
    ///   the policy's owner.
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
            } else if (block.timestamp >= record.attestedAt + ATTESTATION_PERIOD) {
                cause = EvictionCause.AttestationExpired;
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
    function kms() external view returns (IDstackKmsInfo) {
        return _kms;
    }

    /// @inheritdoc IReplicationRegistry
    function kmsRoot() external view returns (address) {
        return _kmsRoot;
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
    function attestationExpiresAt(address node) external view returns (uint64) {
        NodeRecord storage record = _nodes[node];
        return record.status == NodeStatus.None ? 0 : record.attestedAt + ATTESTATION_PERIOD;
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
    function refreshDigest(
        address node,
        Attestation calldata attestation,
        string calldata tcbStatus,
        string[] calldata advisoryIds
    ) external view returns (bytes32) {
        return _refreshDigest(node, _nodes[node].refreshes, attestation, tcbStatus, advisoryIds);
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

    /// @dev The checks of {register} before the key chain, in its documented order; returns the quote's hash.
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
    }

    /// @dev Reverts unless `keyChain` proves that the KMS root issued `node`'s key to this app for
    /// {NODE_KEY_PURPOSE}.
    function _checkKeyChain(address node, KeyChain calldata keyChain) private view {
        DstackSignatureChain.KeyChain memory chain = DstackSignatureChain.KeyChain({
            purpose: NODE_KEY_PURPOSE,
            derivedPublicKey: keyChain.derivedPublicKey,
            appPublicKey: keyChain.appPublicKey,
            appSignature: keyChain.appSignature,
            kmsSignature: keyChain.kmsSignature
        });
        address derivedKey = DstackSignatureChain.verify(chain, address(_appAuth), _kmsRoot);
        if (derivedKey != node) revert RegistryNodeKeyNotKmsIssued(node, derivedKey);
    }

    /// @dev The checks of {refreshAttestation}, in its documented order; returns the node's record and the
    /// refresh's nonce.
    function _checkRefresh(
        address node,
        Attestation calldata attestation,
        string calldata tcbStatus,
        string[] calldata advisoryIds,
        bytes calldata nodeSignature
    ) private view returns (NodeRecord storage record, uint64 nonce) {
        record = _nodes[node];
        if (record.status != NodeStatus.Registered && record.status != NodeStatus.Member) {
            revert RegistryNodeCannotRefresh(node, record.status);
        }
        if (attestation.quote.length == 0) revert RegistryQuoteEmpty(node);
        nonce = record.refreshes;
        address signer = ECDSA.recoverCalldata(
            _refreshDigest(node, nonce, attestation, tcbStatus, advisoryIds), nodeSignature
        );
        if (signer != node) revert RegistrySignerMismatch(node, signer);
    }

    /// @dev Emits {AttestationRefreshed} with the stored (refreshed) TCB and the policy's verdict on the boot info.
    function _emitRefreshed(
        address node,
        bytes32 quoteHash,
        uint64 nonce,
        Attestation calldata attestation,
        IAppAuth.AppBootInfo storage bootInfo
    ) private {
        (bool allowed, string memory reason) = _appAuth.isAppAllowed(bootInfo);
        emit AttestationRefreshed(
            node, quoteHash, nonce, bootInfo.tcbStatus, bootInfo.advisoryIds, attestation, allowed, reason
        );
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

    function _requireAttested(address node, NodeRecord storage record) private view {
        uint64 expiry = record.attestedAt + ATTESTATION_PERIOD;
        if (block.timestamp >= expiry) revert RegistryAttestationExpired(node, record.attestedAt, expiry);
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

    function _refreshDigest(
        address node,
        uint64 nonce,
        Attestation calldata attestation,
        string calldata tcbStatus,
        string[] calldata advisoryIds
    ) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    ATTESTATION_REFRESH_TYPEHASH,
                    node,
                    nonce,
                    keccak256(attestation.quote),
                    keccak256(attestation.eventLog),
                    keccak256(bytes(tcbStatus)),
                    _hashStrings(advisoryIds)
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
            _hashStrings(bootInfo.advisoryIds)
        );
        return keccak256(bytes.concat(head, tail));
    }

    /// @dev EIP-712 encoding of a `string[]`: the hash of the concatenated hashes of its elements.
    function _hashStrings(string[] calldata values) private pure returns (bytes32) {
        uint256 count = values.length;
        bytes32[] memory hashes = new bytes32[](count);
        for (uint256 i = 0; i < count; ++i) {
            hashes[i] = keccak256(bytes(values[i]));
        }
        return keccak256(abi.encodePacked(hashes));
    }
}
