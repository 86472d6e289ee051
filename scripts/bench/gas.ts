/**
 * Gas of TimelockedAppAuth against what an app would use instead: the stock-style StockAppAuth (instant changes,
 * like dstack's DstackApp), and the same StockAppAuth owned by OpenZeppelin's TimelockController with the same
 * notice as its minimum delay. Each subject runs the same story on a fresh in-process chain: deploy to the same
 * genesis state, upgrade to a new release, remove the old release, add a device, answer the KMS's boot check.
 */
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { ZeroHash, dataLength, id, toUtf8Bytes, type ContractTransactionResponse } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import { bootInfo, composeHashOf, deviceIdOf } from "../../test/helpers/appAuth.js";
import { GasProfiler, type GasBreakdown } from "./breakdown.js";

/** The notice period of our contract, and the TimelockController's minimum delay. */
export const NOTICE_SECONDS = 7n * 24n * 60n * 60n;
export const GENESIS_COMPOSE_HASH = composeHashOf('{"name":"acme-app","version":1}');
export const GENESIS_URI = "https://releases.example.org/acme-app/v1/app-compose.json";
export const RELEASE_COMPOSE_HASH = composeHashOf('{"name":"acme-app","version":2}');
/** A realistic place to publish a compose file: an https URL of 57 bytes (two 32-byte storage words). */
export const RELEASE_URI = "https://releases.example.org/acme-app/v2/app-compose.json";
export const GENESIS_DEVICE = deviceIdOf("genesis");
export const NEW_DEVICE = deviceIdOf("second machine");

/** One transaction of an operation. */
export interface Step {
  call: string;
  gas: bigint;
  /** Length of the transaction's data (calldata, or init code and constructor arguments). */
  calldataBytes: number;
}

export interface Operation {
  steps: Step[];
  total: bigint;
}

export interface SubjectGas {
  /** Every transaction needed to reach the genesis state: a release, a device, an up-to-date TCB required. */
  deployment: Operation;
  /** Allow a new compose hash: propose + activate, schedule + execute, or one instant call. */
  upgrade: Operation;
  /** Stop allowing the previous release. */
  remove: Operation;
  /** Allow a new device. */
  addDevice: Operation;
  /** `eth_estimateGas` of `isAppAllowed` for an allowed boot (21,000 and calldata included). */
  isAppAllowed: bigint;
}

export interface AppAuthGas {
  ours: SubjectGas;
  baseline: SubjectGas;
  baselineWithTimelock: SubjectGas;
  /** Where the gas of each transaction of the upgrade cycle goes, ours and the TimelockController's. */
  upgradeBreakdowns: { subject: string; call: string; breakdown: GasBreakdown }[];
  releaseUriBytes: number;
  hardfork: string;
}

function operation(steps: Step[]): Operation {
  return { steps, total: steps.reduce((sum, step) => sum + step.gas, 0n) };
}

interface Sent {
  gas: bigint;
  hash: string;
  calldataBytes: number;
}

function step(call: string, sent: Sent): Step {
  return { call, gas: sent.gas, calldataBytes: sent.calldataBytes };
}

async function gasOf(
  pending: Promise<ContractTransactionResponse> | ContractTransactionResponse | null | undefined,
): Promise<Sent> {
  const tx = await pending;
  const receipt = await tx?.wait();
  if (tx == null || receipt == null) throw new Error("no receipt");
  return { gas: receipt.gasUsed, hash: receipt.hash, calldataBytes: dataLength(tx.data) };
}

/** The boot every subject is asked about: the new release on the genesis device, with an up-to-date TCB. */
function allowedBoot(appId: string) {
  return bootInfo({
    appId,
    composeHash: RELEASE_COMPOSE_HASH,
    deviceId: GENESIS_DEVICE,
    instanceId: "0x" + id("instance").slice(26),
    mrAggregated: id("mrAggregated"),
    mrSystem: id("mrSystem"),
    osImageHash: id("os image"),
  });
}

/**
 * A fresh in-process chain with Base's execution rules: the OP Stack chain type at Isthmus, the newest Base hardfork
 * Hardhat's EDR runs (hardhat.config.ts notes the same for forks). Pinned, so a Hardhat upgrade that moves the
 * default hardfork does not move the figures.
 */
