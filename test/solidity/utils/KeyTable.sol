// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./Test.sol";

/// @title KeyTable
/// @notice Secp256k1 keys whose compressed public keys were computed off-chain (the runner has no cheatcode that
/// returns a public key): key `i` is `uint256(keccak256(abi.encodePacked("replication test key", i)))`.
/// `test_keyTable_holdsThePublicKeysOfThePrivateKeys` (ReplicationRegistryKeyChain.t.sol) checks every entry.
abstract contract KeyTable is TestBase {
    /// @dev How many keys the table holds.
    uint256 internal constant TABLE_KEYS = 24;

    /// @dev The 33-byte compressed public keys of keys 0 .. TABLE_KEYS - 1, one after the other.
    bytes private constant _PUBLIC_KEYS =
        hex"03fa926d409fa4097450b3218aa270561420f30ed5bbbf4c7376f7a81d1da24234025361902e86b4341deb202a96559f0a7de9fcd7a301d13b4bb68508c7dcafffa30308d5f2acca81c642b3993bfa6936c9a1e408d76d6010f4dc9832a910333204ab02413137e9fdbd07d393fbba7e5f34f86705106c1446124e5325d07d9f52eaeb09"
        hex"02baefb526af88fbc3c0d786b946e697f6d19bf5dd57c7b4a130bc018da841397103141cfb2b77f3215c3d769a25618a615ce97f82ac6a706d1f98e140094e157fc902c8487048f298457895abe5034b675337c33b8dfe02f03efdc34b72f87a8547ef0383bc72264e821fddf97cc9793d8a4ea595ba4f9b4ca975271766f999bcc4cac6"
        hex"039c1adb8d90b69a6f7f340ccfbd0b8b8788149d991db891ad16c5441c3d9f2b2902c4cf1b63448cbd49f962062870caf66f4340564090cff8443a046e0d79453da702d4f7c3dacdc609e445f2f639cc6b5c06eb9bfc9e52278025181cfe9cfb63396402842891c2c4537e220b6b366457d5e82ab8fdbda73fb9862c757d0e7173896af1"
        hex"03ce0ad193cf8e05f1f537b34e0febcf73b7607b13f31383585cf0307da57b99810340b8b33a0f7819cf138c3d986a6845c36743fc3a4b77f2373fe31820d92b0df7022b89108e04bc0921fb38437d86987abf165bb93783ff5e82e39c4e9866323ff5027ce8cca63d7ed9cc5f3bf742b0ba66bef18716d4e2e56a66f287546d914f62af"
        hex"02a0b8a55cdbe2fc8aa97ce1a0ebcc94ba6331473aa3521cfbc7cda2902efbbb93039cc2b9200d14a50fd9a50bcdb3b1b769f41464106e5e1547d3394e9d1e2301cd0292650b2a86b746b6043549d39b6c17497e94ffb1dd5676ef4c8aac78bbb2e82c03ee532111c606941561ff5d8a1095700c1b9894cd885b5ed3142048d61ecd58e6"
        hex"027f8a2a329381346370a8ea6deeeb1bcabe7cd6486212ef5c7243ee20530e7d7102d3bf60fa109aeb519b264440bd4a7062addd83f3b1ed254b65f0faed82251c46029490ba38fe6a8a27037e1a4564995d76f1ce4e6034ccc1a3da24ff8964fb02e2026878e17b81cf209a43064e102c000184410322c7a8a9b62b77f554c27a98abd9";

    /// @dev The private key at `index`.
    function _tableKey(uint256 index) internal pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked("replication test key", index)));
    }

    /// @dev The compressed public key of {_tableKey}(`index`).
    function _tablePublicKey(uint256 index) internal pure returns (bytes memory key) {
        bytes memory table = _PUBLIC_KEYS;
        key = new bytes(33);
        for (uint256 i = 0; i < 33; ++i) {
            key[i] = table[index * 33 + i];
        }
    }

    /// @dev A dstack signature of `digest`: `r ‖ s ‖ v` with v in {0, 1} (no 27/28 offset).
    function _dstackSignature(uint256 privateKey, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, digest);
        return abi.encodePacked(r, s, v - 27);
    }
}
