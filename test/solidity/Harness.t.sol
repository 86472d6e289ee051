// SPDX-License-Identifier: MIT
// Test-suite conventions: Foundry test names, descriptive messages, a probe contract next to its tests, low-level
// calls to observe failures.
// solhint-disable func-name-mixedcase, gas-small-strings, avoid-low-level-calls, one-contract-per-file

pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";

/// @dev A tiny contract the harness tests call: reports its caller, reverts and emits on demand.
contract Probe {
    error ProbeFailed(uint256 code, address caller);
    error ProbeRefused();

    event Poked(address indexed caller, uint256 value);

    function sender() external view returns (address) {
        return msg.sender;
    }

    function fail(uint256 code) external view {
        revert ProbeFailed(code, msg.sender);
    }

    function refuse() external pure {
        revert ProbeRefused();
    }

    function poke(uint256 value) external {
        emit Poked(msg.sender, value);
    }
}

/// @title HarnessTest
/// @notice Checks that every cheatcode and helper of `utils/` does what the suites rely on, on this runner.
contract HarnessTest is Test {
    event Poked(address indexed caller, uint256 value);

    Probe private _probe;
    address private _alice;

    function setUp() public {
        _probe = new Probe();
        _alice = makeAddr("alice");
    }

    function test_vmAddress_isTheHevmCheatcodeAddress() public pure {
        assertEq(address(vm), address(uint160(uint256(keccak256("hevm cheat code")))), "cheatcode address");
    }

    function test_warp_setsBlockTimestamp() public {
        vm.warp(1_234_567);
        assertEq(block.timestamp, 1_234_567, "block.timestamp");
        assertEq(vm.getBlockTimestamp(), 1_234_567, "getBlockTimestamp");
    }

    function test_prank_setsSenderForTheNextCallOnly() public {
        vm.prank(_alice);
        assertEq(_probe.sender(), _alice, "pranked call");
        assertEq(_probe.sender(), address(this), "following call");
    }

    function test_startPrank_setsSenderUntilStopPrank() public {
        vm.startPrank(_alice);
        assertEq(_probe.sender(), _alice, "first call");
        assertEq(_probe.sender(), _alice, "second call");
        vm.stopPrank();
        assertEq(_probe.sender(), address(this), "after stopPrank");
    }

    function test_expectRevert_matchesFullCustomError() public {
        vm.expectRevert(abi.encodeWithSelector(Probe.ProbeFailed.selector, 7, address(this)));
        _probe.fail(7);
    }

    function test_expectRevert_matchesErrorWithoutArguments() public {
        vm.expectRevert(Probe.ProbeRefused.selector);
        _probe.refuse();
    }

    /// @dev `expectRevert(bytes4)` matches the whole revert data, not a prefix: an error with arguments needs the
    /// `bytes` overload.
    function test_expectRevert_bytes4DoesNotMatchAnErrorWithArguments() public {
        (bool ok,) = address(this).call(abi.encodeCall(this.expectSelectorOnErrorWithArguments, ()));
        assertFalse(ok, "a bare selector must not match an error with arguments");
    }

    function test_expectRevert_failsOnOtherArguments() public {
        (bool ok,) = address(this).call(abi.encodeCall(this.expectFailWithWrongCode, ()));
        assertFalse(ok, "a mismatched expectRevert must fail");
    }

    function test_expectRevert_failsWhenNothingReverts() public {
        (bool ok,) = address(this).call(abi.encodeCall(this.expectRevertOnSuccess, ()));
        assertFalse(ok, "an expectRevert on a successful call must fail");
    }

    function test_expectEmit_matchesEvent() public {
        vm.expectEmit(true, false, false, true, address(_probe));
        emit Poked(address(this), 42);
        _probe.poke(42);
    }

    function testFuzz_assume_discardsRejectedInputs(uint256 x) public pure {
        vm.assume(x % 2 == 0);
        assertEq(x % 2, 0, "only even inputs get here");
    }

    function test_addr_derivesTheKnownAddressOfKeyOne() public pure {
        assertEq(vm.addr(1), 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf, "vm.addr(1)");
    }

    function test_makeAddr_isDeterministicAndDistinct() public {
        assertEq(makeAddr("alice"), _alice, "same name, same address");
        assertTrue(makeAddr("bob") != _alice, "other name, other address");
    }

    function test_assertions_passOnTrueClaims() public pure {
        assertTrue(true, "assertTrue");
        assertFalse(false, "assertFalse");
        assertEq(true, true, "bool");
        assertEq(uint256(1), uint256(1), "uint256");
        assertEq(address(1), address(1), "address");
        assertEq(bytes32(uint256(1)), bytes32(uint256(1)), "bytes32");
        assertEq(string("a"), string("a"), "string");
        assertEq(bytes(hex"01"), bytes(hex"01"), "bytes");
        assertLe(1, 1, "assertLe equal");
        assertLe(1, 2, "assertLe less");
        assertGe(2, 2, "assertGe equal");
        assertGe(3, 2, "assertGe greater");
    }

    function test_assertions_revertWithMessageAndValuesOnFalseClaims() public view {
        _assertFails(abi.encodeCall(this.failAssertTrue, ()), "t");
        _assertFails(abi.encodeCall(this.failAssertFalse, ()), "f");
        _assertFails(abi.encodeCall(this.failAssertEqUint, ()), "u: 1 != 2");
        _assertFails(abi.encodeCall(this.failAssertLe, ()), "le: 3 > 2");
        _assertFails(abi.encodeCall(this.failAssertGe, ()), "ge: 1 < 2");
        _assertFails(abi.encodeCall(this.failAssertEqString, ()), "s: a != b");
    }

    function test_bound_keepsInRangeValuesAndMapsEdges() public pure {
        assertEq(bound(15, 10, 20), 15, "in range is kept");
        assertEq(bound(0, 10, 20), 10, "0 maps to min");
        assertEq(bound(3, 10, 20), 13, "3 maps to min + 3");
        assertEq(bound(type(uint256).max, 10, 20), 20, "max maps to max");
        assertEq(bound(21, 10, 20), 10, "wraps above");
        assertEq(bound(9, 10, 20), 20, "wraps below");
        assertEq(bound(5, 7, 7), 7, "single-value range");
    }

    function testFuzz_bound_staysInRange(uint256 x, uint256 min, uint256 max) public pure {
        if (min > max) (min, max) = (max, min);
        uint256 y = bound(x, min, max);
        assertGe(y, min, "at least min");
        assertLe(y, max, "at most max");
    }

    // Helpers called through `this` so that their failures can be observed --------------------------------------

    function expectFailWithWrongCode() external {
        vm.expectRevert(abi.encodeWithSelector(Probe.ProbeFailed.selector, 1, address(this)));
        _probe.fail(2);
    }

    function expectRevertOnSuccess() external {
        vm.expectRevert(Probe.ProbeRefused.selector);
        _probe.poke(1);
    }

    function expectSelectorOnErrorWithArguments() external {
        vm.expectRevert(Probe.ProbeFailed.selector);
        _probe.fail(3);
    }

    function failAssertTrue() external pure {
        assertTrue(false, "t");
    }

    function failAssertFalse() external pure {
        assertFalse(true, "f");
    }

    function failAssertEqUint() external pure {
        assertEq(uint256(1), uint256(2), "u");
    }

    function failAssertLe() external pure {
        assertLe(3, 2, "le");
    }

    function failAssertGe() external pure {
        assertGe(1, 2, "ge");
    }

    function failAssertEqString() external pure {
        assertEq(string("a"), string("b"), "s");
    }

    /// @dev The runner's assertion cheatcodes revert with `CheatcodeError(string)`.
    function _assertFails(bytes memory call, string memory expectedMessage) private view {
        (bool ok, bytes memory reason) = address(this).staticcall(call);
        assertFalse(ok, expectedMessage);
        assertEq(reason, abi.encodeWithSignature("CheatcodeError(string)", expectedMessage), expectedMessage);
    }
}

/// @dev A target for {HarnessInvariantTest}: counts calls to `hit`, records any call to `poison`.
contract Target {
    uint256 public hits;
    bool public poisoned;

    function hit() external {
        ++hits;
    }

    function poison() external {
        poisoned = true;
    }
}

/// @title HarnessInvariantTest
/// @notice Checks that `targetContract` / `targetSelector` confine the invariant fuzzer as the suites rely on.
contract HarnessInvariantTest is Test {
    Target private _target;
    Target private _bystander;

    function setUp() public {
        _target = new Target();
        _bystander = new Target();
        targetContract(address(_target));
        bytes4[] memory selectors = new bytes4[](1);
        selectors[0] = Target.hit.selector;
        targetSelector(FuzzSelector({addr: address(_target), selectors: selectors}));
    }

    function invariant_onlyTheTargetedFunctionIsCalled() public view {
        assertFalse(_target.poisoned(), "an untargeted function was called");
        assertEq(_bystander.hits(), 0, "an untargeted contract was called");
        assertFalse(_bystander.poisoned(), "an untargeted contract was called");
    }

    /// @dev Runs after each run's last call: the targeted function was in fact called.
    function afterInvariant() public view {
        assertGe(_target.hits(), 1, "the targeted function was never called");
    }
}
