// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The few cheatcodes the ReplicationRegistry Solidity tests use (forge-std's `Vm` is not on npm).
interface RegistryVm {
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function prank(address sender) external;
    function warp(uint256 timestamp) external;
    function chainId(uint256 newChainId) external;
    function assume(bool condition) external pure;
    function expectRevert(bytes calldata revertData) external;
}
