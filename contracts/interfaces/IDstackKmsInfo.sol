// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IDstackKmsInfo
/// @notice The part of dstack's `DstackKms` contract that publishes the KMS's keys: the public getter of its
/// `KmsInfo public kmsInfo` (upstream `dstack/kms/auth-eth/contracts/DstackKms.sol`), set by its owner.
/// @dev The getter returns the struct's four fields; upstream's owner sets them with `setKmsInfo` and can upgrade the
/// contract (a UUPS proxy), so whoever reads them trusts dstack's KMS and its owner.
interface IDstackKmsInfo {
    /// @notice The KMS's keys.
    /// @return k256Pubkey The KMS root's secp256k1 key, 33 bytes compressed: every key signature chain ends in it.
    /// @return caPubkey The KMS root CA's P-256 key, DER SubjectPublicKeyInfo: what a CVM's key-provider event names.
    /// @return quote The KMS's TDX quote over its keys.
    /// @return eventlog The event log of that quote.
    function kmsInfo()
        external
        view
        returns (bytes memory k256Pubkey, bytes memory caPubkey, bytes memory quote, bytes memory eventlog);
}
