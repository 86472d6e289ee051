// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {ITimelockedAppAuth} from "../../../contracts/interfaces/ITimelockedAppAuth.sol";

/// @title AppAuthCalls
/// @notice Calldata for the propose / activate / cancel function of each kind of change, so that tests can treat
/// the kinds of widening change uniformly. For the OS kinds, `value` is the OS measurement (`Add…`) or zero
/// (`Unpin…`); the field follows from the kind.
library AppAuthCalls {
    /// @dev The proposal id, computed independently of the contract: `keccak256(abi.encode(kind, value))`.
    function id(ITimelockedAppAuth.ChangeKind kind, bytes32 value) internal pure returns (bytes32) {
        return keccak256(abi.encode(kind, value));
    }

    function propose(ITimelockedAppAuth.ChangeKind kind, bytes32 value, string memory uri)
        internal
        pure
        returns (bytes memory)
    {
        if (kind == ITimelockedAppAuth.ChangeKind.AddComposeHash) {
            return abi.encodeCall(ITimelockedAppAuth.proposeComposeHash, (value, uri));
        }
        if (kind == ITimelockedAppAuth.ChangeKind.AddDevice) {
            return abi.encodeCall(ITimelockedAppAuth.proposeDevice, (value));
        }
        if (kind == ITimelockedAppAuth.ChangeKind.AllowAnyDevice) {
            return abi.encodeCall(ITimelockedAppAuth.proposeAllowAnyDevice, ());
        }
        if (kind == ITimelockedAppAuth.ChangeKind.AllowOutdatedTcb) {
            return abi.encodeCall(ITimelockedAppAuth.proposeAllowOutdatedTcb, ());
        }
        if (kind == ITimelockedAppAuth.ChangeKind.ShortenNotice) {
            return abi.encodeCall(ITimelockedAppAuth.proposeNoticePeriod, (uint256(value)));
        }
        if (isOsAddition(kind)) return abi.encodeCall(ITimelockedAppAuth.proposeOsMeasurement, (osField(kind), value));
        return abi.encodeCall(ITimelockedAppAuth.proposeUnpinOs, (osField(kind)));
    }

    function activate(ITimelockedAppAuth.ChangeKind kind, bytes32 value) internal pure returns (bytes memory) {
        if (kind == ITimelockedAppAuth.ChangeKind.AddComposeHash) {
            return abi.encodeCall(ITimelockedAppAuth.activateComposeHash, (value));
        }
        if (kind == ITimelockedAppAuth.ChangeKind.AddDevice) {
            return abi.encodeCall(ITimelockedAppAuth.activateDevice, (value));
        }
        if (kind == ITimelockedAppAuth.ChangeKind.AllowAnyDevice) {
            return abi.encodeCall(ITimelockedAppAuth.activateAllowAnyDevice, ());
        }
        if (kind == ITimelockedAppAuth.ChangeKind.AllowOutdatedTcb) {
            return abi.encodeCall(ITimelockedAppAuth.activateAllowOutdatedTcb, ());
        }
        if (kind == ITimelockedAppAuth.ChangeKind.ShortenNotice) {
            return abi.encodeCall(ITimelockedAppAuth.activateNoticePeriod, (uint256(value)));
        }
        if (isOsAddition(kind)) return abi.encodeCall(ITimelockedAppAuth.activateOsMeasurement, (osField(kind), value));
        return abi.encodeCall(ITimelockedAppAuth.activateUnpinOs, (osField(kind)));
    }

    function cancel(ITimelockedAppAuth.ChangeKind kind, bytes32 value) internal pure returns (bytes memory) {
        if (kind == ITimelockedAppAuth.ChangeKind.AddComposeHash) {
            return abi.encodeCall(ITimelockedAppAuth.cancelComposeHash, (value));
        }
        if (kind == ITimelockedAppAuth.ChangeKind.AddDevice) {
            return abi.encodeCall(ITimelockedAppAuth.cancelDevice, (value));
        }
        if (kind == ITimelockedAppAuth.ChangeKind.AllowAnyDevice) {
            return abi.encodeCall(ITimelockedAppAuth.cancelAllowAnyDevice, ());
        }
        if (kind == ITimelockedAppAuth.ChangeKind.AllowOutdatedTcb) {
            return abi.encodeCall(ITimelockedAppAuth.cancelAllowOutdatedTcb, ());
        }
        if (kind == ITimelockedAppAuth.ChangeKind.ShortenNotice) {
            return abi.encodeCall(ITimelockedAppAuth.cancelNoticePeriod, (uint256(value)));
        }
        if (isOsAddition(kind)) return abi.encodeCall(ITimelockedAppAuth.cancelOsMeasurement, (osField(kind), value));
        return abi.encodeCall(ITimelockedAppAuth.cancelUnpinOs, (osField(kind)));
    }

    /// @dev Whether `kind` adds a value to an OS pin (`AddMrSystem`, `AddOsImageHash`).
    function isOsAddition(ITimelockedAppAuth.ChangeKind kind) internal pure returns (bool) {
        return kind == ITimelockedAppAuth.ChangeKind.AddMrSystem || kind == ITimelockedAppAuth.ChangeKind.AddOsImageHash;
    }

    /// @dev The OS measurement an OS kind is about.
    function osField(ITimelockedAppAuth.ChangeKind kind) internal pure returns (ITimelockedAppAuth.OsMeasurement) {
        return kind == ITimelockedAppAuth.ChangeKind.AddMrSystem || kind == ITimelockedAppAuth.ChangeKind.UnpinMrSystem
            ? ITimelockedAppAuth.OsMeasurement.MrSystem
            : ITimelockedAppAuth.OsMeasurement.OsImageHash;
    }

    /// @dev The kind that adds a value to `field`'s pin, and the one that unpins it.
    function addOs(ITimelockedAppAuth.OsMeasurement field) internal pure returns (ITimelockedAppAuth.ChangeKind) {
        return field == ITimelockedAppAuth.OsMeasurement.MrSystem
            ? ITimelockedAppAuth.ChangeKind.AddMrSystem
            : ITimelockedAppAuth.ChangeKind.AddOsImageHash;
    }

    function unpinOs(ITimelockedAppAuth.OsMeasurement field) internal pure returns (ITimelockedAppAuth.ChangeKind) {
        return field == ITimelockedAppAuth.OsMeasurement.MrSystem
            ? ITimelockedAppAuth.ChangeKind.UnpinMrSystem
            : ITimelockedAppAuth.ChangeKind.UnpinOsImageHash;
    }

    /// @dev One call to each function restricted to the owner: everything that is neither a view, an activation
    /// nor `acceptOwnership`.
    function ownerOnly(
        bytes32 composeHash,
        bytes32 deviceId,
        uint256 notice,
        string memory uri,
        address newOwner,
        bytes32 osValue
    ) internal pure returns (bytes[] memory calls) {
        calls = new bytes[](32);
        calls[0] = abi.encodeCall(ITimelockedAppAuth.proposeComposeHash, (composeHash, uri));
        calls[1] = abi.encodeCall(ITimelockedAppAuth.cancelComposeHash, (composeHash));
        calls[2] = abi.encodeCall(ITimelockedAppAuth.proposeDevice, (deviceId));
        calls[3] = abi.encodeCall(ITimelockedAppAuth.cancelDevice, (deviceId));
        calls[4] = abi.encodeCall(ITimelockedAppAuth.proposeAllowAnyDevice, ());
        calls[5] = abi.encodeCall(ITimelockedAppAuth.cancelAllowAnyDevice, ());
        calls[6] = abi.encodeCall(ITimelockedAppAuth.proposeAllowOutdatedTcb, ());
        calls[7] = abi.encodeCall(ITimelockedAppAuth.cancelAllowOutdatedTcb, ());
        calls[8] = abi.encodeCall(ITimelockedAppAuth.proposeNoticePeriod, (notice));
        calls[9] = abi.encodeCall(ITimelockedAppAuth.cancelNoticePeriod, (notice));
        calls[10] = abi.encodeCall(ITimelockedAppAuth.removeComposeHash, (composeHash));
        calls[11] = abi.encodeCall(ITimelockedAppAuth.removeDevice, (deviceId));
        calls[12] = abi.encodeCall(ITimelockedAppAuth.restrictDevices, ());
        calls[13] = abi.encodeCall(ITimelockedAppAuth.requireUpToDateTcb, ());
        calls[14] = abi.encodeCall(ITimelockedAppAuth.lengthenNoticePeriod, (notice));
        calls[15] = abi.encodeCall(ITimelockedAppAuth.rollBackTo, (composeHash));
        calls[16] = abi.encodeCall(ITimelockedAppAuth.disableUpgrades, ());
        calls[17] = abi.encodeCall(Ownable.renounceOwnership, ());
        calls[18] = abi.encodeCall(Ownable.transferOwnership, (newOwner));
        calls[19] = abi.encodeCall(ITimelockedAppAuth.activateComposeHashAndRetire, (composeHash, new bytes32[](0)));
        for (uint256 f = 0; f < 2; ++f) {
            ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement(f);
            uint256 at = 20 + 6 * f;
            calls[at] = abi.encodeCall(ITimelockedAppAuth.pinOs, (field, osValue));
            calls[at + 1] = abi.encodeCall(ITimelockedAppAuth.removeOsMeasurement, (field, osValue));
            calls[at + 2] = abi.encodeCall(ITimelockedAppAuth.proposeOsMeasurement, (field, osValue));
            calls[at + 3] = abi.encodeCall(ITimelockedAppAuth.cancelOsMeasurement, (field, osValue));
            calls[at + 4] = abi.encodeCall(ITimelockedAppAuth.proposeUnpinOs, (field));
            calls[at + 5] = abi.encodeCall(ITimelockedAppAuth.cancelUnpinOs, (field));
        }
    }
}
