/**
 * The slots the guest agent reads from TimelockedAppAuth are the compiler's: every entry of APP_AUTH_STORAGE and of
 * its structs is compared with the `storageLayout` of the build (hardhat.config.ts asks solc for it). A change of the
 * contract's storage (a new variable, a reordering, a struct that grows) fails here, not in a running agent.
 */
import { expect } from "chai";

import { APP_AUTH_STORAGE, STRUCT_MEMBERS } from "../../lib/verified/timelockedAppAuth.js";
import { layoutOf, stripIds, type StorageLayout } from "../helpers/storage-layout.js";

describe("TimelockedAppAuth's storage layout, as the guest agent reads it", function () {
  let layout: StorageLayout;
  before(async function () {
    layout = await layoutOf("TimelockedAppAuth");
  });

  it("names every storage variable, at the compiler's slot, offset, size and type", function () {
    const defined = Object.values(APP_AUTH_STORAGE);
    expect(defined.map((v) => v.label)).to.deep.equal(layout.storage.map((entry) => entry.label));
    for (const variable of defined) {
      const entry = layout.storage.find((e) => e.label === variable.label)!;
      expect(BigInt(entry.slot), `${variable.label} slot`).to.equal(variable.slot);
      expect(entry.offset, `${variable.label} offset`).to.equal(variable.offset);
      expect(stripIds(entry.type), `${variable.label} type`).to.equal(variable.type);
      if ("typeLabel" in variable)
        expect(layout.types[entry.type]!.label, `${variable.label} struct`).to.equal(variable.typeLabel);
      expect(Number(layout.types[entry.type]!.numberOfBytes), `${variable.label} size`).to.equal(variable.bytes);
    }
    expect(layout.types["t_string_storage"]?.encoding).to.equal("bytes");
  });

  it("lays out EnumerableSet, DatedSet and Proposal as the agent derives their slots", function () {
    // The compiler's name of each struct STRUCT_MEMBERS describes.
    const labels: Record<keyof typeof STRUCT_MEMBERS, string> = {
      Bytes32Set: "struct EnumerableSet.Bytes32Set",
      Set: "struct EnumerableSet.Set",
      DatedSet: "struct DatedSet.Set",
      Proposal: "struct TimelockedAppAuth.Proposal",
    };
    const struct = (name: string) =>
      Object.values(layout.types).find((type) => type.label === labels[name as keyof typeof STRUCT_MEMBERS]);
    for (const [name, members] of Object.entries(STRUCT_MEMBERS)) {
      const type = struct(name);
      expect(type, name).to.not.equal(undefined);
      expect(
        type!.members!.map((m) => m.label),
        name,
      ).to.deep.equal(Object.keys(members));
      for (const member of type!.members!) {
        const expected = (members as Record<string, { slot: bigint; offset: number; bytes: number }>)[member.label]!;
        expect(BigInt(member.slot), `${name}.${member.label} slot`).to.equal(expected.slot);
        expect(member.offset, `${name}.${member.label} offset`).to.equal(expected.offset);
        expect(Number(layout.types[member.type]!.numberOfBytes), `${name}.${member.label} size`).to.equal(
          expected.bytes,
        );
      }
    }
    // Set._positions maps a bytes32 to its index + 1: the agent reads "allowed" as "position ≠ 0".
    const positions = struct("Set")!.members!.find((m) => m.label === "_positions")!;
    expect(stripIds(positions.type)).to.equal("t_mapping(t_bytes32,t_uint256)");
    // DatedSet.entries maps a bytes32 to `position | joinedAt << 64`: "allowed" is "entry ≠ 0" there too.
    const entries = struct("DatedSet")!.members!.find((m) => m.label === "entries")!;
    expect(stripIds(entries.type)).to.equal("t_mapping(t_bytes32,t_uint256)");
  });
});
