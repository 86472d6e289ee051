// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReplicationRegistry} from "../../../contracts/ReplicationRegistry.sol";
import {TimelockedAppAuth} from "../../../contracts/TimelockedAppAuth.sol";
import {IAppAuth} from "../../../contracts/interfaces/IAppAuth.sol";
import {IDstackKmsInfo} from "../../../contracts/interfaces/IDstackKmsInfo.sol";
import {IReplicationRegistry} from "../../../contracts/interfaces/IReplicationRegistry.sol";
import {DstackSignatureChain} from "../../../contracts/lib/DstackSignatureChain.sol";
import {KmsStandIn} from "../../../contracts/reference/KmsStandIn.sol";

import {KeyTable} from "./KeyTable.sol";

/// @notice A policy, a stand-in dstack KMS, boot infos, key chains and signed registrations for the
/// ReplicationRegistry Solidity tests. Keys come from {KeyTable}: nodes use indices below {NODE_KEYS}; the KMS root,
/// a rogue KMS root and the app key use the indices above.
abstract contract RegistrySetup is KeyTable {
    bytes32 internal constant COMPOSE_A = keccak256("compose A");
    bytes32 internal constant COMPOSE_B = keccak256("compose B");
    bytes32 internal constant COMPOSE_X = keccak256("compose X, never allowed");
    bytes32 internal constant DEVICE_1 = keccak256("device 1");
    bytes32 internal constant DEVICE_2 = keccak256("device 2");
    bytes32 internal constant DEVICE_X = keccak256("device X, never allowed");
    uint256 internal constant NOTICE = 1 hours;

    /// @dev Table indices: nodes' keys are 0 .. NODE_KEYS - 1.
    uint256 internal constant NODE_KEYS = 20;
    uint256 internal constant KMS_ROOT = 20;
    uint256 internal constant ROGUE_KMS_ROOT = 21;
    uint256 internal constant APP_KEY = 22;

    string internal constant PURPOSE = "dstack-devproof/replication/node-key";

    /// @dev Allows compose A on devices 1 and 2 with an up-to-date TCB; compose B is proposed (activate after
    /// {NOTICE}).
    function _deployAppAuth(address owner) internal returns (TimelockedAppAuth appAuth) {
        bytes32[] memory devices = new bytes32[](2);
        devices[0] = DEVICE_1;
        devices[1] = DEVICE_2;
        appAuth = new TimelockedAppAuth(owner, NOTICE, COMPOSE_A, "https://example.org/a.json", devices, false, true);
    }

    /// @dev A stand-in dstack KMS whose `kmsInfo()` publishes the table key `rootIndex` as its root.
    function _deployKms(uint256 rootIndex) internal returns (KmsStandIn kms) {
        kms = new KmsStandIn(address(this));
        kms.setKmsInfo(
            KmsStandIn.KmsInfo({
                k256Pubkey: _tablePublicKey(rootIndex),
                caPubkey: hex"3059301306072a8648ce3d020106082a8648ce3d030107034200",
                quote: "",
                eventlog: ""
            })
        );
    }

    /// @dev A registry bound to `appAuth` and a fresh stand-in KMS whose root is {KMS_ROOT}.
    function _deployRegistry(TimelockedAppAuth appAuth) internal returns (ReplicationRegistry) {
        return new ReplicationRegistry(appAuth, IDstackKmsInfo(address(_deployKms(KMS_ROOT))));
    }

    function _nodeAt(uint256 index) internal pure returns (address) {
        return vm.addr(_tableKey(index));
    }

    function _bootInfo(address appId, bytes32 composeHash, bytes32 deviceId, bool upToDate)
        internal
        pure
        returns (IAppAuth.AppBootInfo memory info)
    {
        string[] memory advisoryIds = new string[](1);
        advisoryIds[0] = "INTEL-SA-00837";
        info = IAppAuth.AppBootInfo({
            appId: appId,
            composeHash: composeHash,
            instanceId: address(uint160(uint256(keccak256(abi.encode(composeHash, deviceId))))),
            deviceId: deviceId,
            mrAggregated: keccak256("mrAggregated"),
            mrSystem: keccak256("mrSystem"),
            osImageHash: keccak256("os image"),
            tcbStatus: upToDate ? "UpToDate" : "OutOfDate",
            advisoryIds: advisoryIds
        });
    }

    /// @dev dstack's chain for the table key `nodeIndex`: the app key ({APP_KEY}) signs it for `purpose`, and the
    /// table key `rootIndex` signs the app key for `appId`.
    function _keyChain(address appId, uint256 nodeIndex, uint256 rootIndex, string memory purpose)
        internal
        pure
        returns (IReplicationRegistry.KeyChain memory)
    {
        bytes memory derived = _tablePublicKey(nodeIndex);
        bytes memory appPublicKey = _tablePublicKey(APP_KEY);
        return IReplicationRegistry.KeyChain({
            derivedPublicKey: derived,
            appPublicKey: appPublicKey,
            appSignature: _dstackSignature(_tableKey(APP_KEY), DstackSignatureChain.appKeyDigest(purpose, derived)),
            kmsSignature: _dstackSignature(
                _tableKey(rootIndex), DstackSignatureChain.kmsIssuedDigest(appId, appPublicKey)
            )
        });
    }

    /// @dev The genuine chain of `nodeIndex`'s key on `registry`: the registry's app, its KMS root, the protocol's
    /// purpose.
    function _genuineChain(ReplicationRegistry registry, uint256 nodeIndex)
        internal
        view
        returns (IReplicationRegistry.KeyChain memory)
    {
        return _keyChain(address(registry.appAuth()), nodeIndex, KMS_ROOT, PURPOSE);
    }

    /// @dev A stand-in 33-byte compressed public key for `node`.
    function _encryptionKey(address node) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes1(0x02), keccak256(abi.encode("encryption key", node)));
    }

    function _attestation(address node) internal pure returns (IReplicationRegistry.Attestation memory) {
        return IReplicationRegistry.Attestation({quote: abi.encodePacked("TDX quote of ", node), eventLog: ""});
    }

    /// @dev Registers the node of table key `index` with `info`, signed by that key, with its genuine chain.
    function _register(ReplicationRegistry registry, uint256 index, IAppAuth.AppBootInfo memory info)
        internal
        returns (address node)
    {
        node = _nodeAt(index);
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory encryptionKey = _encryptionKey(node);
        bytes32 digest = registry.registrationDigest(node, encryptionKey, info, attestation);
        registry.register(
            node, encryptionKey, info, attestation, _genuineChain(registry, index), signature(_tableKey(index), digest)
        );
    }

    /// @dev The node of table key `index` refreshes its attestation with a new quote and `upToDate` or not.
    function _refresh(ReplicationRegistry registry, uint256 index, bool upToDate, bytes memory quoteLabel) internal {
        address node = _nodeAt(index);
        IReplicationRegistry.Attestation memory attestation =
            IReplicationRegistry.Attestation({quote: abi.encodePacked("TDX quote of ", node, quoteLabel), eventLog: ""});
        string memory tcbStatus = upToDate ? "UpToDate" : "OutOfDate";
        string[] memory advisoryIds = new string[](0);
        bytes32 digest = registry.refreshDigest(node, attestation, tcbStatus, advisoryIds);
        registry.refreshAttestation(node, attestation, tcbStatus, advisoryIds, signature(_tableKey(index), digest));
    }

    /// @dev The onboarding signature of the member with table key `memberIndex` for `node` on `registry`.
    function _onboardingSignature(
        ReplicationRegistry registry,
        uint256 memberIndex,
        address node,
        bytes memory ciphertext
    ) internal view returns (bytes memory) {
        bytes32 quoteHash = registry.getNode(node).quoteHash;
        return signature(_tableKey(memberIndex), registry.onboardingDigest(node, quoteHash, ciphertext));
    }
}
