// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

/// @title IAppAuth
/// @notice The interface dstack's KMS calls at every boot of an app to decide whether it gets its keys.
/// @dev Must match dstack's `IAppAuth` byte for byte: the field order of {AppBootInfo} is part of the
/// selector of {isAppAllowed}, and both the selector and `type(IAppAuth).interfaceId` are `0x1e079198`.
/// Implementations answer `supportsInterface(0x1e079198)` with true.
interface IAppAuth is IERC165 {
    /// @notice What a booting CVM reports about itself, as dstack's KMS passes it.
    /// @param appId The app's id, which is the address of its auth contract.
    /// @param composeHash sha256 of the exact bytes of the CVM's `app-compose.json`.
    /// @param instanceId The id of this CVM instance.
    /// @param deviceId The id of the physical TDX machine.
    /// @param mrAggregated Aggregated measurement of the CVM.
    /// @param mrSystem Measurement of the system part of the CVM.
    /// @param osImageHash Hash of the OS image the CVM booted.
    /// @param tcbStatus The TCB status from quote verification, e.g. "UpToDate".
    /// @param advisoryIds Intel security advisories that apply to the platform.
    struct AppBootInfo {
        address appId;
        bytes32 composeHash;
        address instanceId;
        bytes32 deviceId;
        bytes32 mrAggregated;
        bytes32 mrSystem;
        bytes32 osImageHash;
        string tcbStatus;
        string[] advisoryIds;
    }

    /// @notice Whether an app may boot with `bootInfo`, and if not, why.
    /// @return isAllowed True when the app may boot and receive its keys.
    /// @return reason Empty when allowed; otherwise a human-readable reason.
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason);
}
