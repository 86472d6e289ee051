/**
 * The compiler's storage layout of a contract, as the default build writes it (hardhat.config.ts adds
 * `storageLayout` to its output selection): the tests that check the slots the guest agent proves read it here.
 */
import { expect } from "chai";
import { readFile } from "node:fs/promises";

import hre from "hardhat";

import type { StorageVariable } from "../../lib/verified/timelockedAppAuth.js";

export interface LayoutEntry {
  label: string;
  slot: string;
  offset: number;
  type: string;
}
export interface LayoutType {
  encoding: string;
  label: string;
  numberOfBytes: string;
  members?: LayoutEntry[];
  value?: string;
}
export interface StorageLayout {
  storage: LayoutEntry[];
  types: Record<string, LayoutType>;
}

/** A type id without the AST ids the compiler numbers it with: t_struct(Proposal)14527_storage → t_struct(Proposal)_storage. */
export const stripIds = (type: string) => type.replace(/\)\d+/g, ")");

export async function layoutOf(contract: string): Promise<StorageLayout> {
  const id = await hre.artifacts.getBuildInfoId(contract);
  if (id === undefined) throw new Error(`no build info for ${contract}: run npx hardhat compile`);
  const outputPath = await hre.artifacts.getBuildInfoOutputPath(id);
  if (outputPath === undefined) throw new Error(`no build output for ${contract}`);
  const output = JSON.parse(await readFile(outputPath, "utf8")) as {
    output: { contracts: Record<string, Record<string, { storageLayout?: StorageLayout }>> };
  };
  for (const contracts of Object.values(output.output.contracts)) {
    const layout = contracts[contract]?.storageLayout;
    if (layout !== undefined) return layout;
  }
  throw new Error(`the build of ${contract} has no storageLayout: is it in hardhat.config.ts's outputSelection?`);
}

/**
 * Expects `defined` (lib/verified's description of a contract's storage variables, in declaration order) to name
 * every variable of `layout`, each at the compiler's slot, offset, size and type (and struct name, when it gives one).
 */
export function expectStorageVariables(layout: StorageLayout, defined: Record<string, StorageVariable>): void {
  const variables = Object.values(defined);
  expect(variables.map((v) => v.label)).to.deep.equal(layout.storage.map((entry) => entry.label));
  for (const variable of variables) {
    const entry = layout.storage.find((e) => e.label === variable.label)!;
    expect(BigInt(entry.slot), `${variable.label} slot`).to.equal(variable.slot);
    expect(entry.offset, `${variable.label} offset`).to.equal(variable.offset);
    expect(stripIds(entry.type), `${variable.label} type`).to.equal(variable.type);
    if (variable.typeLabel !== undefined)
      expect(layout.types[entry.type]!.label, `${variable.label} struct`).to.equal(variable.typeLabel);
    expect(Number(layout.types[entry.type]!.numberOfBytes), `${variable.label} size`).to.equal(variable.bytes);
  }
}

/** Where lib/verified expects one member of a struct: slot from the struct's start, offset and size. */
export type StructMembers = Record<string, { slot: bigint; offset: number; bytes: number }>;

/** Expects the struct `type` (`name` in messages) to have exactly `members`, in order, where the compiler puts them. */
export function expectStructMembers(
  layout: StorageLayout,
  name: string,
  type: LayoutType | undefined,
  members: StructMembers,
): void {
  expect(type, name).to.not.equal(undefined);
  expect(
    type!.members!.map((m) => m.label),
    name,
  ).to.deep.equal(Object.keys(members));
  for (const member of type!.members!) {
    const expected = members[member.label]!;
    expect(BigInt(member.slot), `${name}.${member.label} slot`).to.equal(expected.slot);
    expect(member.offset, `${name}.${member.label} offset`).to.equal(expected.offset);
    expect(Number(layout.types[member.type]!.numberOfBytes), `${name}.${member.label} size`).to.equal(expected.bytes);
  }
}
