// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title DatedSet
/// @notice A set of `bytes32` values that also remembers when each value joined, for the same storage writes as
/// OpenZeppelin's `EnumerableSet`: the join time is packed into the word that holds the value's position.
/// @dev Layout (two slots, like `EnumerableSet.Bytes32Set`): `values` is the list; `entries[value]` is
/// `position | (since << 64)` with the 1-based position in the low 64 bits, and zero iff the value is not in the set.
/// Removing a value moves the last one into its place (as `EnumerableSet` does) and deletes the entry.
library DatedSet {
    struct Set {
        bytes32[] values;
        mapping(bytes32 value => uint256 entry) entries;
    }

    uint256 private constant _POSITION_MASK = type(uint64).max;

    /// @dev Adds `value`, joined at `joinedAt`; returns false (and changes nothing) if it is already in the set.
    function add(Set storage set, bytes32 value, uint64 joinedAt) internal returns (bool) {
        if (set.entries[value] != 0) return false;
        set.values.push(value);
        set.entries[value] = set.values.length | (uint256(joinedAt) << 64);
        return true;
    }

    /// @dev Removes `value`; returns false (and changes nothing) if it is not in the set.
    function remove(Set storage set, bytes32 value) internal returns (bool) {
        uint256 entry = set.entries[value];
        if (entry == 0) return false;
        uint256 index = (entry & _POSITION_MASK) - 1;
        uint256 lastIndex = set.values.length - 1;
        if (index != lastIndex) {
            bytes32 last = set.values[lastIndex];
            set.values[index] = last;
            set.entries[last] = (set.entries[last] & ~_POSITION_MASK) | (index + 1);
        }
        set.values.pop();
        delete set.entries[value];
        return true;
    }

    function contains(Set storage set, bytes32 value) internal view returns (bool) {
        return set.entries[value] != 0;
    }

    /// @dev When `value` joined the set; zero if it is not in the set.
    function since(Set storage set, bytes32 value) internal view returns (uint64) {
        return uint64(set.entries[value] >> 64);
    }

    function length(Set storage set) internal view returns (uint256) {
        return set.values.length;
    }

    /// @dev At most `count` values from position `start` (0-based); empty past the end.
    function page(Set storage set, uint256 start, uint256 count) internal view returns (bytes32[] memory out) {
        uint256 total = set.values.length;
        uint256 end = start >= total ? start : (count > total - start ? total : start + count);
        out = new bytes32[](end - start);
        for (uint256 i = start; i < end; ++i) {
            out[i - start] = set.values[i];
        }
    }
}
