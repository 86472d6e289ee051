// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DstackSignatureChain} from "../lib/DstackSignatureChain.sol";

/// @title DstackSignatureChainHarness
/// @notice Exposes {DstackSignatureChain} to tests and the gas measurement. Not deployed anywhere.
contract DstackSignatureChainHarness {
    /// @notice {DstackSignatureChain.verify}.
    function verify(DstackSignatureChain.KeyChain calldata chain, address appId, address kmsRoot)
        external
        view
        returns (address derivedKey)
    {
        return DstackSignatureChain.verify(chain, appId, kmsRoot);
    }

    /// @notice {DstackSignatureChain.verify} and the gas it used, measured around the library call alone (the
    /// chain already decoded into memory, hence `memory` here).
    // solhint-disable-next-line gas-calldata-parameters
    function measureVerify(DstackSignatureChain.KeyChain memory chain, address appId, address kmsRoot)
        external
        view
        returns (address derivedKey, uint256 gasUsed)
    {
        uint256 before = gasleft();
        derivedKey = DstackSignatureChain.verify(chain, appId, kmsRoot);
        gasUsed = before - gasleft();
    }

    /// @notice {DstackSignatureChain.verifySignedDigest} against the root the KMS contract `kms` publishes now.
    function verifySignedDigest(
        bytes32 digest,
        bytes calldata signature,
        DstackSignatureChain.KeyChain calldata chain,
        address appId,
        address kms
    ) external view returns (address signer) {
        address kmsRoot = DstackSignatureChain.kmsRootOf(kms);
        return DstackSignatureChain.verifySignedDigest(digest, signature, chain, appId, kmsRoot);
    }

    /// @notice {DstackSignatureChain.verifySignedDigest} and the gas it used (library call alone, root given).
    // solhint-disable-next-line gas-calldata-parameters
    function measureVerifySignedDigest(
        bytes32 digest,
        bytes memory signature,
        DstackSignatureChain.KeyChain memory chain,
        address appId,
        address kmsRoot
    ) external view returns (address signer, uint256 gasUsed) {
        uint256 before = gasleft();
        signer = DstackSignatureChain.verifySignedDigest(digest, signature, chain, appId, kmsRoot);
        gasUsed = before - gasleft();
    }

    /// @notice {DstackSignatureChain.kmsRootOf} and the gas it used.
    function measureKmsRootOf(address kms) external view returns (address root, uint256 gasUsed) {
        uint256 before = gasleft();
        root = DstackSignatureChain.kmsRootOf(kms);
        gasUsed = before - gasleft();
    }

    /// @notice {DstackSignatureChain.publicKeyAddress}.
    function publicKeyAddress(bytes calldata publicKey) external view returns (address) {
        return DstackSignatureChain.publicKeyAddress(publicKey);
    }

    /// @notice {DstackSignatureChain.appKeyDigest}.
    function appKeyDigest(string calldata purpose, bytes calldata derivedPublicKey) external pure returns (bytes32) {
        return DstackSignatureChain.appKeyDigest(purpose, derivedPublicKey);
    }

    /// @notice {DstackSignatureChain.kmsIssuedDigest}.
    function kmsIssuedDigest(address appId, bytes calldata appPublicKey) external pure returns (bytes32) {
        return DstackSignatureChain.kmsIssuedDigest(appId, appPublicKey);
    }
}
