// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReplicationRegistry} from "../../../contracts/ReplicationRegistry.sol";
import {TimelockedAppAuth} from "../../../contracts/TimelockedAppAuth.sol";
import {IAppAuth} from "../../../contracts/interfaces/IAppAuth.sol";
import {IReplicationRegistry} from "../../../contracts/interfaces/IReplicationRegistry.sol";

import {TestBase} from "./Test.sol";

/// @notice A policy, boot infos and signed registrations for the ReplicationRegistry Solidity tests.
abstract contract RegistrySetup is TestBase {
    bytes32 internal constant COMPOSE_A = keccak256("compose A");
    bytes32 internal constant COMPOSE_B = keccak256("compose B");
    bytes32 internal constant COMPOSE_X = keccak256("compose X, never allowed");
    bytes32 internal constant DEVICE_1 = keccak256("device 1");
    bytes32 internal constant DEVICE_2 = keccak256("device 2");
    bytes32 internal constant DEVICE_X = keccak256("device X, never allowed");
    uint256 internal constant NOTICE = 1 hours;

    /// @dev Allows compose A on devices 1 and 2 with an up-to-date TCB; compose B is proposed (activate after
    /// {NOTICE}).
    function _deployAppAuth(address owner) internal returns (TimelockedAppAuth appAuth) {
        bytes32[] memory devices = new bytes32[](2);
        devices[0] = DEVICE_1;
        devices[1] = DEVICE_2;
        appAuth = new TimelockedAppAuth(owner, NOTICE, COMPOSE_A, "https://example.org/a.json", devices, false, true);
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

    /// @dev A stand-in 33-byte compressed public key for `node`.
    function _encryptionKey(address node) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes1(0x02), keccak256(abi.encode("encryption key", node)));
    }

    function _attestation(address node) internal pure returns (IReplicationRegistry.Attestation memory) {
        return IReplicationRegistry.Attestation({quote: abi.encodePacked("TDX quote of ", node), eventLog: ""});
    }

    /// @dev Registers the node of `key` with `info`, signed by that key, on `registry`.
    function _register(ReplicationRegistry registry, uint256 key, IAppAuth.AppBootInfo memory info)
        internal
        returns (address node)
    {
        node = vm.addr(key);
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory encryptionKey = _encryptionKey(node);
        bytes32 digest = registry.registrationDigest(node, encryptionKey, info, attestation);
        registry.register(node, encryptionKey, info, attestation, signature(key, digest));
    }

    /// @dev The onboarding signature of `memberKey` for `node` on `registry`.
    function _onboardingSignature(
        ReplicationRegistry registry,
        uint256 memberKey,
        address node,
        bytes memory ciphertext
    ) internal view returns (bytes memory) {
        bytes32 quoteHash = registry.getNode(node).quoteHash;
        return signature(memberKey, registry.onboardingDigest(node, quoteHash, ciphertext));
    }
}
