// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {IAppAuth} from "../interfaces/IAppAuth.sol";

/// @title KmsStandIn
/// @notice A STAND-IN for dstack's `DstackKms`, for chains where the real one is not deployed (a local node in
/// CI). It reproduces only what decides whether an app boots, `registerApp` and `isAppAllowed`, with the real
/// contract's check order and reason strings, and what the KMS publishes about its keys, `kmsInfo`. Tests that use it
/// must say so; against Base, use the real KMS.
/// @dev Upstream `DstackKms.isAppAllowed`: app not registered, then OS image not allowed, then no code at the app
/// address, each with its reason; otherwise the app contract's own answer, whose reverts propagate.
contract KmsStandIn is IAppAuth, Ownable {
    /// @notice The KMS's keys, as upstream publishes them (same fields, same order).
    /// @param k256Pubkey The KMS root's secp256k1 key, 33 bytes compressed: every key signature chain ends in it.
    /// @param caPubkey The KMS root CA's P-256 key, DER SubjectPublicKeyInfo: what a CVM's key-provider event names.
    /// @param quote The KMS's TDX quote over its keys.
    /// @param eventlog The event log of that quote.
    struct KmsInfo {
        bytes k256Pubkey;
        bytes caPubkey;
        bytes quote;
        bytes eventlog;
    }

    /// @notice The KMS's keys (upstream's public getter returns the four fields).
    KmsInfo public kmsInfo;
    /// @notice Whether an app (its auth contract address) is registered.
    mapping(address appId => bool registered) public registeredApps;
    /// @notice Whether an OS image is allowed.
    mapping(bytes32 osImageHash => bool allowed) public allowedOsImages;

    /// @notice An app was registered (unindexed, as upstream).
    event AppRegistered(address appId);
    /// @notice An OS image became allowed.
    event OsImageHashAdded(bytes32 osImageHash);
    /// @notice An OS image stopped being allowed.
    event OsImageHashRemoved(bytes32 osImageHash);
    /// @notice The KMS's keys were set (unindexed, as upstream).
    /// @param k256Pubkey The new root key.
    event KmsInfoSet(bytes k256Pubkey);

    /// @param initialOwner Who may change the allowed OS images.
    constructor(address initialOwner) Ownable(initialOwner) {}

    /// @notice Publish the KMS's keys. Emits {KmsInfoSet}.
    ///
    /// Requirements:
    ///
    /// - the caller is the owner (upstream's owner can change the keys at once, as here).
    function setKmsInfo(KmsInfo calldata info) external onlyOwner {
        kmsInfo = info;
        emit KmsInfoSet(info.k256Pubkey);
    }

    /// @notice Register an app's auth contract. Anyone may call it, as upstream.
    function registerApp(address appId) external {
        registeredApps[appId] = true;
        emit AppRegistered(appId);
    }

    /// @notice Allow an OS image.
    function addOsImageHash(bytes32 osImageHash) external onlyOwner {
        allowedOsImages[osImageHash] = true;
        emit OsImageHashAdded(osImageHash);
    }

    /// @notice Stop allowing an OS image.
    function removeOsImageHash(bytes32 osImageHash) external onlyOwner {
        allowedOsImages[osImageHash] = false;
        emit OsImageHashRemoved(osImageHash);
    }

    /// @inheritdoc IAppAuth
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        if (!registeredApps[bootInfo.appId]) {
            return (false, "App not registered");
        }
        if (!allowedOsImages[bootInfo.osImageHash]) {
            return (false, "OS image is not allowed");
        }
        if (bootInfo.appId.code.length == 0) {
            // Upstream's exact reason string, longer than 32 bytes.
            // solhint-disable-next-line gas-small-strings
            return (false, "App not deployed or invalid address");
        }
        return IAppAuth(bootInfo.appId).isAppAllowed(bootInfo);
    }

    /// @notice ERC-165: answers for IERC165 and IAppAuth.
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IAppAuth).interfaceId || interfaceId == 0x01ffc9a7;
    }
}
