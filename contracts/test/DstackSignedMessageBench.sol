// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {DstackSignatureChain} from "../lib/DstackSignatureChain.sol";

/// @title DstackSignedMessageBench
/// @notice The gas benchmark's comparison point (scripts/bench/): verifies an oracle message through
/// {DstackSignatureChain.verifySignedDigest} behind the same function signature, and so the same calldata, as the
/// `verify` of the public dstack tutorial's `TeeOracle`: app id and KMS root fixed at deployment, the message an
/// EIP-191 signature over a 32-byte hash. Not deployed anywhere.
contract DstackSignedMessageBench {
    /// @notice The app whose chains are accepted.
    address public immutable appId;
    /// @notice The address of the KMS root key.
    address public immutable kmsRoot;

    /// @param appId_ The app whose chains are accepted.
    /// @param kmsRoot_ The address of the KMS root key.
    constructor(address appId_, address kmsRoot_) {
        appId = appId_;
        kmsRoot = kmsRoot_;
    }

    /// @notice True when the derived key signed `messageHash` (EIP-191) and its chain leads to the KMS root for
    /// the app; reverts with the library's error otherwise.
    /// @dev Memory arguments: seven calldata `bytes` do not fit the legacy pipeline's stack, and the library takes
    /// memory anyway. The ABI, and so the calldata, is the same.
    // solhint-disable-next-line gas-calldata-parameters
    function verify(
        bytes32 messageHash,
        bytes memory messageSignature,
        bytes memory appSignature,
        bytes memory kmsSignature,
        bytes memory derivedCompressedPubkey,
        bytes memory appCompressedPubkey,
        string memory purpose
    ) external view returns (bool) {
        DstackSignatureChain.KeyChain memory chain = DstackSignatureChain.KeyChain({
            purpose: purpose,
            derivedPublicKey: derivedCompressedPubkey,
            appPublicKey: appCompressedPubkey,
            appSignature: appSignature,
            kmsSignature: kmsSignature
        });
        bytes32 digest = MessageHashUtils.toEthSignedMessageHash(messageHash);
        DstackSignatureChain.verifySignedDigest(digest, messageSignature, chain, appId, kmsRoot);
        return true;
    }
}
