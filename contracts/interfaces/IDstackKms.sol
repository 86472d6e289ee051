// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IDstackKms
/// @notice What dstack's `DstackKms` publishes about its keys: the public getter of its
/// `struct KmsInfo { bytes k256Pubkey; bytes caPubkey; bytes quote; bytes eventlog; }`, set by the KMS contract's
/// owner.
/// `k256Pubkey` is the KMS root key every key signature chain ends in (docs/evidence.md).
interface IDstackKms {
    /// @notice The KMS's keys.
    /// @return k256Pubkey The KMS root's secp256k1 key, 33 bytes compressed.
    /// @return caPubkey The KMS root CA's P-256 key, DER SubjectPublicKeyInfo.
    /// @return quote The KMS's TDX quote over its keys.
    /// @return eventlog The event log of that quote.
    function kmsInfo()
        external
        view
        returns (bytes memory k256Pubkey, bytes memory caPubkey, bytes memory quote, bytes memory eventlog);
}
