// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

import {IAppAuth} from "../interfaces/IAppAuth.sol";

/// @title StockAppAuth
/// @notice A baseline that behaves like dstack's stock `DstackApp`: the owner changes the policy INSTANTLY. It
/// exists to be measured against (gas benchmarks, where it is also put behind OpenZeppelin's TimelockController)
/// and to be reported as Stage 0 by the DevProof report. Do not deploy it for a real app.
/// @dev Same storage getters, events, check order and reason strings as `DstackApp` (dstack's
/// `kms/auth-eth/contracts/DstackApp.sol`), without the proxy. It answers `supportsInterface` for `IAppAuth`
/// (0x1e079198) and `IAppAuthBasicManagement` (0x8fd37527), as `DstackApp` does.
contract StockAppAuth is IAppAuth, Ownable, ERC165 {
    bytes4 private constant _APP_AUTH_BASIC_MANAGEMENT_ID = 0x8fd37527;
    bytes32 private constant _TCB_UP_TO_DATE = keccak256("UpToDate");

    /// @notice Whether a compose hash is allowed.
    mapping(bytes32 composeHash => bool allowed) public allowedComposeHashes;
    /// @notice Whether a device is allowed.
    mapping(bytes32 deviceId => bool allowed) public allowedDeviceIds;
    /// @notice Whether any device is allowed.
    bool public allowAnyDevice;
    /// @notice Whether only CVMs with TCB status "UpToDate" are allowed.
    bool public requireTcbUpToDate;

    /// @notice A compose hash became allowed.
    event ComposeHashAdded(bytes32 composeHash);
    /// @notice A compose hash stopped being allowed.
    event ComposeHashRemoved(bytes32 composeHash);
    /// @notice A device became allowed.
    event DeviceAdded(bytes32 deviceId);
    /// @notice A device stopped being allowed.
    event DeviceRemoved(bytes32 deviceId);
    /// @notice The allow-any-device flag changed.
    event AllowAnyDeviceSet(bool allowAny);
    /// @notice The require-up-to-date-TCB flag changed.
    event RequireTcbUpToDateSet(bool requireUpToDate);

    /// @param initialOwner Who may change the policy.
    /// @param initialAllowAnyDevice Whether any device is allowed from the start.
    /// @param initialDeviceId A device allowed from the start, or zero.
    /// @param initialComposeHash A compose hash allowed from the start, or zero.
    constructor(address initialOwner, bool initialAllowAnyDevice, bytes32 initialDeviceId, bytes32 initialComposeHash)
        Ownable(initialOwner)
    {
        allowAnyDevice = initialAllowAnyDevice;
        if (initialDeviceId != bytes32(0)) {
            allowedDeviceIds[initialDeviceId] = true;
            emit DeviceAdded(initialDeviceId);
        }
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

    /// @notice Stop allowing a compose hash, at once.
    function removeComposeHash(bytes32 composeHash) external onlyOwner {
        allowedComposeHashes[composeHash] = false;
        emit ComposeHashRemoved(composeHash);
    }

    /// @notice Allow a device, at once.
    function addDevice(bytes32 deviceId) external onlyOwner {
        allowedDeviceIds[deviceId] = true;
        emit DeviceAdded(deviceId);
    }

    /// @notice Stop allowing a device, at once.
    function removeDevice(bytes32 deviceId) external onlyOwner {
        allowedDeviceIds[deviceId] = false;
        emit DeviceRemoved(deviceId);
    }

    /// @notice Set the allow-any-device flag, at once.
    function setAllowAnyDevice(bool allowAny) external onlyOwner {
        allowAnyDevice = allowAny;
        emit AllowAnyDeviceSet(allowAny);
    }

    /// @notice Set the require-up-to-date-TCB flag, at once.
    function setRequireTcbUpToDate(bool requireUpToDate) external onlyOwner {
        requireTcbUpToDate = requireUpToDate;
        emit RequireTcbUpToDateSet(requireUpToDate);
    }

    /// @inheritdoc IAppAuth
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        if (requireTcbUpToDate && keccak256(bytes(bootInfo.tcbStatus)) != _TCB_UP_TO_DATE) {
            return (false, "TCB status is not up to date");
        }
        if (!allowedComposeHashes[bootInfo.composeHash]) {
            return (false, "Compose hash not allowed");
        }
        if (!allowAnyDevice && !allowedDeviceIds[bootInfo.deviceId]) {
            return (false, "Device not allowed");
        }
        return (true, "");
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) public view override(ERC165, IERC165) returns (bool) {
        return interfaceId == type(IAppAuth).interfaceId || interfaceId == _APP_AUTH_BASIC_MANAGEMENT_ID
            || super.supportsInterface(interfaceId);
    }
}
