// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {ITimelockedAppAuth} from "../../../contracts/interfaces/ITimelockedAppAuth.sol";

/// @title AppAuthCalls
/// @notice Calldata for the propose / activate / cancel function of each kind of change, so that tests can treat
/// the five kinds of widening change uniformly.
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
        return abi.encodeCall(ITimelockedAppAuth.proposeNoticePeriod, (uint256(value)));
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
        return abi.encodeCall(ITimelockedAppAuth.activateNoticePeriod, (uint256(value)));
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
        return abi.encodeCall(ITimelockedAppAuth.cancelNoticePeriod, (uint256(value)));
    }

    /// @dev One call to each function restricted to the owner: everything that is neither a view, an activation
    /// nor `acceptOwnership`.
    function ownerOnly(bytes32 composeHash, bytes32 deviceId, uint256 notice, string memory uri, address newOwner)
        internal
        pure
        returns (bytes[] memory calls)
    {
        calls = new bytes[](20);
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
    }
}
