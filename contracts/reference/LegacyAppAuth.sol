// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {IAppAuth} from "../interfaces/IAppAuth.sol";

/// @title LegacyAppAuth
/// @notice A baseline that behaves like dstack's `AppAuth` as it was before it answered ERC-165: dstack added
/// `supportsInterface` in June 2025 (Dstack-TEE/dstack 3da4d0b4), and apps deployed earlier still run the old code.
/// It answers `isAppAllowed` with dstack's struct, check order and reasons, its owner changes the policy INSTANTLY, and
/// it has no `supportsInterface` at all. It exists so that the DevProof report is tested against a genuine AppAuth
/// that does not answer ERC-165 (it must be graded Stage 0, not refused). Do not deploy it for a real app.
/// @dev Upstream's `AppAuth.isAppAllowed` before that commit, without the proxy and with `appId` being this contract
/// (as dstack's KMS has used since July 2025).
contract LegacyAppAuth is Ownable {
    /// @notice Whether a compose hash is allowed.
    mapping(bytes32 composeHash => bool allowed) public allowedComposeHashes;
    /// @notice Whether a device is allowed.
    mapping(bytes32 deviceId => bool allowed) public allowedDeviceIds;
    /// @notice Whether any device is allowed.
    bool public allowAnyDevice;

    /// @notice A compose hash became allowed.
    event ComposeHashAdded(bytes32 composeHash);

    /// @param initialOwner Who may change the policy.
    /// @param initialComposeHash A compose hash allowed from the start, or zero.
    constructor(address initialOwner, bytes32 initialComposeHash) Ownable(initialOwner) {
        allowAnyDevice = true;
        if (initialComposeHash != bytes32(0)) {
            allowedComposeHashes[initialComposeHash] = true;
            emit ComposeHashAdded(initialComposeHash);
        }
    }

    /// @notice Allow a compose hash, at once.
    function addComposeHash(bytes32 composeHash) external onlyOwner {
        allowedComposeHashes[composeHash] = true;
        emit ComposeHashAdded(composeHash);
    }

    /// @notice dstack's `IAppAuth.isAppAllowed`, selector 0x1e079198, as the KMS calls it at every boot.
    function isAppAllowed(IAppAuth.AppBootInfo calldata bootInfo)
        external
        view
        returns (bool isAllowed, string memory reason)
    {
        if (bootInfo.appId != address(this)) {
            return (false, "Wrong app controller");
        }
        if (!allowedComposeHashes[bootInfo.composeHash]) {
            return (false, "Compose hash not allowed");
        }
        if (!allowAnyDevice && !allowedDeviceIds[bootInfo.deviceId]) {
            return (false, "Device not allowed");
        }
        return (true, "");
    }
}