export const BENCH_CHAIN = { chainType: "op", hardfork: "isthmus" } as const;

export async function createBenchConnection(hre: HardhatRuntimeEnvironment) {
  return hre.network.create({
    chainType: BENCH_CHAIN.chainType,
    override: { hardfork: BENCH_CHAIN.hardfork },
  });
}

async function connect(hre: HardhatRuntimeEnvironment) {
  const connection = await createBenchConnection(hre);
  const [owner, anyone] = await connection.ethers.getSigners();
  if (owner === undefined || anyone === undefined) throw new Error("two signers needed");
  return { connection, owner, anyone: anyone as HardhatEthersSigner };
}

async function measureOurs(hre: HardhatRuntimeEnvironment) {
  const { connection, owner, anyone } = await connect(hre);
  const { ethers, networkHelpers } = connection;
  const appAuth = await ethers.deployContract("TimelockedAppAuth", [
    owner.address,
    NOTICE_SECONDS,
    GENESIS_COMPOSE_HASH,
    GENESIS_URI,
    [GENESIS_DEVICE],
    false,
    true,
  ]);
  const deployed = await gasOf(appAuth.deploymentTransaction());
  const address = await appAuth.getAddress();
  const profiler = new GasProfiler(hre, connection.provider);
  await profiler.know({ address, artifact: "TimelockedAppAuth" });

  const propose = await gasOf(appAuth.proposeComposeHash(RELEASE_COMPOSE_HASH, RELEASE_URI));
  await networkHelpers.time.increase(NOTICE_SECONDS);
  const activate = await gasOf(appAuth.connect(anyone).activateComposeHash(RELEASE_COMPOSE_HASH));
  const remove = await gasOf(appAuth.removeComposeHash(GENESIS_COMPOSE_HASH));
  const proposeDevice = await gasOf(appAuth.proposeDevice(NEW_DEVICE));
  await networkHelpers.time.increase(NOTICE_SECONDS);
  const activateDevice = await gasOf(appAuth.connect(anyone).activateDevice(NEW_DEVICE));
  const [allowed] = await appAuth.isAppAllowed(allowedBoot(address));
  if (!allowed) throw new Error("TimelockedAppAuth does not allow the benchmark's boot");

  const gas: SubjectGas = {
    deployment: operation([step("constructor", deployed)]),
    upgrade: operation([step("proposeComposeHash", propose), step("activateComposeHash", activate)]),
    remove: operation([step("removeComposeHash", remove)]),
    addDevice: operation([step("proposeDevice", proposeDevice), step("activateDevice", activateDevice)]),
    isAppAllowed: await appAuth.isAppAllowed.estimateGas(allowedBoot(address)),
  };
  const breakdowns = [
    { subject: "TimelockedAppAuth", call: "proposeComposeHash", breakdown: await profiler.breakdown(propose.hash) },
    { subject: "TimelockedAppAuth", call: "activateComposeHash", breakdown: await profiler.breakdown(activate.hash) },
  ];
  const hardfork = connection.networkConfig.type === "edr-simulated" ? connection.networkConfig.hardfork : "unknown";
  return { gas, breakdowns, hardfork: `${connection.chainType} / ${hardfork}` };
}

async function deployStock(hre: HardhatRuntimeEnvironment) {
  const { connection, owner, anyone } = await connect(hre);
  const stock = await connection.ethers.deployContract("StockAppAuth", [
    owner.address,
    false,
    GENESIS_DEVICE,
    GENESIS_COMPOSE_HASH,
  ]);
  const deployed = await gasOf(stock.deploymentTransaction());
  const requireTcb = await gasOf(stock.setRequireTcbUpToDate(true));
  const deployment: Step[] = [
    step("StockAppAuth constructor", deployed),
    step("setRequireTcbUpToDate(true)", requireTcb),
  ];
  return { connection, owner, anyone, stock, deployment };
}

