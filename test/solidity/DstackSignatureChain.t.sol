// SPDX-License-Identifier: MIT
// Test-suite conventions: Foundry test names, descriptive messages.
// solhint-disable func-name-mixedcase, gas-small-strings, max-line-length, avoid-low-level-calls

pragma solidity ^0.8.24;

import {DstackSignatureChain} from "../../contracts/lib/DstackSignatureChain.sol";
import {KmsStandIn} from "../../contracts/reference/KmsStandIn.sol";
import {DstackSignatureChainHarness} from "../../contracts/test/DstackSignatureChainHarness.sol";
import {Test} from "./utils/Test.sol";

/// @title DstackSignatureChainTest
/// @notice The on-chain chain verifier against dstack's own KMS signature (the simulator's keys) and, fuzzed, against
/// chains of any keys, app ids and purposes; every tampered link is refused with the error that names it.
contract DstackSignatureChainTest is Test {
    /// @dev secp256k1's group order.
    uint256 private constant _N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    // dstack's simulator (sdk/simulator/appkeys.json at the commit docs/evidence.md names): the app key, the KMS's
    // signature over it for the simulator's app id, and the keys dstack's own Go SDK test expects them to give.
    uint256 private constant _SIM_APP_KEY = 0xd6e88992cdeeee35fe70b5db61ab66cdb191fb9b6ec9313757ef162dd7214d5d;
    address private constant _SIM_APP_ID = 0x5bb4FF9A3837357F19dC176407a5709c62eB6C56;
    bytes private constant _SIM_KMS_SIGNATURE =
        hex"9e618603e72d01fedb82deff6daf2d62a572becf0059eec3f89c1ab40e1f2e594d2a283f843f34e8f39e4cc49a612496ce67223a12ac923f8efe330346dfc6c500";
    bytes private constant _SIM_APP_PUBLIC_KEY = hex"02818494263695e8839122dbd88e281d7380622999df4e60a14befa0f2d096fc7c";
    bytes private constant _SIM_KMS_ROOT = hex"0321529e458424ab1f710a3a57ec4dad2fb195ddca572f7469242ba6c7563085b6";

    /// @dev How many keys the table below holds.
    uint256 private constant _KEYS = 12;

    DstackSignatureChainHarness private _chain;
    /// @dev The uncompressed public keys of `_private(0 .. _KEYS - 1)`, computed off-chain (the runner has no
    /// cheatcode that returns a public key); `test_keyTable_holdsThePublicKeysOfThePrivateKeys` checks them.
    bytes[] private _publicKeys;

    function setUp() public {
        _chain = new DstackSignatureChainHarness();
        _publicKeys.push(hex"04495a8cfe76f59c97f510acecfbf615d8ef2731d8bc18b6e4ddb130438e968db61616a1f3440058333b927849ebc237d03467504ae114a3984bbe4647e1468dc0");
        _publicKeys.push(hex"04e27a45879fa6b2d013a1b34134b27a0850605f7b5756104d5163c1ba595f89bab6ffb021df4bd7d156c9c615ad6b236829ca61434e99b531e5ba4a49a1a29871");
        _publicKeys.push(hex"044665a33d1e0d7834b0a3d2d0fdcd69fc12dffabf9decf0baf724d4ef2061a20d4938ad5891ab13827240b5c929ac4106c30b00f74fde2a53353f994111ceedb2");
        _publicKeys.push(hex"0489048e7fb6f6520300eb18ea5ffea73bec84383f3abb007ce8cc3b7495939d48290f5f1a66536eb66da1c4f5490ff83a2b4f7451dc00f22473e25589a082d096");
        _publicKeys.push(hex"04c30d5d318c72b08da8286044f24e9d62284214c903ee064cfdb52bf88058fab459ddd6279425a75bd4d22e3103913b014d63b7d5d840ddea04f52152ea70e222");
        _publicKeys.push(hex"045cf538a70c4db50cc30622accb615b869186c83676fe88c6aee5002fe86244fa4446f2f2c293abd83c9d35567c40b0ba4892e0833a3ba499a3c1e349fbbb0ace");
        _publicKeys.push(hex"04daf36c4828ae332b0f95b9ee2e66a96d900f9d37d6a369c44aceaa08b71312f310e48b0a2ab0d3395c987b5e5244f625a7a6bdea3d218cc3af1f322e2d239dd6");
        _publicKeys.push(hex"04f899c20529c30bb14648217f1094e33ea81bb50baf2f466c23bbdcc03da5f2b4de43eb3911843cbb2d9e01d600389507e2e74519244906a3caa1dcadcba72de9");
        _publicKeys.push(hex"04bc4c4f418c7cf8960b1138f168d7cda575f5a9cb1c6775a3e7405bdeb56e21acde1554aadddda7b32c6b7e83fb6906cfcb5cea2d36d3e4e6da3166f4df6b2c5a");
        _publicKeys.push(hex"045599cc92fb09e7592a50f48d9f9a99a301ed93724c23c3ca293a6f71d712b12c631f3e9a6fdc58e1559f9bcfb87e95023a6a3c28a88a0c89293467b9707b1733");
        _publicKeys.push(hex"04cd1ac97971c3b583dba15f37d8d4509127a7ed23982a656582d70bc1d6a4c97017edd0a133ff6ade16ac530545f9386e3f6d2894625f43811d34a4c488e509de");
        _publicKeys.push(hex"049ffe479bdddf6fdd1e0628d979d17cf253101eae96ba5eebeba993f40bfcb9bac31e517536ebc0470419b2a75997a1c49cbbb54c250db6fa3b2da3ec8a9d1a68");
    }

    // Helpers -------------------------------------------------------------------------------------------------------

    /// @dev A key index from a fuzzed seed.
    function _index(uint256 seed) private pure returns (uint256) {
        return seed % _KEYS;
    }

    function _private(uint256 index) private pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked("dstack signature chain test key", index)));
    }

    function _uncompressed(uint256 index) private view returns (bytes memory) {
        return _publicKeys[index];
    }

    function _compressed(uint256 index) private view returns (bytes memory) {
        bytes memory key = _publicKeys[index];
        bytes32 x;
        uint256 y;
        assembly ("memory-safe") {
            x := mload(add(key, 33))
            y := mload(add(key, 65))
        }
        return abi.encodePacked(bytes1(uint8(2 + (y & 1))), x);
    }

    /// @dev dstack's signature: r ‖ s ‖ v with v in {0, 1}.
    function _sign(uint256 privateKey, bytes32 digest) private pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, digest);
        return abi.encodePacked(r, s, v - 27);
    }

    /// @dev The chain `GetKey` returns for key `derived`, issued by key `root` to `appId` through key `app`.
    function _issue(uint256 root, address appId, uint256 app, uint256 derived, string memory purpose)
        private
        view
        returns (DstackSignatureChain.KeyChain memory chain)
    {
        chain.purpose = purpose;
        chain.derivedPublicKey = _compressed(derived);
        chain.appPublicKey = _compressed(app);
        chain.appSignature = _sign(_private(app), _chain.appKeyDigest(purpose, chain.derivedPublicKey));
        chain.kmsSignature = _sign(_private(root), _chain.kmsIssuedDigest(appId, chain.appPublicKey));
    }

    /// @dev Calls the harness with `data` and checks it reverts with the custom error `selector`, whatever its
    /// arguments (the runner's `expectRevert(bytes4)` compares the whole revert data).
    function _assertRefused(bytes memory data, bytes4 selector) private view {
        (bool ok, bytes memory result) = address(_chain).staticcall(data);
        assertFalse(ok, "refused");
        assertEq(bytes32(bytes4(result)), bytes32(selector), "with the expected error");
    }

    function _root(uint256 index) private pure returns (address) {
        return vm.addr(_private(index));
    }

    function test_keyTable_holdsThePublicKeysOfThePrivateKeys() public view {
        for (uint256 i = 0; i < _KEYS; ++i) {
            bytes memory key = _publicKeys[i];
            bytes32 x;
            bytes32 y;
            assembly ("memory-safe") {
                x := mload(add(key, 33))
                y := mload(add(key, 65))
            }
            assertEq(address(uint160(uint256(keccak256(abi.encodePacked(x, y))))), vm.addr(_private(i)), "key");
        }
    }

    // dstack's vector ---------------------------------------------------------------------------------------------

    function test_verify_acceptsTheKmsSignatureOfDstacksSimulator() public view {
        DstackSignatureChain.KeyChain memory chain;
        chain.purpose = "test-purpose";
        chain.derivedPublicKey = _compressed(0);
        chain.appPublicKey = _SIM_APP_PUBLIC_KEY;
        chain.appSignature = _sign(_SIM_APP_KEY, _chain.appKeyDigest(chain.purpose, chain.derivedPublicKey));
        chain.kmsSignature = _SIM_KMS_SIGNATURE;
        address root = _chain.publicKeyAddress(_SIM_KMS_ROOT);
        assertEq(_chain.verify(chain, _SIM_APP_ID, root), vm.addr(_private(0)), "the derived key's address");
        assertEq(_chain.publicKeyAddress(_SIM_APP_PUBLIC_KEY), vm.addr(_SIM_APP_KEY), "the simulator's app key");
    }

    function test_verify_refusesTheSimulatorsSignatureForAnotherApp() public view {
        DstackSignatureChain.KeyChain memory chain;
        chain.purpose = "test-purpose";
        chain.derivedPublicKey = _compressed(0);
        chain.appPublicKey = _SIM_APP_PUBLIC_KEY;
        chain.appSignature = _sign(_SIM_APP_KEY, _chain.appKeyDigest(chain.purpose, chain.derivedPublicKey));
        chain.kmsSignature = _SIM_KMS_SIGNATURE;
        address root = _chain.publicKeyAddress(_SIM_KMS_ROOT);
        _assertRefused(abi.encodeCall(_chain.verify, (chain, address(uint160(_SIM_APP_ID) ^ 1), root)), DstackSignatureChain.DstackSignatureChainKmsRootMismatch.selector);
    }

    // Fuzzed chains ----------------------------------------------------------------------------------------------

    function testFuzz_verify_acceptsAChainOfAnyKeysForAnyAppAndPurpose(
        uint256 rootSeed,
        uint256 appSeed,
        uint256 derivedSeed,
        address appId,
        string memory purpose
    ) public view {
        uint256 root = _index(rootSeed);
        uint256 derived = _index(derivedSeed);
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, _index(appSeed), derived, purpose);
        assertEq(_chain.verify(chain, appId, _root(root)), vm.addr(_private(derived)), "the derived key's address");
    }

    function testFuzz_verify_refusesAnotherApp(uint256 seed, address appId, address otherApp) public view {
        vm.assume(appId != otherApp);
        uint256 root = _index(seed);
        DstackSignatureChain.KeyChain memory chain = _issue(root, otherApp, _index(seed / 7), _index(seed / 49), "p");
        _assertRefused(abi.encodeCall(_chain.verify, (chain, appId, _root(root))), DstackSignatureChain.DstackSignatureChainKmsRootMismatch.selector);
    }

    function testFuzz_verify_refusesARogueKmsRoot(uint256 seed, uint256 rogueSeed) public {
        uint256 root = _index(seed);
        uint256 rogue = _index(rogueSeed);
        vm.assume(root != rogue);
        address appId = makeAddr("app");
        DstackSignatureChain.KeyChain memory chain = _issue(rogue, appId, _index(seed / 7), _index(seed / 49), "p");
        vm.expectRevert(
            abi.encodeWithSelector(
                DstackSignatureChain.DstackSignatureChainKmsRootMismatch.selector,
                _root(rogue),
                _root(root)
            )
        );
        _chain.verify(chain, appId, _root(root));
    }

    function testFuzz_verify_refusesAnotherPurpose(uint256 seed, string memory purpose, string memory other) public {
        vm.assume(keccak256(bytes(purpose)) != keccak256(bytes(other)));
        uint256 root = _index(seed);
        address appId = makeAddr("app");
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, _index(seed / 7), _index(seed / 49), purpose);
        chain.purpose = other;
        _assertRefused(abi.encodeCall(_chain.verify, (chain, appId, _root(root))), DstackSignatureChain.DstackSignatureChainAppKeyMismatch.selector);
    }

    function testFuzz_verify_refusesASwappedDerivedKey(uint256 seed, uint256 otherSeed) public {
        uint256 derived = _index(seed / 49);
        uint256 other = _index(otherSeed);
        vm.assume(derived != other);
        uint256 root = _index(seed);
        address appId = makeAddr("app");
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, _index(seed / 7), derived, "p");
        chain.derivedPublicKey = _compressed(other);
        _assertRefused(abi.encodeCall(_chain.verify, (chain, appId, _root(root))), DstackSignatureChain.DstackSignatureChainAppKeyMismatch.selector);
    }

    function testFuzz_verify_refusesAnAppKeyThatDidNotSign(uint256 seed, uint256 otherSeed) public {
        uint256 app = _index(seed / 7);
        uint256 other = _index(otherSeed);
        vm.assume(app != other);
        uint256 root = _index(seed);
        address appId = makeAddr("app");
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, app, _index(seed / 49), "p");
        chain.appPublicKey = _compressed(other);
        vm.expectRevert(
            abi.encodeWithSelector(
                DstackSignatureChain.DstackSignatureChainAppKeyMismatch.selector,
                vm.addr(_private(app)),
                vm.addr(_private(other))
            )
        );
        _chain.verify(chain, appId, _root(root));
    }

    // Encodings -----------------------------------------------------------------------------------------------------

    function testFuzz_verify_refusesV27Style(uint256 seed, bool kmsSide) public {
        uint256 root = _index(seed);
        address appId = makeAddr("app");
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, _index(seed / 7), _index(seed / 49), "p");
        bytes memory signature = kmsSide ? chain.kmsSignature : chain.appSignature;
        signature[64] = bytes1(uint8(signature[64]) + 27);
        vm.expectRevert(
            abi.encodeWithSelector(
                DstackSignatureChain.DstackSignatureChainInvalidSignature.selector,
                kmsSide ? 1 : 0,
                signature
            )
        );
        _chain.verify(chain, appId, _root(root));
    }

    function testFuzz_verify_refusesTheHighSTwinOfASignature(uint256 seed) public {
        uint256 root = _index(seed);
        address appId = makeAddr("app");
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, _index(seed / 7), _index(seed / 49), "p");
        bytes memory signature = chain.kmsSignature;
        bytes32 s;
        assembly ("memory-safe") {
            s := mload(add(signature, 0x40))
        }
        bytes32 twin = bytes32(_N - uint256(s));
        for (uint256 i = 0; i < 32; ++i) signature[32 + i] = twin[i];
        signature[64] = bytes1(uint8(signature[64]) ^ 1);
        vm.expectRevert(
            abi.encodeWithSelector(DstackSignatureChain.DstackSignatureChainInvalidSignature.selector, 1, signature)
        );
        _chain.verify(chain, appId, _root(root));
    }

    function testFuzz_verify_refusesASignatureOfAnotherLength(uint256 seed, uint8 length) public {
        vm.assume(length != 65);
        uint256 root = _index(seed);
        address appId = makeAddr("app");
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, _index(seed / 7), _index(seed / 49), "p");
        chain.appSignature = new bytes(length);
        vm.expectRevert(
            abi.encodeWithSelector(
                DstackSignatureChain.DstackSignatureChainInvalidSignature.selector,
                0,
                chain.appSignature
            )
        );
        _chain.verify(chain, appId, _root(root));
    }

    function testFuzz_verify_refusesUncompressedKeys(uint256 seed) public {
        uint256 root = _index(seed);
        uint256 app = _index(seed / 7);
        uint256 derived = _index(seed / 49);
        address appId = makeAddr("app");
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, app, derived, "p");
        bytes memory compressed = chain.derivedPublicKey;
        chain.derivedPublicKey = _uncompressed(derived);
        vm.expectRevert(
            abi.encodeWithSelector(
                DstackSignatureChain.DstackSignatureChainInvalidPublicKey.selector,
                chain.derivedPublicKey
            )
        );
        _chain.verify(chain, appId, _root(root));

        // A chain whose app key signed the uncompressed key's hex is not dstack's: refused with the compressed key.
        chain.derivedPublicKey = compressed;
        chain.appSignature = _sign(_private(app), _chain.appKeyDigest("p", _uncompressed(derived)));
        _assertRefused(abi.encodeCall(_chain.verify, (chain, appId, _root(root))), DstackSignatureChain.DstackSignatureChainAppKeyMismatch.selector);

        // And the KMS signature over the uncompressed app key is not dstack's either.
        chain = _issue(root, appId, app, derived, "p");
        chain.kmsSignature = _sign(_private(root), _chain.kmsIssuedDigest(appId, _uncompressed(app)));
        _assertRefused(abi.encodeCall(_chain.verify, (chain, appId, _root(root))), DstackSignatureChain.DstackSignatureChainKmsRootMismatch.selector);
    }

    // Public keys ---------------------------------------------------------------------------------------------------

    function testFuzz_publicKeyAddress_isTheKeysAddressInBothForms(uint256 seed) public view {
        uint256 key = _index(seed);
        assertEq(_chain.publicKeyAddress(_compressed(key)), vm.addr(_private(key)), "compressed");
        assertEq(_chain.publicKeyAddress(_uncompressed(key)), vm.addr(_private(key)), "uncompressed");
    }

    function testFuzz_publicKeyAddress_refusesAPointOffTheCurve(uint256 seed, uint256 delta) public {
        bytes memory key = _uncompressed(_index(seed));
        uint256 p = DstackSignatureChain.FIELD_PRIME;
        uint256 y;
        assembly ("memory-safe") {
            y := mload(add(key, 65))
        }
        bytes32 moved = bytes32(addmod(y, bound(delta, 1, p - 1), p));
        vm.assume(moved != bytes32(p - y)); // -y is on the curve too
        for (uint256 i = 0; i < 32; ++i) key[33 + i] = moved[i];
        vm.expectRevert(abi.encodeWithSelector(DstackSignatureChain.DstackSignatureChainInvalidPublicKey.selector, key));
        _chain.publicKeyAddress(key);
    }

    function testFuzz_publicKeyAddress_agreesForBothFormsOfAnyPoint(uint256 x, bool odd) public view {
        uint256 p = DstackSignatureChain.FIELD_PRIME;
        x = bound(x, 0, p - 1);
        uint256 rhs = addmod(mulmod(mulmod(x, x, p), x, p), 7, p);
        uint256 y = _powMod(rhs, (p + 1) / 4, p);
        vm.assume(mulmod(y, y, p) == rhs);
        if ((y & 1 == 1) != odd) y = p - y;
        bytes memory compressed = abi.encodePacked(bytes1(odd ? 0x03 : 0x02), bytes32(x));
        bytes memory uncompressed = abi.encodePacked(bytes1(0x04), bytes32(x), bytes32(y));
        assertEq(_chain.publicKeyAddress(compressed), _chain.publicKeyAddress(uncompressed), "same point");
    }

    function testFuzz_publicKeyAddress_refusesAnXWithoutAPointOrABadPrefix(uint256 x, uint8 prefix) public {
        bytes memory key = abi.encodePacked(bytes1(prefix), bytes32(x));
        (bool ok, bytes memory result) = address(_chain).call(abi.encodeCall(_chain.publicKeyAddress, (key)));
        uint256 p = DstackSignatureChain.FIELD_PRIME;
        uint256 rhs = addmod(mulmod(mulmod(x, x, p), x, p), 7, p);
        // Euler's criterion, computed apart from the library: rhs is a square iff rhs^((p-1)/2) == 1.
        bool square = x < p && _powMod(rhs, (p - 1) / 2, p) == 1;
        assertEq(ok, square && (prefix == 2 || prefix == 3), "accepted exactly the points of the curve");
        if (!ok) {
            assertEq(
                result,
                abi.encodeWithSelector(DstackSignatureChain.DstackSignatureChainInvalidPublicKey.selector, key),
                "the error names the key"
            );
        }
    }

    // Signed messages, against the root the KMS contract publishes -----------------------------------------------

    /// @dev A KMS stand-in whose kmsInfo() publishes key `root` (compressed, as dstack's KMS does).
    function _kmsPublishing(uint256 root) private returns (KmsStandIn kms) {
        kms = new KmsStandIn(address(this));
        kms.setKmsInfo(KmsStandIn.KmsInfo(_compressed(root), "", "", ""));
    }

    function testFuzz_verifySignedDigest_acceptsTheDerivedKeysSignatureUnderThePublishedRoot(
        uint256 seed,
        bytes32 digest,
        address appId
    ) public {
        (uint256 root, uint256 derived) = (_index(seed), _index(seed / _KEYS));
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, _index(seed / _KEYS / _KEYS), derived, "oracle");
        KmsStandIn kms = _kmsPublishing(root);
        bytes memory sig = signature(_private(derived), digest);
        assertEq(_chain.verifySignedDigest(digest, sig, chain, appId, address(kms)), vm.addr(_private(derived)), "signer");
    }

    function testFuzz_verifySignedDigest_refusesAnotherSignerOrDigest(uint256 seed, uint256 otherSeed, bytes32 digest)
        public
    {
        (uint256 root, uint256 derived, uint256 other) = (_index(seed), _index(seed / _KEYS), _index(otherSeed));
        vm.assume(other != derived);
        address appId = address(0xA99);
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, _index(seed / _KEYS / _KEYS), derived, "oracle");
        address kms = address(_kmsPublishing(root));
        bytes4 mismatch = DstackSignatureChain.DstackSignatureChainMessageSignerMismatch.selector;
        bytes memory byOther = signature(_private(other), digest);
        _assertRefused(abi.encodeCall(_chain.verifySignedDigest, (digest, byOther, chain, appId, kms)), mismatch);
        bytes memory sig = signature(_private(derived), digest);
        bytes32 otherDigest = keccak256(abi.encode(digest));
        _assertRefused(abi.encodeCall(_chain.verifySignedDigest, (otherDigest, sig, chain, appId, kms)), mismatch);
        // dstack's v in {0, 1} is for the chain; the message signature is Ethereum's.
        sig[64] = bytes1(uint8(sig[64]) - 27);
        _assertRefused(
            abi.encodeCall(_chain.verifySignedDigest, (digest, sig, chain, appId, kms)),
            DstackSignatureChain.DstackSignatureChainInvalidSignature.selector
        );
    }

    function testFuzz_verifySignedDigest_followsTheRootTheKmsOwnerRotatesTo(uint256 seed, uint256 newSeed) public {
        (uint256 root, uint256 newRoot, uint256 derived) = (_index(seed), _index(newSeed), _index(seed / _KEYS));
        vm.assume(newRoot != root);
        address appId = address(0xA99);
        DstackSignatureChain.KeyChain memory chain = _issue(root, appId, _index(seed / _KEYS / _KEYS), derived, "oracle");
        KmsStandIn kms = _kmsPublishing(root);
        bytes32 digest = keccak256("a result");
        bytes memory sig = signature(_private(derived), digest);
        assertEq(_chain.verifySignedDigest(digest, sig, chain, appId, address(kms)), vm.addr(_private(derived)), "ok");
        kms.setKmsInfo(KmsStandIn.KmsInfo(_compressed(newRoot), "", "", ""));
        _assertRefused(
            abi.encodeCall(_chain.verifySignedDigest, (digest, sig, chain, appId, address(kms))),
            DstackSignatureChain.DstackSignatureChainKmsRootMismatch.selector
        );
    }

    function test_kmsRootOf_refusesWhatPublishesNoRoot() public {
        KmsStandIn unset = new KmsStandIn(address(this));
        bytes4 noRoot = DstackSignatureChain.DstackSignatureChainNoKmsRoot.selector;
        _assertRefused(abi.encodeCall(_chain.measureKmsRootOf, (address(unset))), noRoot);
        _assertRefused(abi.encodeCall(_chain.measureKmsRootOf, (address(0xdead))), noRoot);
        _assertRefused(abi.encodeCall(_chain.measureKmsRootOf, (address(_chain))), noRoot);
        KmsStandIn kms = _kmsPublishing(3);
        (address root, ) = _chain.measureKmsRootOf(address(kms));
        assertEq(root, _root(3), "the published root's address");
    }

    function _powMod(uint256 base, uint256 exponent, uint256 modulus) private pure returns (uint256 result) {
        result = 1;
        base %= modulus;
        while (exponent > 0) {
            if (exponent & 1 == 1) result = mulmod(result, base, modulus);
            base = mulmod(base, base, modulus);
            exponent >>= 1;
        }
    }
}
