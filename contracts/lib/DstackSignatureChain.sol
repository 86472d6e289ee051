// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IDstackKms} from "../interfaces/IDstackKms.sol";

/// @title DstackSignatureChain
/// @notice Verifies dstack's key signature chain on-chain: that a key a CVM derived with the guest API's `GetKey` was
/// issued by dstack's KMS, whose root is the `k256Pubkey` of `DstackKms.kmsInfo()`, to one app, for one purpose.
/// @dev dstack's formats (docs/evidence.md has the sources): `GetKey` returns `[sig0, kmsSig]`, each 65 bytes
/// `r ‖ s ‖ v` with v in {0, 1} and s low, over a raw keccak256 digest (no EIP-191 prefix):
/// - `sig0`: the app key signs `keccak256(purpose ‖ ":" ‖ lowercase hex of the compressed derived public key)`;
/// - `kmsSig`: the KMS root signs `keccak256("dstack-kms-issued:" ‖ appId (20 bytes) ‖ compressed app public key)`.
///
/// `ecrecover` yields addresses, not keys, and `kmsSig` signs the app's public key itself: the caller passes the app
/// public key (anyone can recover it off-chain from `sig0`), and the library checks it is the key `sig0` recovers to.
/// Compressed keys (33 bytes, 0x02/0x03 ‖ x) are decompressed with the modexp precompile to get their address.
///
/// A message signed by the derived key is checked with {verifySignedDigest}: the derived key is an Ethereum key, so its
/// signature is Ethereum's (65 bytes, v 27 or 28, s low) over a 32-byte digest (EIP-191 or EIP-712), as
/// `lib/dstack/signed-message.ts` checks it, in the same order and with the same verdicts.
///
/// Threat model: every input is the prover's; only `appId` and the KMS root are the verifier's, and the root is best
/// read from the KMS contract itself ({kmsRootOf}) at each verification, so that a root the KMS's owner rotates is
/// followed. A chain passes only if the KMS root signed this app's key and that key signed this purpose and derived
/// key. Trusting the KMS root is trusting dstack's KMS and the owner of its contract (who can change `kmsInfo` at
/// once).
library DstackSignatureChain {
    /// @dev The secp256k1 field prime.
    uint256 internal constant FIELD_PRIME = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;
    /// @dev (p + 1) / 4: the exponent of a square root modulo p (p ≡ 3 mod 4).
    uint256 private constant _SQRT_EXPONENT = 0x3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFBFFFFF0C;
    /// @dev The prefix of the KMS's signature over an app key.
    bytes private constant _KMS_ISSUED_PREFIX = "dstack-kms-issued:";

    /// @notice A derived key and the chain `GetKey` returned for it.
    /// @param purpose The `purpose` of the `GetKey` call.
    /// @param derivedPublicKey The derived public key, 33 bytes compressed.
    /// @param appPublicKey The app's public key, 33 bytes compressed (the key `appSignature` recovers to).
    /// @param appSignature `sig0`.
    /// @param kmsSignature `kmsSig`.
    struct KeyChain {
        string purpose;
        bytes derivedPublicKey;
        bytes appPublicKey;
        bytes appSignature;
        bytes kmsSignature;
    }

    /// @notice A public key is not a secp256k1 point in the expected encoding.
    /// @param publicKey The bytes given.
    error DstackSignatureChainInvalidPublicKey(bytes publicKey);

    /// @notice A signature is not 65 bytes `r ‖ s ‖ v` with v in {0, 1} (27 or 28 for the message), s low,
    /// recovering a key.
    /// @param index 0 for `sig0`, 1 for `kmsSig`, 2 for the message signature.
    /// @param signature The bytes given.
    error DstackSignatureChainInvalidSignature(uint256 index, bytes signature);

    /// @notice `sig0` was not made by the app key the chain names.
    /// @param recovered The signer of `sig0`.
    /// @param appKey The address of the app public key given.
    error DstackSignatureChainAppKeyMismatch(address recovered, address appKey);

    /// @notice The message signature was not made by the derived key.
    /// @param recovered The signer of the digest.
    /// @param derivedKey The address of the derived public key given.
    error DstackSignatureChainMessageSignerMismatch(address recovered, address derivedKey);

    /// @notice The KMS contract publishes no root key: no contract, `kmsInfo()` reverted, or its `k256Pubkey` is empty.
    /// @param kms The KMS contract asked.
    error DstackSignatureChainNoKmsRoot(address kms);

    /// @notice `kmsSig` was not made by the KMS root for this app's key.
    /// @param recovered The signer of `kmsSig` over this app id and app key.
    /// @param kmsRoot The KMS root expected.
    error DstackSignatureChainKmsRootMismatch(address recovered, address kmsRoot);

    /// @notice Checks that `chain` proves its derived key was issued by the KMS whose root key has the address
    /// `kmsRoot` to the app `appId`, and returns the derived key's address.
    ///
    /// Requirements:
    ///
    /// - all three public keys are valid: the derived and app keys 33 bytes compressed;
    /// - both signatures are 65 bytes, v in {0, 1}, s in the lower half of the curve order;
    /// - `sig0` recovers to the app key over the purpose and derived key;
    /// - `kmsSig` recovers to `kmsRoot` over `appId` and the app key.
    function verify(KeyChain memory chain, address appId, address kmsRoot) internal view returns (address derivedKey) {
        derivedKey = _compressedKeyAddress(chain.derivedPublicKey);
        address appKey = _compressedKeyAddress(chain.appPublicKey);
        _verifyLinks(chain, appKey, appId, kmsRoot);
    }

    /// @notice Checks that the derived key of `chain` signed `digest` and that `chain` proves it was issued by the
    /// KMS whose root key has the address `kmsRoot` to the app `appId`; returns the derived key's address (the signer).
    ///
    /// Requirements:
    ///
    /// - the derived and app keys are valid, 33 bytes compressed;
    /// - `signature` is 65 bytes, v 27 or 28, s low, and recovers to the derived key over `digest`
    ///   ({DstackSignatureChainInvalidSignature} with index 2, then {DstackSignatureChainMessageSignerMismatch});
    /// - the chain holds, as in {verify}.
    function verifySignedDigest(
        bytes32 digest,
        bytes memory signature,
        KeyChain memory chain,
        address appId,
        address kmsRoot
    ) internal view returns (address derivedKey) {
        derivedKey = _compressedKeyAddress(chain.derivedPublicKey);
        address appKey = _compressedKeyAddress(chain.appPublicKey);
        (address signer, ECDSA.RecoverError failure, ) = ECDSA.tryRecover(digest, signature);
        if (failure != ECDSA.RecoverError.NoError) revert DstackSignatureChainInvalidSignature(2, signature);
        if (signer != derivedKey) revert DstackSignatureChainMessageSignerMismatch(signer, derivedKey);
        _verifyLinks(chain, appKey, appId, kmsRoot);
    }

    /// @notice The address of the KMS root that the dstack KMS contract `kms` publishes now (`kmsInfo().k256Pubkey`).
    /// @dev The getter returns all four fields; a KMS that also publishes its quote and event log makes this read cost
    /// their storage too (BENCHMARKS.md has the figures).
    ///
    /// Requirements:
    ///
    /// - `kms` is a contract whose `kmsInfo()` answers with a non-empty, valid `k256Pubkey`
    ///   ({DstackSignatureChainNoKmsRoot}, {DstackSignatureChainInvalidPublicKey}).
    function kmsRootOf(address kms) internal view returns (address) {
        if (kms.code.length == 0) revert DstackSignatureChainNoKmsRoot(kms);
        try IDstackKms(kms).kmsInfo() returns (bytes memory k256Pubkey, bytes memory, bytes memory, bytes memory) {
            if (k256Pubkey.length == 0) revert DstackSignatureChainNoKmsRoot(kms);
            return publicKeyAddress(k256Pubkey);
        } catch {
            revert DstackSignatureChainNoKmsRoot(kms);
        }
    }

    /// @notice The digest the app key signs for a derived key (`sig0`).
    function appKeyDigest(string memory purpose, bytes memory derivedPublicKey) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(purpose, ":", toHex(derivedPublicKey)));
    }

    /// @notice The digest the KMS root signs for an app key (`kmsSig`).
    function kmsIssuedDigest(address appId, bytes memory appPublicKey) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(_KMS_ISSUED_PREFIX, appId, appPublicKey));
    }

    /// @notice The signer of `digest`, for a dstack signature; reverts with
    /// {DstackSignatureChainInvalidSignature}(`index`, …) when it is not one.
    function recover(bytes32 digest, bytes memory signature, uint256 index) internal pure returns (address signer) {
        if (signature.length != 65) revert DstackSignatureChainInvalidSignature(index, signature);
        uint8 v = uint8(signature[64]);
        if (v > 1) revert DstackSignatureChainInvalidSignature(index, signature);
        bytes32 r;
        bytes32 s;
        // The two words of a memory `bytes` at an offset: Solidity slices only calldata.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
        }
        ECDSA.RecoverError failure;
        (signer, failure, ) = ECDSA.tryRecover(digest, v + 27, r, s);
        if (failure != ECDSA.RecoverError.NoError) revert DstackSignatureChainInvalidSignature(index, signature);
    }

    /// @notice The Ethereum address of a secp256k1 public key, 33 bytes compressed or 65 bytes `0x04 ‖ x ‖ y`
    /// (both forms of `kmsInfo().k256Pubkey`); reverts unless it is a point of the curve.
    function publicKeyAddress(bytes memory publicKey) internal view returns (address) {
        (uint256 x, uint256 y) = publicKey.length == 33 ? decompress(publicKey) : _uncompressed(publicKey);
        return address(uint160(uint256(keccak256(abi.encodePacked(x, y)))));
    }

    /// @notice The coordinates of a compressed public key (`0x02`/`0x03` ‖ x); reverts unless it is on the curve.
    function decompress(bytes memory publicKey) internal view returns (uint256 x, uint256 y) {
        if (publicKey.length != 33) revert DstackSignatureChainInvalidPublicKey(publicKey);
        uint8 prefix = uint8(publicKey[0]);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            x := mload(add(publicKey, 33))
        }
        if ((prefix != 2 && prefix != 3) || x >= FIELD_PRIME) revert DstackSignatureChainInvalidPublicKey(publicKey);
        uint256 rhs = addmod(mulmod(mulmod(x, x, FIELD_PRIME), x, FIELD_PRIME), 7, FIELD_PRIME);
        y = Math.modExp(rhs, _SQRT_EXPONENT, FIELD_PRIME);
        // No square root: x is not on the curve. (No point has y = 0: the group order is odd.)
        if (mulmod(y, y, FIELD_PRIME) != rhs) revert DstackSignatureChainInvalidPublicKey(publicKey);
        if (y & 1 != prefix & 1) y = FIELD_PRIME - y;
    }

    /// @notice Lowercase hex of `data`, without 0x (how dstack writes a public key into `sig0`'s message).
    function toHex(bytes memory data) internal pure returns (bytes memory out) {
        out = new bytes(data.length * 2);
        // Two ASCII digits per byte, looked up in "0123456789abcdef" (`byte(n, word)` is the n-th byte from the left).
        // A byte-indexed Solidity loop costs ~1,000 gas per input byte unoptimized; this costs ~50.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let digits := "0123456789abcdef"
            let src := add(data, 0x20)
            let dst := add(out, 0x20)
            for {
                let i := 0
            } lt(i, mload(data)) {
                i := add(i, 1)
            } {
                let b := byte(0, mload(add(src, i)))
                mstore8(add(dst, mul(i, 2)), byte(shr(4, b), digits))
                mstore8(add(dst, add(mul(i, 2), 1)), byte(and(b, 0x0f), digits))
            }
        }
    }

    /// @dev `sig0` recovers to the app key over the purpose and derived key; `kmsSig` to the KMS root over the app id
    /// and app key.
    function _verifyLinks(KeyChain memory chain, address appKey, address appId, address kmsRoot) private pure {
        address appSigner = recover(appKeyDigest(chain.purpose, chain.derivedPublicKey), chain.appSignature, 0);
        if (appSigner != appKey) revert DstackSignatureChainAppKeyMismatch(appSigner, appKey);
        address kmsSigner = recover(kmsIssuedDigest(appId, chain.appPublicKey), chain.kmsSignature, 1);
        if (kmsSigner != kmsRoot) revert DstackSignatureChainKmsRootMismatch(kmsSigner, kmsRoot);
    }

    function _compressedKeyAddress(bytes memory publicKey) private view returns (address) {
        (uint256 x, uint256 y) = decompress(publicKey);
        return address(uint160(uint256(keccak256(abi.encodePacked(x, y)))));
    }

    function _uncompressed(bytes memory publicKey) private pure returns (uint256 x, uint256 y) {
        if (publicKey.length != 65 || publicKey[0] != 0x04) revert DstackSignatureChainInvalidPublicKey(publicKey);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            x := mload(add(publicKey, 33))
            y := mload(add(publicKey, 65))
        }
        bool onCurve = x < FIELD_PRIME &&
            y < FIELD_PRIME &&
            mulmod(y, y, FIELD_PRIME) == addmod(mulmod(mulmod(x, x, FIELD_PRIME), x, FIELD_PRIME), 7, FIELD_PRIME);
        if (!onCurve) revert DstackSignatureChainInvalidPublicKey(publicKey);
    }
}