async function measureBaseline(hre: HardhatRuntimeEnvironment): Promise<SubjectGas> {
  const { stock, deployment } = await deployStock(hre);
  const address = await stock.getAddress();
  const add = await gasOf(stock.addComposeHash(RELEASE_COMPOSE_HASH));
  const remove = await gasOf(stock.removeComposeHash(GENESIS_COMPOSE_HASH));
  const addDevice = await gasOf(stock.addDevice(NEW_DEVICE));
  const [allowed] = await stock.isAppAllowed(allowedBoot(address));
  if (!allowed) throw new Error("StockAppAuth does not allow the benchmark's boot");
  return {
    deployment: operation(deployment),
    upgrade: operation([step("addComposeHash", add)]),
    remove: operation([step("removeComposeHash", remove)]),
    addDevice: operation([step("addDevice", addDevice)]),
    isAppAllowed: await stock.isAppAllowed.estimateGas(allowedBoot(address)),
  };
}

async function measureBaselineWithTimelock(hre: HardhatRuntimeEnvironment) {
  const { connection, owner, anyone, stock, deployment } = await deployStock(hre);
  const { ethers, networkHelpers } = connection;
  // The owner proposes (and may cancel); anyone may execute, as anyone may activate ours; no admin besides the
  // timelock itself, so its roles change only through its own delay.
  const timelock = await ethers.deployContract("TimelockController", [
    NOTICE_SECONDS,
    [owner.address],
    [ethers.ZeroAddress],
    ethers.ZeroAddress,
  ]);
  const timelockDeployed = await gasOf(timelock.deploymentTransaction());
  const transfer = await gasOf(stock.transferOwnership(await timelock.getAddress()));
  const target = await stock.getAddress();
  const profiler = new GasProfiler(hre, connection.provider);
  await profiler.know({ address: await timelock.getAddress(), artifact: "TimelockController" });
  await profiler.know({ address: target, artifact: "StockAppAuth" });

  /** schedule, wait the minimum delay, execute (by anyone): the TimelockController's cycle for one call. */
  async function throughTimelock(data: string) {
    const schedule = await gasOf(timelock.schedule(target, 0n, data, ZeroHash, ZeroHash, NOTICE_SECONDS));
    await networkHelpers.time.increase(NOTICE_SECONDS);
    const execute = await gasOf(timelock.connect(anyone).execute(target, 0n, data, ZeroHash, ZeroHash));
    return { schedule, execute };
  }

  const upgrade = await throughTimelock(stock.interface.encodeFunctionData("addComposeHash", [RELEASE_COMPOSE_HASH]));
  const remove = await throughTimelock(stock.interface.encodeFunctionData("removeComposeHash", [GENESIS_COMPOSE_HASH]));
  const addDevice = await throughTimelock(stock.interface.encodeFunctionData("addDevice", [NEW_DEVICE]));
  const [allowed] = await stock.isAppAllowed(allowedBoot(target));
  if (!allowed) throw new Error("StockAppAuth behind the timelock does not allow the benchmark's boot");

  const gas: SubjectGas = {
    deployment: operation([
      ...deployment,
      step("TimelockController constructor", timelockDeployed),
      step("transferOwnership(timelock)", transfer),
    ]),
    upgrade: operation([
      step("schedule(addComposeHash)", upgrade.schedule),
      step("execute(addComposeHash)", upgrade.execute),
    ]),
    remove: operation([
      step("schedule(removeComposeHash)", remove.schedule),
      step("execute(removeComposeHash)", remove.execute),
    ]),
    addDevice: operation([
      step("schedule(addDevice)", addDevice.schedule),
      step("execute(addDevice)", addDevice.execute),
    ]),
    isAppAllowed: await stock.isAppAllowed.estimateGas(allowedBoot(target)),
  };
  const breakdowns = [
    {
      subject: "TimelockController",
      call: "schedule(addComposeHash)",
      breakdown: await profiler.breakdown(upgrade.schedule.hash),
    },
    {
      subject: "TimelockController",
      call: "execute(addComposeHash)",
      breakdown: await profiler.breakdown(upgrade.execute.hash),
    },
  ];
  return { gas, breakdowns };
}

export async function benchAppAuthGas(hre: HardhatRuntimeEnvironment): Promise<AppAuthGas> {
  const ours = await measureOurs(hre);
  const baseline = await measureBaseline(hre);
  const withTimelock = await measureBaselineWithTimelock(hre);
  return {
    ours: ours.gas,
    baseline,
    baselineWithTimelock: withTimelock.gas,
    upgradeBreakdowns: [...ours.breakdowns, ...withTimelock.breakdowns],
    releaseUriBytes: toUtf8Bytes(RELEASE_URI).length,
    hardfork: ours.hardfork,
  };
}
