// SPDX-License-Identifier: MIT
// Test-suite conventions: Foundry test names, descriptive messages.
// solhint-disable func-name-mixedcase, gas-small-strings

pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {ReplicationRegistry} from "../../contracts/ReplicationRegistry.sol";
import {TimelockedAppAuth} from "../../contracts/TimelockedAppAuth.sol";
import {IAppAuth} from "../../contracts/interfaces/IAppAuth.sol";
import {IReplicationRegistry} from "../../contracts/interfaces/IReplicationRegistry.sol";

import {RegistrySetup} from "./utils/RegistrySetup.sol";
import {Test} from "./utils/Test.sol";

/// @notice Who may publish the app's TLS key ({ReplicationRegistry.setTlsKey}): only the genesis member's in-TEE key,
/// only while it is a member whose attestation counts and whose boot info the policy allows, each signature once,
/// for this registry only; anyone may submit it, and every change is a {TlsKeySet} event.
contract ReplicationRegistryTlsKeyTest is Test, RegistrySetup {
    uint256 private constant GENESIS = 0;
    bytes32 private constant KEY_1 = keccak256("SPKI of the app's TLS key");
    bytes32 private constant KEY_2 = keccak256("SPKI of another TLS key");

    TimelockedAppAuth private appAuth;
    ReplicationRegistry private registry;
    address private genesis;

    function setUp() public {
        appAuth = _deployAppAuth(address(this));
        registry = _deployRegistry(appAuth);
        genesis = _register(registry, GENESIS, _allowedInfo());
        registry.setGenesis(genesis);
    }

    function _allowedInfo() private view returns (IAppAuth.AppBootInfo memory) {
        return _bootInfo(address(appAuth), COMPOSE_A, DEVICE_1, true);
    }

    function _sign(uint256 index, ReplicationRegistry on, bytes32 spkiSha256) private view returns (bytes memory) {
        return signature(_tableKey(index), on.tlsKeyDigest(spkiSha256));
    }

    /// @dev The registry's digest is EIP-712's `TlsKey(bytes32 spkiSha256,uint64 nonce)` in its domain.
    function test_tlsKeyDigest_isTheEip712HashOfTheStructAtTheCurrentNonce() public view {
        assertEq(
            registry.TLS_KEY_TYPEHASH(), keccak256("TlsKey(bytes32 spkiSha256,uint64 nonce)"), "type hash"
        );
        (bytes32 key, uint64 nonce) = registry.tlsKey();
        assertEq(key, bytes32(0), "no key before the first publication");
        assertEq(uint256(nonce), 0, "nonce");
    }

    function test_setTlsKey_publishesTheKeyWithTheGenesisEvidenceAndCountsIt() public {
        bytes32 quoteHash = registry.getNode(genesis).quoteHash;
        bytes memory sig = _sign(GENESIS, registry, KEY_1);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IReplicationRegistry.TlsKeySet(KEY_1, genesis, quoteHash, 0, bytes32(0));
        vm.prank(makeAddr("any host"));
        registry.setTlsKey(KEY_1, sig);
        (bytes32 key, uint64 nonce) = registry.tlsKey();
        assertEq(key, KEY_1, "key");
        assertEq(uint256(nonce), 1, "nonce");

        // A change is an event naming the key it replaces.
        sig = _sign(GENESIS, registry, KEY_2);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IReplicationRegistry.TlsKeySet(KEY_2, genesis, quoteHash, 1, KEY_1);
        registry.setTlsKey(KEY_2, sig);
        (key,) = registry.tlsKey();
        assertEq(key, KEY_2, "changed");
    }

    function test_setTlsKey_revertsForAZeroKey() public {
        bytes memory sig = _sign(GENESIS, registry, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistryTlsKeyZero.selector));
        registry.setTlsKey(bytes32(0), sig);
    }

    function test_setTlsKey_revertsBeforeTheGenesisIsSet() public {
        ReplicationRegistry fresh = _deployRegistry(appAuth);
        _register(fresh, GENESIS, _allowedInfo());
        bytes memory sig = _sign(GENESIS, fresh, KEY_1);
        vm.expectRevert(
            abi.encodeWithSelector(IReplicationRegistry.RegistrySignerNotGenesis.selector, genesis, address(0))
        );
        fresh.setTlsKey(KEY_1, sig);
    }

    /// @dev Not even a member it onboarded: the TLS identity is the genesis member's to publish.
    function test_setTlsKey_revertsForAnotherMembersSignature() public {
        address member = _register(registry, 3, _allowedInfo());
        registry.onboard(member, "secret", _onboardingSignature(registry, GENESIS, member, "secret"));
        bytes memory sig = _sign(3, registry, KEY_1);
        vm.expectRevert(
            abi.encodeWithSelector(IReplicationRegistry.RegistrySignerNotGenesis.selector, member, genesis)
        );
        registry.setTlsKey(KEY_1, sig);
    }

    function test_setTlsKey_revertsOnceTheGenesisLeft() public {
        bytes memory sig = _sign(GENESIS, registry, KEY_1);
        vm.prank(genesis);
        registry.evict(genesis);
        vm.expectRevert(
            abi.encodeWithSelector(
                IReplicationRegistry.RegistryNodeNotMember.selector, genesis, IReplicationRegistry.NodeStatus.Evicted
            )
        );
        registry.setTlsKey(KEY_1, sig);
    }

    function test_setTlsKey_revertsWhenThePolicyNoLongerAllowsTheGenesis() public {
        bytes memory sig = _sign(GENESIS, registry, KEY_1);
        appAuth.removeComposeHash(COMPOSE_A);
        (, string memory reason) = registry.isNodeAllowed(genesis);
        vm.expectRevert(
            abi.encodeWithSelector(IReplicationRegistry.RegistryBootInfoNotAllowed.selector, genesis, reason)
        );
        registry.setTlsKey(KEY_1, sig);
    }

    // Fuzz --------------------------------------------------------------------------------------------------------

    /// @dev Any key, submitted by anyone: accepted once; the same signature again recovers another signer.
    function testFuzz_setTlsKey_acceptsTheGenesisSignatureOnce(bytes32 spkiSha256, address submitter) public {
        vm.assume(spkiSha256 != bytes32(0));
        bytes memory sig = _sign(GENESIS, registry, spkiSha256);
        vm.prank(submitter);
        registry.setTlsKey(spkiSha256, sig);
        (bytes32 key, uint64 nonce) = registry.tlsKey();
        assertEq(key, spkiSha256, "key");
        assertEq(uint256(nonce), 1, "nonce");

        address replayed = ECDSA.recover(registry.tlsKeyDigest(spkiSha256), sig);
        vm.expectRevert(
            abi.encodeWithSelector(IReplicationRegistry.RegistrySignerNotGenesis.selector, replayed, genesis)
        );
        registry.setTlsKey(spkiSha256, sig);
    }

    function testFuzz_setTlsKey_rejectsAnyOtherSigner(uint256 signerSeed, bytes32 spkiSha256) public {
        vm.assume(spkiSha256 != bytes32(0));
        uint256 signerKey = bound(signerSeed, 1, 2 ** 128);
        vm.assume(signerKey != _tableKey(GENESIS));
        bytes memory sig = signature(signerKey, registry.tlsKeyDigest(spkiSha256));
        vm.expectRevert(
            abi.encodeWithSelector(IReplicationRegistry.RegistrySignerNotGenesis.selector, vm.addr(signerKey), genesis)
        );
        registry.setTlsKey(spkiSha256, sig);
    }

    /// @dev A signature made for another registry (another EIP-712 domain) recovers another signer here.
    function testFuzz_setTlsKey_rejectsASignatureMadeForAnotherRegistry(bytes32 spkiSha256) public {
        vm.assume(spkiSha256 != bytes32(0));
        ReplicationRegistry other = _deployRegistry(appAuth);
        bytes memory sig = _sign(GENESIS, other, spkiSha256);
        address recovered = ECDSA.recover(registry.tlsKeyDigest(spkiSha256), sig);
        vm.expectRevert(
            abi.encodeWithSelector(IReplicationRegistry.RegistrySignerNotGenesis.selector, recovered, genesis)
        );
        registry.setTlsKey(spkiSha256, sig);
    }

    /// @dev The genesis member publishes only while its last attestation counts.
    function testFuzz_setTlsKey_needsTheGenesisAttestationToCount(uint256 elapsed) public {
        uint64 period = registry.ATTESTATION_PERIOD();
        elapsed = bound(elapsed, 0, 3 * uint256(period));
        uint64 attestedAt = registry.getNode(genesis).attestedAt;
        vm.warp(block.timestamp + elapsed);
        bytes memory sig = _sign(GENESIS, registry, KEY_1);
        bool fresh = block.timestamp < attestedAt + period;
        if (!fresh) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IReplicationRegistry.RegistryAttestationExpired.selector, genesis, attestedAt, attestedAt + period
                )
            );
        }
        registry.setTlsKey(KEY_1, sig);
        (bytes32 key,) = registry.tlsKey();
        assertEq(key, fresh ? KEY_1 : bytes32(0), "published only while attested");
    }
}
