// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

import {ITimelockedAppAuth} from "../interfaces/ITimelockedAppAuth.sol";

/// @title ConstructorProposer
/// @notice An owner that proposes a compose hash from its constructor, so that the proposal's ChangeProposed is in a
/// contract-creation transaction, as the genesis release's is. The app's owner must have offered it the ownership
/// (`transferOwnership` to its address, known before it is deployed).
contract ConstructorProposer {
    constructor(address appAuth, bytes32 composeHash, string memory uri) {
        Ownable2Step(appAuth).acceptOwnership();
        ITimelockedAppAuth(appAuth).proposeComposeHash(composeHash, uri);
    }
}
