/**
 * The slots the guest agent reads from TimelockedAppAuth are the compiler's: every entry of APP_AUTH_STORAGE and of
 * its structs is compared with the `storageLayout` of the build (hardhat.config.ts asks solc for it). A change of the
 * contract's storage (a new variable, a reordering, a struct that grows) fails here, not in a running agent.
 */
import { expect } from "chai";

import { APP_AUTH_STORAGE, STRUCT_MEMBERS } from "../../lib/verified/timelockedAppAuth.js";
import {
  expectStorageVariables,
  expectStructMembers,
  layoutOf,
  stripIds,
  type StorageLayout,
} from "../helpers/storage-layout.js";

describe("TimelockedAppAuth's storage layout, as the guest agent reads it", function () {
  let layout: StorageLayout;
  before(async function () {
    layout = await layoutOf("TimelockedAppAuth");
  });

  it("names every storage variable, at the compiler's slot, offset, size and type", function () {
    expectStorageVariables(layout, APP_AUTH_STORAGE);
  });

  it("lays out EnumerableSet, Policy, ComposeHashEntry and Proposal as the agent derives their slots", function () {
    // The compiler's name of each struct STRUCT_MEMBERS describes.
    const labels: Record<keyof typeof STRUCT_MEMBERS, string> = {
      Bytes32Set: "struct EnumerableSet.Bytes32Set",
      Set: "struct EnumerableSet.Set",
      Policy: "struct TimelockedAppAuth.Policy",
      ComposeHashEntry: "struct TimelockedAppAuth.ComposeHashEntry",
      Proposal: "struct TimelockedAppAuth.Proposal",
    };
    const struct = (name: string) =>
      Object.values(layout.types).find((type) => type.label === labels[name as keyof typeof STRUCT_MEMBERS]);
    for (const [name, members] of Object.entries(STRUCT_MEMBERS))
      expectStructMembers(layout, name, struct(name), members);
    // Set._positions maps a bytes32 to its index + 1: the agent reads "allowed" as "position ≠ 0".
    const positions = struct("Set")!.members!.find((m) => m.label === "_positions")!;
    expect(stripIds(positions.type)).to.equal("t_mapping(t_bytes32,t_uint256)");
    // The agent reads a compose hash's status as a number: the contract's enum None, Proposed, Allowed.
    const status = struct("ComposeHashEntry")!.members!.find((m) => m.label === "status")!;
    expect(layout.types[status.type]!.label).to.equal("enum TimelockedAppAuth.ComposeHashStatus");
  });
});
