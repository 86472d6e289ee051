// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {ReplicationRegistry} from "../../contracts/ReplicationRegistry.sol";
import {TimelockedAppAuth} from "../../contracts/TimelockedAppAuth.sol";
import {IAppAuth} from "../../contracts/interfaces/IAppAuth.sol";
import {IReplicationRegistry} from "../../contracts/interfaces/IReplicationRegistry.sol";
import {DstackSignatureChain} from "../../contracts/lib/DstackSignatureChain.sol";

import {RegistrySetup} from "./utils/RegistrySetup.sol";
import {Test} from "./utils/Test.sol";

/// @notice Signatures cannot be replayed across chains, registries or nodes; only the node registers itself, only
/// with a key dstack's KMS issued to this app, and only members onboard; attestations count for a fixed period.
contract ReplicationRegistryFuzzTest is Test, RegistrySetup {
    uint256 private constant GENESIS = 0;

    TimelockedAppAuth private appAuth;
    ReplicationRegistry private registry;
    ReplicationRegistry private otherRegistry;
    address private genesis;
    uint64 private period;

    function setUp() public {
        appAuth = _deployAppAuth(address(this));
        registry = _deployRegistry(appAuth);
        otherRegistry = _deployRegistry(appAuth);
        genesis = _register(registry, GENESIS, _allowedInfo());
        registry.setGenesis(genesis);
        period = registry.ATTESTATION_PERIOD();
    }

    function _allowedInfo() private view returns (IAppAuth.AppBootInfo memory) {
        return _bootInfo(address(appAuth), COMPOSE_A, DEVICE_1, true);
    }

    /// @dev A node's table index other than the genesis member's.
    function _nodeIndex(uint256 seed) private pure returns (uint256) {
        return bound(seed, 1, NODE_KEYS - 1);
    }

    /// @dev A private key that is none of the table's first keys (signers, rogue roots).
    function _anyKey(uint256 seed) private pure returns (uint256) {
        return bound(seed, 1, 2 ** 128);
    }

    /// @dev Registers the node of table key `index` with `chain`, expecting the revert `expected`.
    function _expectRegisterRevert(uint256 index, IReplicationRegistry.KeyChain memory chain, bytes memory expected)
        private
    {
        address node = _nodeAt(index);
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory encryptionKey = _encryptionKey(node);
        IAppAuth.AppBootInfo memory info = _allowedInfo();
        bytes memory sig = _registrationSignature(index, encryptionKey, attestation);
        vm.expectRevert(expected);
        registry.register(node, encryptionKey, info, attestation, chain, sig);
        assertTrue(registry.nodeStatus(node) == IReplicationRegistry.NodeStatus.None, "nothing was registered");
    }

    // ---------------------------------------------------------------------------------------------------------
    // register
    // ---------------------------------------------------------------------------------------------------------

    function testFuzz_register_acceptsTheNodesOwnSignatureOverAnyKeyAndQuote(
        uint256 indexSeed,
        bytes calldata encryptionKey,
        bytes calldata quote,
        bytes calldata eventLog
    ) public {
        vm.assume(encryptionKey.length > 0 && encryptionKey.length <= 128 && quote.length > 0);
        uint256 index = _nodeIndex(indexSeed);
        address node = _nodeAt(index);
        IReplicationRegistry.Attestation memory attestation = IReplicationRegistry.Attestation(quote, eventLog);
        bytes memory sig = _registrationSignature(index, encryptionKey, attestation);
        IReplicationRegistry.KeyChain memory chain = _genuineChain(registry, index);
        IAppAuth.AppBootInfo memory info = _allowedInfo();
        registry.register(node, encryptionKey, info, attestation, chain, sig);

        IReplicationRegistry.NodeRecord memory record = registry.getNode(node);
        assertTrue(record.status == IReplicationRegistry.NodeStatus.Registered, "registered");
        assertTrue(record.quoteHash == keccak256(quote), "quote hash stored");
        assertTrue(keccak256(record.encryptionPublicKey) == keccak256(encryptionKey), "key stored");
        assertEq(record.attestedAt, block.timestamp, "attested now");

        vm.expectRevert(
            abi.encodeWithSelector(
                IReplicationRegistry.RegistryNodeAlreadyRegistered.selector,
                node,
                IReplicationRegistry.NodeStatus.Registered
            )
        );
        registry.register(node, encryptionKey, info, attestation, chain, sig);
    }

    function _registrationSignature(
        uint256 index,
        bytes memory encryptionKey,
        IReplicationRegistry.Attestation memory attestation
    ) private view returns (bytes memory) {
        bytes32 digest = registry.registrationDigest(_nodeAt(index), encryptionKey, _allowedInfo(), attestation);
        return signature(_tableKey(index), digest);
    }

    function testFuzz_register_rejectsAnyOtherSigner(uint256 indexSeed, uint256 signerSeed) public {
        uint256 index = _nodeIndex(indexSeed);
        uint256 signerKey = _anyKey(signerSeed);
        vm.assume(signerKey != _tableKey(index));
        address node = _nodeAt(index);
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory encryptionKey = _encryptionKey(node);
        IAppAuth.AppBootInfo memory info = _allowedInfo();
        bytes32 digest = registry.registrationDigest(node, encryptionKey, info, attestation);
        IReplicationRegistry.KeyChain memory chain = _genuineChain(registry, index);

        vm.expectRevert(
            abi.encodeWithSelector(IReplicationRegistry.RegistrySignerMismatch.selector, node, vm.addr(signerKey))
        );
        registry.register(node, encryptionKey, info, attestation, chain, signature(signerKey, digest));
    }

    function testFuzz_register_rejectsASignatureMadeForAnotherChain(uint256 indexSeed, uint64 otherChainId) public {
        vm.assume(otherChainId != block.chainid);
        uint256 index = _nodeIndex(indexSeed);
        address node = _nodeAt(index);
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory encryptionKey = _encryptionKey(node);
        IAppAuth.AppBootInfo memory info = _allowedInfo();
        IReplicationRegistry.KeyChain memory chain = _genuineChain(registry, index);

        uint256 here = block.chainid;
        vm.chainId(otherChainId);
        bytes memory sig = signature(_tableKey(index), registry.registrationDigest(node, encryptionKey, info, attestation));
        vm.chainId(here);

        address recovered = ECDSA.recover(registry.registrationDigest(node, encryptionKey, info, attestation), sig);
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistrySignerMismatch.selector, node, recovered));
        registry.register(node, encryptionKey, info, attestation, chain, sig);
    }

    function testFuzz_register_rejectsASignatureMadeForAnotherRegistry(uint256 indexSeed) public {
        uint256 index = _nodeIndex(indexSeed);
        address node = _nodeAt(index);
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory encryptionKey = _encryptionKey(node);
        IAppAuth.AppBootInfo memory info = _allowedInfo();
        bytes memory sig =
            signature(_tableKey(index), otherRegistry.registrationDigest(node, encryptionKey, info, attestation));
        IReplicationRegistry.KeyChain memory chain = _genuineChain(registry, index);

        address recovered = ECDSA.recover(registry.registrationDigest(node, encryptionKey, info, attestation), sig);
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistrySignerMismatch.selector, node, recovered));
        registry.register(node, encryptionKey, info, attestation, chain, sig);
    }

    // ---------------------------------------------------------------------------------------------------------
    // register: the key chain
    // ---------------------------------------------------------------------------------------------------------

    /// @dev A rogue KMS: the app key is signed by any other root than the bound one.
    function testFuzz_register_rejectsAKeyChainToAnotherKmsRoot(uint256 indexSeed, uint256 rootSeed) public {
        uint256 index = _nodeIndex(indexSeed);
        uint256 rootKey = _anyKey(rootSeed);
        vm.assume(rootKey != _tableKey(KMS_ROOT));
        IReplicationRegistry.KeyChain memory chain = _genuineChain(registry, index);
        chain.kmsSignature = _dstackSignature(
            rootKey, DstackSignatureChain.kmsIssuedDigest(address(appAuth), chain.appPublicKey)
        );
        _expectRegisterRevert(
            index,
            chain,
            abi.encodeWithSelector(
                DstackSignatureChain.DstackSignatureChainKmsRootMismatch.selector, vm.addr(rootKey), registry.kmsRoot()
            )
        );
    }

    /// @dev A foreign app: the genuine KMS root signed the app key for another app id.
    function testFuzz_register_rejectsAKeyChainForAnotherApp(uint256 indexSeed, address otherApp) public {
        vm.assume(otherApp != address(appAuth));
        uint256 index = _nodeIndex(indexSeed);
        IReplicationRegistry.KeyChain memory chain = _keyChain(otherApp, index, KMS_ROOT, PURPOSE);
        // What the KMS signature recovers to when read as a signature for this app.
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(_tableKey(KMS_ROOT), DstackSignatureChain.kmsIssuedDigest(otherApp, chain.appPublicKey));
        address recovered = ecrecover(DstackSignatureChain.kmsIssuedDigest(address(appAuth), chain.appPublicKey), v, r, s);
        _expectRegisterRevert(
            index,
            chain,
            abi.encodeWithSelector(
                DstackSignatureChain.DstackSignatureChainKmsRootMismatch.selector, recovered, registry.kmsRoot()
            )
        );
    }

    /// @dev A genuine chain, for another node's key: the node's own key was not issued by the KMS.
    function testFuzz_register_rejectsAKeyChainForAnotherKey(uint256 indexSeed, uint256 otherSeed) public {
        uint256 index = _nodeIndex(indexSeed);
        uint256 other = bound(otherSeed, 0, NODE_KEYS - 1);
        vm.assume(other != index);
        IReplicationRegistry.KeyChain memory chain = _genuineChain(registry, other);
        _expectRegisterRevert(
            index,
            chain,
            abi.encodeWithSelector(
                IReplicationRegistry.RegistryNodeKeyNotKmsIssued.selector, _nodeAt(index), _nodeAt(other)
            )
        );
    }

    /// @dev The app key signed the node's key for another purpose than the protocol's.
    function testFuzz_register_rejectsAKeyChainForAnotherPurpose(uint256 indexSeed, string calldata purpose) public {
        vm.assume(keccak256(bytes(purpose)) != keccak256(bytes(PURPOSE)));
        uint256 index = _nodeIndex(indexSeed);
        IReplicationRegistry.KeyChain memory chain = _keyChain(address(appAuth), index, KMS_ROOT, purpose);
        bytes memory derived = chain.derivedPublicKey;
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(_tableKey(APP_KEY), DstackSignatureChain.appKeyDigest(purpose, derived));
        address recovered = ecrecover(DstackSignatureChain.appKeyDigest(PURPOSE, derived), v, r, s);
        _expectRegisterRevert(
            index,
            chain,
            abi.encodeWithSelector(
                DstackSignatureChain.DstackSignatureChainAppKeyMismatch.selector, recovered, vm.addr(_tableKey(APP_KEY))
            )
        );
    }

    // ---------------------------------------------------------------------------------------------------------
    // refreshAttestation
    // ---------------------------------------------------------------------------------------------------------

    function testFuzz_refresh_recordsTheNewTcbOnceAndNeverReplays(uint256 elapsed, bytes calldata quote, bool upToDate)
        public
    {
        vm.assume(quote.length > 0);
        elapsed = bound(elapsed, 0, 10 * uint256(period));
        vm.warp(block.timestamp + elapsed);
        IReplicationRegistry.Attestation memory attestation = IReplicationRegistry.Attestation(quote, "");
        string memory tcbStatus = upToDate ? "UpToDate" : "OutOfDate";
        string[] memory advisoryIds = new string[](0);
        bytes memory sig =
            signature(_tableKey(GENESIS), registry.refreshDigest(genesis, attestation, tcbStatus, advisoryIds));
        registry.refreshAttestation(genesis, attestation, tcbStatus, advisoryIds, sig);

        IReplicationRegistry.NodeRecord memory record = registry.getNode(genesis);
        assertEq(record.attestedAt, block.timestamp, "attested now");
        assertEq(record.refreshes, 1, "one refresh");
        assertTrue(record.quoteHash == keccak256(quote), "the new quote");
        assertEq(record.bootInfo.tcbStatus, tcbStatus, "the new TCB status");
        assertEq(record.bootInfo.advisoryIds.length, 0, "the new advisories");
        (bool allowed,) = registry.isNodeAllowed(genesis);
        assertEq(allowed, upToDate, "the policy judges the refreshed TCB");

        // The same signed refresh again: its nonce is spent.
        address recovered =
            ECDSA.recover(registry.refreshDigest(genesis, attestation, tcbStatus, advisoryIds), sig);
        vm.expectRevert(
            abi.encodeWithSelector(IReplicationRegistry.RegistrySignerMismatch.selector, genesis, recovered)
        );
        registry.refreshAttestation(genesis, attestation, tcbStatus, advisoryIds, sig);
    }

    function testFuzz_refresh_rejectsAnyOtherSigner(uint256 signerSeed) public {
        uint256 signerKey = _anyKey(signerSeed);
        vm.assume(signerKey != _tableKey(GENESIS));
        IReplicationRegistry.Attestation memory attestation = _attestation(genesis);
        string[] memory advisoryIds = new string[](0);
        bytes memory sig = signature(signerKey, registry.refreshDigest(genesis, attestation, "UpToDate", advisoryIds));
        vm.expectRevert(
            abi.encodeWithSelector(IReplicationRegistry.RegistrySignerMismatch.selector, genesis, vm.addr(signerKey))
        );
        registry.refreshAttestation(genesis, attestation, "UpToDate", advisoryIds, sig);
    }

    // ---------------------------------------------------------------------------------------------------------
    // attestation period
    // ---------------------------------------------------------------------------------------------------------

    /// @dev Before the period ends the genesis member onboards and a stranger cannot evict it; from then on it
    /// onboards nobody and anyone may evict it.
    function testFuzz_attestation_countsForExactlyThePeriod(uint256 elapsed, uint256 indexSeed) public {
        elapsed = bound(elapsed, 0, 3 * uint256(period));
        uint256 index = _nodeIndex(indexSeed);
        uint64 attestedAt = registry.getNode(genesis).attestedAt;
        vm.warp(block.timestamp + elapsed);
        address node = _register(registry, index, _allowedInfo()); // the new node attests now
        bytes memory sig = _onboardingSignature(registry, GENESIS, node, "secret");
        bool fresh = block.timestamp < attestedAt + period;
        assertEq(registry.attestationExpiresAt(genesis), attestedAt + period, "expiry");

        if (!fresh) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IReplicationRegistry.RegistrySponsorAttestationExpired.selector,
                    genesis,
                    attestedAt,
                    attestedAt + period
                )
            );
        }
        registry.onboard(node, "secret", sig);
        assertEq(registry.isMember(node), fresh, "onboarded only while the sponsor's attestation counts");

        vm.prank(makeAddr("stranger"));
        if (fresh) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IReplicationRegistry.RegistryEvictionUnauthorized.selector, genesis, makeAddr("stranger")
                )
            );
        }
        registry.evict(genesis);
        assertEq(registry.isMember(genesis), fresh, "a stranger evicts only an expired member");
    }

    // ---------------------------------------------------------------------------------------------------------
    // onboard
    // ---------------------------------------------------------------------------------------------------------

    function testFuzz_onboard_acceptsAMembersSignatureOverAnyCiphertext(uint256 indexSeed, bytes calldata ciphertext)
        public
    {
        vm.assume(ciphertext.length > 0);
        address node = _register(registry, _nodeIndex(indexSeed), _allowedInfo());
        registry.onboard(node, ciphertext, _onboardingSignature(registry, GENESIS, node, ciphertext));
        assertTrue(registry.isMember(node), "member");
        assertEq(registry.getNode(node).sponsor, genesis, "sponsor recorded");
        assertEq(registry.memberCount(), 2, "member count");
    }

    function testFuzz_onboard_rejectsANonMemberSigner(uint256 indexSeed, uint256 signerSeed) public {
        uint256 signerKey = _anyKey(signerSeed);
        vm.assume(signerKey != _tableKey(GENESIS));
        address node = _register(registry, _nodeIndex(indexSeed), _allowedInfo());
        address signer = vm.addr(signerKey);
        bytes memory ciphertext = "secret";
        bytes32 quoteHash = registry.getNode(node).quoteHash;
        bytes memory sig = signature(signerKey, registry.onboardingDigest(node, quoteHash, ciphertext));

        // The node itself is never a member before it joins, so it cannot onboard itself either.
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistrySignerNotMember.selector, signer));
        registry.onboard(node, ciphertext, sig);
    }

    function testFuzz_onboard_rejectsASignatureMadeForAnotherChain(uint256 indexSeed, uint64 otherChainId) public {
        vm.assume(otherChainId != block.chainid);
        address node = _register(registry, _nodeIndex(indexSeed), _allowedInfo());
        bytes memory ciphertext = "secret";

        uint256 here = block.chainid;
        vm.chainId(otherChainId);
        bytes memory sig = _onboardingSignature(registry, GENESIS, node, ciphertext);
        vm.chainId(here);

        _expectSignerNotMember(node, ciphertext, sig);
        registry.onboard(node, ciphertext, sig);
    }

    function testFuzz_onboard_rejectsASignatureMadeForAnotherRegistry(uint256 indexSeed) public {
        uint256 index = _nodeIndex(indexSeed);
        address node = _register(registry, index, _allowedInfo());
        _register(otherRegistry, index, _allowedInfo());
        bytes memory ciphertext = "secret";
        bytes memory sig = _onboardingSignature(otherRegistry, GENESIS, node, ciphertext);

        _expectSignerNotMember(node, ciphertext, sig);
        registry.onboard(node, ciphertext, sig);
    }

    function testFuzz_onboard_rejectsASignatureMadeForAnotherNode(uint256 seedB, uint256 seedC) public {
        uint256 indexB = _nodeIndex(seedB);
        uint256 indexC = _nodeIndex(seedC);
        vm.assume(indexB != indexC);
        address nodeB = _register(registry, indexB, _allowedInfo());
        address nodeC = _register(registry, indexC, _allowedInfo());
        bytes memory ciphertext = "secret";
        bytes memory sigForB = _onboardingSignature(registry, GENESIS, nodeB, ciphertext);

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
            registry.onboard(node, "secret", _onboardingSignature(registry, GENESIS, node, "secret"));
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
