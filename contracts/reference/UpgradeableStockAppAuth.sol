// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// dstack's DstackApp reverts with strings ("invalid owner address", "Upgrades are permanently disabled"), as here.
// solhint-disable gas-custom-errors

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";
import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

import {IAppAuth} from "../interfaces/IAppAuth.sol";

/// @title UpgradeableStockAppAuth
/// @notice A baseline that behaves like dstack's current `DstackApp` as dstack deploys it: an implementation behind an
/// ERC-1967 proxy, initialised through the proxy, upgradeable by its owner (UUPS) until upgrades are disabled, the
/// owner changing the policy INSTANTLY, each change announced with dstack's event and its `PolicyChanged` audit event.
/// It exists to be measured against (scripts/bench/: the app users have, asked through the KMS). Do not deploy it for
/// a real app.
/// @dev Written from `DstackApp`'s published behaviour (dstack's `kms/auth-eth/contracts/DstackApp.sol`), not its
/// source: same functions, getters, events, check order and reason strings, the same order of its own storage words
/// (the compose-hash mapping; the upgrades-disabled and allow-any-device flags sharing a word; the device mapping; the
/// TCB flag in a word of its own), so a call reads and writes as many words as upstream's. Upstream keeps the owner in
/// OpenZeppelin's namespaced (ERC-7201) slot; here it is `Ownable`'s first slot, which costs the same to read.
contract UpgradeableStockAppAuth is Initializable, Ownable2Step, UUPSUpgradeable, ERC165, IAppAuth {
    bytes4 private constant _APP_AUTH_BASIC_MANAGEMENT_ID = 0x8fd37527;
    bytes32 private constant _TCB_UP_TO_DATE = keccak256("UpToDate");

    /// @notice Whether a compose hash is allowed.
    mapping(bytes32 composeHash => bool allowed) public allowedComposeHashes;
    bool private _upgradesDisabled;
    /// @notice Whether any device is allowed.
    bool public allowAnyDevice;
    /// @notice Whether a device is allowed.
    mapping(bytes32 deviceId => bool allowed) public allowedDeviceIds;
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
    /// @notice Upgrades were disabled for good.
    event UpgradesDisabled();
    /// @notice dstack's audit event, next to each change (`policy` is the keccak256 of its label).
    event PolicyChanged(address indexed actor, bytes32 indexed policy, bytes32 indexed value, bool enabled);

    /// @dev The implementation itself is never initialised; its owner (the deployer) owns nothing that matters,
    /// since every call that counts goes through a proxy's storage.
    constructor() Ownable(msg.sender) {
        _disableInitializers();
    }

    /// @notice Set up a proxy's policy (dstack's newer `initialize`, with the TCB flag).
    /// @param initialOwner Who may change the policy and upgrade the implementation.
    /// @param initialUpgradesDisabled Whether upgrades are disabled from the start.
    /// @param initialRequireTcbUpToDate Whether only "UpToDate" TCBs are allowed.
    /// @param initialAllowAnyDevice Whether any device is allowed.
    /// @param initialDeviceId A device allowed from the start, or zero.
    /// @param initialComposeHash A compose hash allowed from the start, or zero.
    function initialize(
        address initialOwner,
        bool initialUpgradesDisabled,
        bool initialRequireTcbUpToDate,
        bool initialAllowAnyDevice,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) external initializer {
        require(initialOwner != address(0), "invalid owner address");
        requireTcbUpToDate = initialRequireTcbUpToDate;
        _upgradesDisabled = initialUpgradesDisabled;
        allowAnyDevice = initialAllowAnyDevice;
        if (initialDeviceId != bytes32(0)) {
            allowedDeviceIds[initialDeviceId] = true;
            emit DeviceAdded(initialDeviceId);
            _policyChanged("device", initialDeviceId, true);
        }
        if (initialComposeHash != bytes32(0)) {
            allowedComposeHashes[initialComposeHash] = true;
            emit ComposeHashAdded(initialComposeHash);
            _policyChanged("compose-hash", initialComposeHash, true);
        }
        _transferOwnership(initialOwner);
    }

    /// @notice Allow a compose hash, at once.
    function addComposeHash(bytes32 composeHash) external onlyOwner {
        allowedComposeHashes[composeHash] = true;
        emit ComposeHashAdded(composeHash);
        _policyChanged("compose-hash", composeHash, true);
    }

    /// @notice Stop allowing a compose hash, at once.
    function removeComposeHash(bytes32 composeHash) external onlyOwner {
        allowedComposeHashes[composeHash] = false;
        emit ComposeHashRemoved(composeHash);
        _policyChanged("compose-hash", composeHash, false);
    }

    /// @notice Allow a device, at once.
    function addDevice(bytes32 deviceId) external onlyOwner {
        allowedDeviceIds[deviceId] = true;
        emit DeviceAdded(deviceId);
        _policyChanged("device", deviceId, true);
    }

    /// @notice Stop allowing a device, at once.
    function removeDevice(bytes32 deviceId) external onlyOwner {
        allowedDeviceIds[deviceId] = false;
        emit DeviceRemoved(deviceId);
        _policyChanged("device", deviceId, false);
    }

    /// @notice Set the allow-any-device flag, at once.
    function setAllowAnyDevice(bool allowAny) external onlyOwner {
        allowAnyDevice = allowAny;
        emit AllowAnyDeviceSet(allowAny);
        _policyChanged("allow-any-device", bytes32(0), allowAny);
    }

    /// @notice Set the require-up-to-date-TCB flag, at once.
    function setRequireTcbUpToDate(bool requireUpToDate) external onlyOwner {
        requireTcbUpToDate = requireUpToDate;
        emit RequireTcbUpToDateSet(requireUpToDate);
        _policyChanged("require-tcb-up-to-date", bytes32(0), requireUpToDate);
    }

    /// @notice Disable upgrades for good.
    function disableUpgrades() external onlyOwner {
        _upgradesDisabled = true;
        emit UpgradesDisabled();
        _policyChanged("upgrades-disabled", bytes32(0), true);
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

    /// @dev Only the owner upgrades, and not once upgrades are disabled; the upgrade is announced like a policy change.
    function _authorizeUpgrade(address newImplementation) internal override onlyOwner {
        // Upstream's exact reason string, longer than 32 bytes.
        // solhint-disable-next-line reason-string, gas-small-strings
        require(!_upgradesDisabled, "Upgrades are permanently disabled");
        _policyChanged("implementation-upgrade", bytes32(uint256(uint160(newImplementation))), true);
    }

    /// @dev As upstream, the label is hashed when the event is emitted.
    function _policyChanged(string memory policy, bytes32 value, bool enabled) private {
        emit PolicyChanged(msg.sender, keccak256(bytes(policy)), value, enabled);
    }
}
