// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @dev Address of the cheatcode contract that Hardhat's (and Foundry's) Solidity test runner serves:
/// `address(uint160(uint256(keccak256("hevm cheat code"))))`.
address constant VM_ADDRESS = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D;

/// @title Vm
/// @notice The few cheatcodes these tests use, with the signatures of Foundry's `Vm` interface (which Hardhat's
/// EDR runner implements). Kept minimal on purpose: forge-std is not installable here, and a short list is easy
/// to check against the runner.
// solhint-disable-next-line interface-starts-with-i
interface Vm {
    /// @notice A log recorded since {recordLogs}.
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);
    // Environment ---------------------------------------------------------------------------------------------

    /// @notice Sets `block.timestamp`.
    function warp(uint256 newTimestamp) external;

    /// @notice The current `block.timestamp`, read through the runner (unaffected by compiler caching).
    function getBlockTimestamp() external view returns (uint256 timestamp);

    /// @notice Sets `block.number`.
    function roll(uint256 newHeight) external;

    /// @notice The word at `slot` of `target`'s storage.
    function load(address target, bytes32 slot) external view returns (bytes32 data);

    // Callers ---------------------------------------------------------------------------------------------------

    /// @notice Sets `msg.sender` for the next call only.
    function prank(address msgSender) external;

    /// @notice Sets `msg.sender` for every call until {stopPrank}.
    function startPrank(address msgSender) external;

    /// @notice Ends a {startPrank}.
    function stopPrank() external;

    // Expectations ----------------------------------------------------------------------------------------------

    /// @notice The next call must revert with exactly `revertData` (e.g. an ABI-encoded custom error).
    function expectRevert(bytes calldata revertData) external;

    /// @notice The next call must revert with exactly the 4 bytes `revertData` (a custom error without arguments).
    function expectRevert(bytes4 revertData) external;

    /// @notice The next call must emit the event emitted next by the test (from any address), matching the topics
    /// and data selected by the flags.
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData) external;

    /// @notice The next call must emit the event emitted next by the test, from `emitter`, matching the topics
    /// and data selected by the flags.
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter)
        external;

    // Fuzzing ---------------------------------------------------------------------------------------------------

    /// @notice Discards the current fuzz input unless `condition` holds.
    function assume(bool condition) external pure;

    // Accounts --------------------------------------------------------------------------------------------------

    /// @notice The address of the account controlled by `privateKey`.
    function addr(uint256 privateKey) external pure returns (address keyAddr);

    /// @notice Signs `digest` (raw, no prefix) with `privateKey`.
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);

    /// @notice Sets `block.chainid`.
    function chainId(uint256 newChainId) external;

    /// @notice Names an address in traces.
    function label(address account, string calldata newLabel) external;

    // Formatting ------------------------------------------------------------------------------------------------

    /// @notice `value` in decimal.
    function toString(uint256 value) external pure returns (string memory stringifiedValue);

    // Assertions (each reverts with "<error>: <left> != <right>"-style messages) ---------------------------------

    function assertTrue(bool condition, string calldata error) external pure;
    function assertFalse(bool condition, string calldata error) external pure;
    function assertEq(bool left, bool right, string calldata error) external pure;
    function assertEq(uint256 left, uint256 right, string calldata error) external pure;
    function assertEq(address left, address right, string calldata error) external pure;
    function assertEq(bytes32 left, bytes32 right, string calldata error) external pure;
    function assertEq(string calldata left, string calldata right, string calldata error) external pure;
    function assertEq(bytes calldata left, bytes calldata right, string calldata error) external pure;
    function assertLe(uint256 left, uint256 right, string calldata error) external pure;
    function assertGe(uint256 left, uint256 right, string calldata error) external pure;
}
