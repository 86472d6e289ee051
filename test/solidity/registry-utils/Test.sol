// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RegistryVm} from "./Vm.sol";

/// @notice The cheatcode handle and a signing helper, for tests and their invariant handlers.
abstract contract RegistryCheats {
    RegistryVm internal constant vm = RegistryVm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @dev A 65-byte `r ‖ s ‖ v` signature of `digest`.
    function signature(uint256 privateKey, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev `value` mapped into `[min, max]`.
    function bound(uint256 value, uint256 min, uint256 max) internal pure returns (uint256) {
        return min + value % (max - min + 1);
    }
}

/// @notice A minimal test base: assertions that revert with a message, and the invariant target list the runner
/// reads.
abstract contract RegistryTest is RegistryCheats {
    address[] private _targetContracts;

    /// @dev Read by the invariant runner: only these contracts are called.
    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    function targetContract(address target) internal {
        _targetContracts.push(target);
    }

    function assertTrue(bool condition, string memory message) internal pure {
        require(condition, message);
    }

    function assertEq(uint256 a, uint256 b, string memory message) internal pure {
        if (a != b) revert(string.concat(message, ": ", _toString(a), " != ", _toString(b)));
    }

    function assertEq(address a, address b, string memory message) internal pure {
        require(a == b, message);
    }

    function _toString(uint256 value) private pure returns (string memory) {
        if (value == 0) return "0";
        bytes memory digits;
        while (value != 0) {
            digits = bytes.concat(bytes1(uint8(48 + (value % 10))), digits);
            value /= 10;
        }
        return string(digits);
    }
}
