// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {ReplicationRegistry} from "../../contracts/ReplicationRegistry.sol";
import {TimelockedAppAuth} from "../../contracts/TimelockedAppAuth.sol";
import {IAppAuth} from "../../contracts/interfaces/IAppAuth.sol";
import {IReplicationRegistry} from "../../contracts/interfaces/IReplicationRegistry.sol";

import {RegistrySetup} from "./utils/RegistrySetup.sol";
import {Test} from "./utils/Test.sol";

/// @notice Signatures cannot be replayed across chains, registries or nodes; only the node registers itself and
/// only members onboard.
contract ReplicationRegistryFuzzTest is Test, RegistrySetup {
    uint256 private constant GENESIS_KEY = 0xA11CE;
    uint256 private constant MAX_KEY = 2 ** 128;

    TimelockedAppAuth private appAuth;
    ReplicationRegistry private registry;
    ReplicationRegistry private otherRegistry;
    address private genesis;

    function setUp() public {
        appAuth = _deployAppAuth(address(this));
        registry = new ReplicationRegistry(appAuth);
        otherRegistry = new ReplicationRegistry(appAuth);
        genesis = _register(registry, GENESIS_KEY, _allowedInfo());
        registry.setGenesis(genesis);
    }

    function _allowedInfo() private view returns (IAppAuth.AppBootInfo memory) {
        return _bootInfo(address(appAuth), COMPOSE_A, DEVICE_1, true);
    }

    /// @dev A node key other than the genesis key.
    function _nodeKey(uint256 seed) private pure returns (uint256 key) {
        key = bound(seed, 1, MAX_KEY);
        if (key == GENESIS_KEY) key += 1;
    }

    // ---------------------------------------------------------------------------------------------------------
    // register
    // ---------------------------------------------------------------------------------------------------------

    function testFuzz_register_acceptsTheNodesOwnSignatureOverAnyKeyAndQuote(
        uint256 keySeed,
        bytes calldata encryptionKey,
        bytes calldata quote,
        bytes calldata eventLog
    ) public {
        vm.assume(encryptionKey.length > 0 && encryptionKey.length <= 128 && quote.length > 0);
        uint256 key = _nodeKey(keySeed);
        address node = vm.addr(key);
        IReplicationRegistry.Attestation memory attestation = IReplicationRegistry.Attestation(quote, eventLog);
        IAppAuth.AppBootInfo memory info = _allowedInfo();
        bytes memory sig = signature(key, registry.registrationDigest(node, encryptionKey, info, attestation));
        registry.register(node, encryptionKey, info, attestation, sig);

        IReplicationRegistry.NodeRecord memory record = registry.getNode(node);
        assertTrue(record.status == IReplicationRegistry.NodeStatus.Registered, "registered");
        assertTrue(record.quoteHash == keccak256(quote), "quote hash stored");
        assertTrue(keccak256(record.encryptionPublicKey) == keccak256(encryptionKey), "key stored");

        vm.expectRevert(
            abi.encodeWithSelector(
                IReplicationRegistry.RegistryNodeAlreadyRegistered.selector,
                node,
                IReplicationRegistry.NodeStatus.Registered
            )
        );
        registry.register(node, encryptionKey, info, attestation, sig);
    }

    function testFuzz_register_rejectsAnyOtherSigner(uint256 keySeed, uint256 signerSeed) public {
        uint256 key = _nodeKey(keySeed);
        uint256 signerKey = _nodeKey(signerSeed);
        vm.assume(key != signerKey);
        address node = vm.addr(key);
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory encryptionKey = _encryptionKey(node);
        IAppAuth.AppBootInfo memory info = _allowedInfo();
        bytes32 digest = registry.registrationDigest(node, encryptionKey, info, attestation);

        vm.expectRevert(
            abi.encodeWithSelector(IReplicationRegistry.RegistrySignerMismatch.selector, node, vm.addr(signerKey))
        );
        registry.register(node, encryptionKey, info, attestation, signature(signerKey, digest));
    }

    function testFuzz_register_rejectsASignatureMadeForAnotherChain(uint256 keySeed, uint64 otherChainId) public {
        vm.assume(otherChainId != block.chainid);
        uint256 key = _nodeKey(keySeed);
        address node = vm.addr(key);
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory encryptionKey = _encryptionKey(node);
        IAppAuth.AppBootInfo memory info = _allowedInfo();

        uint256 here = block.chainid;
        vm.chainId(otherChainId);
        bytes memory sig = signature(key, registry.registrationDigest(node, encryptionKey, info, attestation));
        vm.chainId(here);

        address recovered = ECDSA.recover(registry.registrationDigest(node, encryptionKey, info, attestation), sig);
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistrySignerMismatch.selector, node, recovered));
        registry.register(node, encryptionKey, info, attestation, sig);
    }

    function testFuzz_register_rejectsASignatureMadeForAnotherRegistry(uint256 keySeed) public {
        uint256 key = _nodeKey(keySeed);
        address node = vm.addr(key);
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory encryptionKey = _encryptionKey(node);
        IAppAuth.AppBootInfo memory info = _allowedInfo();
        bytes memory sig = signature(key, otherRegistry.registrationDigest(node, encryptionKey, info, attestation));

        address recovered = ECDSA.recover(registry.registrationDigest(node, encryptionKey, info, attestation), sig);
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistrySignerMismatch.selector, node, recovered));
        registry.register(node, encryptionKey, info, attestation, sig);
    }

    // ---------------------------------------------------------------------------------------------------------
    // onboard
    // ---------------------------------------------------------------------------------------------------------

    function testFuzz_onboard_acceptsAMembersSignatureOverAnyCiphertext(uint256 keySeed, bytes calldata ciphertext)
        public
    {
        vm.assume(ciphertext.length > 0);
        address node = _register(registry, _nodeKey(keySeed), _allowedInfo());
        registry.onboard(node, ciphertext, _onboardingSignature(registry, GENESIS_KEY, node, ciphertext));
        assertTrue(registry.isMember(node), "member");
        assertEq(registry.getNode(node).sponsor, genesis, "sponsor recorded");
        assertEq(registry.memberCount(), 2, "member count");
    }

    function testFuzz_onboard_rejectsANonMemberSigner(uint256 keySeed, uint256 signerSeed) public {
        uint256 signerKey = _nodeKey(signerSeed);
        address node = _register(registry, _nodeKey(keySeed), _allowedInfo());
        address signer = vm.addr(signerKey);
        bytes memory ciphertext = "secret";
        bytes memory sig = _onboardingSignature(registry, signerKey, node, ciphertext);

        // The node itself is never a member before it joins, so it cannot onboard itself either.
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistrySignerNotMember.selector, signer));
        registry.onboard(node, ciphertext, sig);
    }

    function testFuzz_onboard_rejectsASignatureMadeForAnotherChain(uint256 keySeed, uint64 otherChainId) public {
        vm.assume(otherChainId != block.chainid);
        address node = _register(registry, _nodeKey(keySeed), _allowedInfo());
        bytes memory ciphertext = "secret";

        uint256 here = block.chainid;
        vm.chainId(otherChainId);
        bytes memory sig = _onboardingSignature(registry, GENESIS_KEY, node, ciphertext);
        vm.chainId(here);

        _expectSignerNotMember(node, ciphertext, sig);
        registry.onboard(node, ciphertext, sig);
    }

    function testFuzz_onboard_rejectsASignatureMadeForAnotherRegistry(uint256 keySeed) public {
        uint256 key = _nodeKey(keySeed);
        address node = _register(registry, key, _allowedInfo());
        _register(otherRegistry, key, _allowedInfo());
        bytes memory ciphertext = "secret";
        bytes memory sig = _onboardingSignature(otherRegistry, GENESIS_KEY, node, ciphertext);

        _expectSignerNotMember(node, ciphertext, sig);
        registry.onboard(node, ciphertext, sig);
    }

    function testFuzz_onboard_rejectsASignatureMadeForAnotherNode(uint256 keySeedB, uint256 keySeedC) public {
        uint256 keyB = _nodeKey(keySeedB);
        uint256 keyC = _nodeKey(keySeedC);
        vm.assume(keyB != keyC);
        address nodeB = _register(registry, keyB, _allowedInfo());
        address nodeC = _register(registry, keyC, _allowedInfo());
        bytes memory ciphertext = "secret";
        bytes memory sigForB = _onboardingSignature(registry, GENESIS_KEY, nodeB, ciphertext);

        _expectSignerNotMember(nodeC, ciphertext, sigForB);
        registry.onboard(nodeC, ciphertext, sigForB);
        // The signature still works for the node it was made for, once.
        registry.onboard(nodeB, ciphertext, sigForB);
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistryNodeAlreadyMember.selector, nodeB));
        registry.onboard(nodeB, ciphertext, sigForB);
    }

    function _expectSignerNotMember(address node, bytes memory ciphertext, bytes memory sig) private {
        bytes32 digest = registry.onboardingDigest(node, registry.getNode(node).quoteHash, ciphertext);
        address recovered = ECDSA.recover(digest, sig);
        assertTrue(recovered != genesis, "signature must not recover to the member");
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistrySignerNotMember.selector, recovered));
    }

    // ---------------------------------------------------------------------------------------------------------
    // report_data binding (lib/replication/report-data.ts)
    // ---------------------------------------------------------------------------------------------------------

    /// @dev The off-chain library's known answer equals Solidity's `abi.encode`, so a contract could check it too.
    function test_reportData_isKeccakOfAbiEncodedTagNodeAndKey() public pure {
        bytes32 x = 0x2222222222222222222222222222222222222222222222222222222222222222;
        bytes memory key = abi.encodePacked(bytes1(0x02), x);
        bytes32 first = keccak256(
            abi.encode("dstack-devproof/replication/v1", address(0x1111111111111111111111111111111111111111), key)
        );
        assertTrue(first == 0x65c0bf5aa47dcca17d3cad6eb5a5664dfc246668ca06934770194556ae5819a4, "known answer");
    }

    // ---------------------------------------------------------------------------------------------------------
    // views
    // ---------------------------------------------------------------------------------------------------------

    function testFuzz_getMembers_returnsTheRequestedWindow(uint256 offset, uint256 limit) public {
        for (uint256 i = 1; i <= 4; ++i) {
            address node = _register(registry, i, _allowedInfo());
            registry.onboard(node, "secret", _onboardingSignature(registry, GENESIS_KEY, node, "secret"));
        }
        uint256 count = registry.memberCount();
        address[] memory page = registry.getMembers(offset, limit);
        uint256 expected = offset >= count ? 0 : (count - offset < limit ? count - offset : limit);
        assertEq(page.length, expected, "page length");
        address[] memory all = registry.getMembers(0, count);
        for (uint256 i = 0; i < page.length; ++i) {
            assertEq(page[i], all[offset + i], "page entry");
        }
    }
}
