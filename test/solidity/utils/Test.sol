// SPDX-License-Identifier: MIT
// TestBase (for handlers) and Test (for suites) belong together.
// solhint-disable one-contract-per-file

pragma solidity ^0.8.24;

import {Vm, VM_ADDRESS} from "./Vm.sol";

/// @title TestBase
/// @notice What both test contracts and invariant handlers need: the cheatcodes, {bound} and {makeAddr}.
abstract contract TestBase {
    // solhint-disable-next-line const-name-snakecase
    Vm internal constant vm = Vm(VM_ADDRESS);

    /// @notice {bound} was given an empty range.
    error BoundMaxBelowMin(uint256 min, uint256 max);

    /// @dev Maps `x` into `[min, max]` the way forge-std's `bound` does: values already in range are kept (so
    /// dictionary values survive), 0..3 map to min..min+3 and max-3..max map to the top, so that fuzzing hits
    /// the edges; anything else wraps around.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) revert BoundMaxBelowMin(min, max);
        if (x >= min && x <= max) return x;

        uint256 size = max - min + 1;
        if (x <= 3 && size > x) return min + x;
        if (x >= type(uint256).max - 3 && size > type(uint256).max - x) return max - (type(uint256).max - x);

        if (x > max) {
            uint256 rem = (x - max) % size;
            return rem == 0 ? max : min + rem - 1;
        }
        uint256 remBelow = (min - x) % size;
        return remBelow == 0 ? min : max - remBelow + 1;
    }

    /// @dev A 65-byte `r ‖ s ‖ v` signature of `digest`, as ECDSA.recover expects it.
    function signature(uint256 privateKey, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev A deterministic, labelled address for `name`.
    function makeAddr(string memory name) internal returns (address account) {
        account = vm.addr(uint256(keccak256(bytes(name))));
        vm.label(account, name);
    }
}

/// @title Test
/// @notice Base of the Solidity test suites: assertions with messages (delegated to the runner's assertion
/// cheatcodes, which print both values on failure), plus the Foundry invariant-targeting conventions.
abstract contract Test is TestBase {
    /// @dev Foundry's `FuzzSelector`: the functions of `addr` that the invariant fuzzer may call.
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;
    address[] private _excludedSenders;

    // Assertions -----------------------------------------------------------------------------------------------

    function assertTrue(bool condition, string memory message) internal pure {
        vm.assertTrue(condition, message);
    }

    function assertFalse(bool condition, string memory message) internal pure {
        vm.assertFalse(condition, message);
    }

    function assertEq(bool left, bool right, string memory message) internal pure {
        vm.assertEq(left, right, message);
    }

    function assertEq(uint256 left, uint256 right, string memory message) internal pure {
        vm.assertEq(left, right, message);
    }

    function assertEq(address left, address right, string memory message) internal pure {
        vm.assertEq(left, right, message);
    }

    function assertEq(bytes32 left, bytes32 right, string memory message) internal pure {
        vm.assertEq(left, right, message);
    }

    function assertEq(string memory left, string memory right, string memory message) internal pure {
        vm.assertEq(left, right, message);
    }

    function assertEq(bytes memory left, bytes memory right, string memory message) internal pure {
        vm.assertEq(left, right, message);
    }

    function assertLe(uint256 left, uint256 right, string memory message) internal pure {
        vm.assertLe(left, right, message);
    }

    function assertGe(uint256 left, uint256 right, string memory message) internal pure {
        vm.assertGe(left, right, message);
    }

    // Invariant targeting (read by the runner through the public getters below) ---------------------------------

    /// @dev Restricts the invariant fuzzer to calling `target` (and other targeted contracts).
    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    /// @dev Restricts the invariant fuzzer to the given functions of `selector.addr`.
    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    /// @dev Keeps the invariant fuzzer from sending calls from `sender`.
    function excludeSender(address sender) internal {
        _excludedSenders.push(sender);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    function excludeSenders() public view returns (address[] memory) {
        return _excludedSenders;
    }
}
