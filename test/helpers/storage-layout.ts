/**
 * The compiler's storage layout of a contract, as the default build writes it (hardhat.config.ts adds
 * `storageLayout` to its output selection): the tests that check the slots the guest agent proves read it here.
 */
import { readFile } from "node:fs/promises";

import hre from "hardhat";

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
