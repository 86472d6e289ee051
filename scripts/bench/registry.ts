/**
 * Gas of ReplicationRegistry's operations, one each on a realistic node, and of `register` and `onboard` at 1, 100 and
 * 1,000 members: every operation must be O(1) in the membership. The measuring itself is shared with the gas test
 * (test/helpers/registryGas.ts).
 */
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import { createBenchConnection } from "./gas.js";
import { measureRegistryGas, realisticPayload } from "../../test/helpers/registryGas.js";
import type { RegistryGasPoint, RegistryOperationsGas } from "../../test/helpers/registryGas.js";

export const MEMBER_COUNTS = [1, 100, 1000] as const;

export interface RegistryGas {
  operations: RegistryOperationsGas;
  points: RegistryGasPoint[];
  /** max / min over the member counts. */
  registerSpread: number;
  onboardSpread: number;
}

export function spread(values: readonly bigint[]): number {
  const max = values.reduce((a, b) => (b > a ? b : a));
  const min = values.reduce((a, b) => (b < a ? b : a));
  return Number(max) / Number(min);
}

export async function benchRegistryGas(hre: HardhatRuntimeEnvironment): Promise<RegistryGas> {
  const { ethers, networkHelpers } = await createBenchConnection(hre);
  const { points, operations } = await measureRegistryGas(
    ethers,
    networkHelpers,
    MEMBER_COUNTS,
    await realisticPayload(),
  );
  return {
    operations,
    points,
    registerSpread: spread(points.map((p) => p.register)),
    onboardSpread: spread(points.map((p) => p.onboard)),
  };
}
