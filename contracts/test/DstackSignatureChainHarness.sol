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
