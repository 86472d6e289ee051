/**
 * Gas of TimelockedAppAuth against what an app would use instead, every subject running the same story on fresh
 * in-process chains:
 *   - dstack's `DstackApp` as users have it: `UpgradeableStockAppAuth` behind OpenZeppelin's `ERC1967Proxy`, instant,
 *     and the same proxied app owned by OpenZeppelin's `TimelockController` (the route the targets compare with);
 *   - the non-proxy `StockAppAuth`, instant and behind a `TimelockController` (the earlier baseline);
 *   - the dstack tutorial's minimal `TimelockAppAuth` (`TutorialTimelockAppAuth`);
 *   - `UpgradeCycleFloor`, the least a timelocked upgrade can store.
 * The story: deploy to the same genesis state; the *allow cycle* (a new release becomes allowed, the old one stays),
 * then remove the old release, add a device, and ask `isAppAllowed` directly and through the KMS (`KmsStandIn`, which
 * checks registration and the OS image as `DstackKms` does, then asks the app); on a second chain from the same
 * genesis, the *replace cycle* (the new release allowed and the old one no longer).
 */
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { ZeroHash, dataLength, id, toUtf8Bytes, type ContractTransactionResponse } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import { bootInfo, composeHashOf, deviceIdOf } from "../../test/helpers/appAuth.js";
import { GasProfiler, type GasBreakdown, type KnownContract } from "./breakdown.js";

/** The notice period of our contract, and the TimelockController's minimum delay. */
export const NOTICE_SECONDS = 7n * 24n * 60n * 60n;
export const GENESIS_COMPOSE_HASH = composeHashOf('{"name":"acme-app","version":1}');
export const GENESIS_URI = "https://releases.example.org/acme-app/v1/app-compose.json";
export const RELEASE_COMPOSE_HASH = composeHashOf('{"name":"acme-app","version":2}');
/** A realistic place to publish a compose file: an https URL of 57 bytes (two 32-byte storage words). */
export const RELEASE_URI = "https://releases.example.org/acme-app/v2/app-compose.json";
export const GENESIS_DEVICE = deviceIdOf("genesis");
export const NEW_DEVICE = deviceIdOf("second machine");
/** The OS image of the benchmark's boot, which the KMS allows. */
export const OS_IMAGE_HASH = id("os image");

/** One transaction of an operation. */
export interface Step {
  call: string;
  gas: bigint;
  /** Length of the transaction's data (calldata, or init code and constructor arguments). */
  calldataBytes: number;
  /** Where its gas went (the transactions of the allow and replace cycles of the compared subjects). */
  breakdown?: GasBreakdown;
}

export interface Operation {
  steps: Step[];
  total: bigint;
}

export interface SubjectGas {
  /** Every transaction needed to reach the genesis state: a release, a device, an up-to-date TCB required. */
  deployment: Operation;
  /** The allow cycle: a new compose hash becomes allowed (propose + activate, schedule + execute, or one call). */
  upgrade: Operation;
  /** The replace cycle: the new compose hash allowed and the previous one no longer. */
  replace: Operation;
  /** Stop allowing the previous release, on its own (absent where the subject cannot). */
  remove?: Operation;
  /** Allow a new device (absent where the subject has no device list). */
  addDevice?: Operation;
  /** `eth_estimateGas` of the app's `isAppAllowed` for an allowed boot (21,000 and calldata included). */
  isAppAllowed?: bigint;
  /** The same boot asked as dstack does it: the KMS's `isAppAllowed`, which then asks the app. */
  isAppAllowedViaKms?: bigint;
}

/** The subjects, by the key they have in the JSON summary. */
export interface AppAuthGas {
  ours: SubjectGas;
  /** `StockAppAuth`, instant, no proxy. */
  baseline: SubjectGas;
  /** `StockAppAuth` owned by a `TimelockController`. */
  baselineWithTimelock: SubjectGas;
  /** dstack's `DstackApp` as deployed: `UpgradeableStockAppAuth` behind an `ERC1967Proxy`, instant. */
  dstackApp: SubjectGas;
  /** The same proxied app owned by a `TimelockController`: what the targets compare with. */
  dstackAppWithTimelock: SubjectGas;
  /** The replace cycle through the `TimelockController` as one `scheduleBatch` + `executeBatch` of both calls. */
  dstackAppWithTimelockBatchedReplace: Operation;
  /** `TutorialTimelockAppAuth`, the dstack tutorial's minimal timelocked app. */
  tutorial: SubjectGas;
  /** `UpgradeCycleFloor`: one new word per proposal, one enumerable entry per allowed hash. */
  floor: SubjectGas;
  /** The implementation behind every proxied app of a KMS, deployed once (not part of an app's deployment). */
  dstackAppImplementationDeployment: bigint;
  releaseUriBytes: number;
  hardfork: string;
}

export function operation(steps: Step[]): Operation {
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
    osImageHash: OS_IMAGE_HASH,
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

/** A fresh chain, its owner and a second account, and a profiler that names the lines of the given contracts. */
async function connect(hre: HardhatRuntimeEnvironment) {
  const connection = await createBenchConnection(hre);
  const [owner, anyone] = await connection.ethers.getSigners();
  if (owner === undefined || anyone === undefined) throw new Error("two signers needed");
  const profiler = new GasProfiler(hre, connection.provider);
  /** A step with its breakdown. */
  const traced = async (call: string, sent: Sent): Promise<Step> => ({
    ...step(call, sent),
    breakdown: await profiler.breakdown(sent.hash),
  });
  const know = async (...contracts: KnownContract[]) => {
    for (const contract of contracts) await profiler.know(contract);
  };
  return { connection, owner, anyone: anyone as HardhatEthersSigner, traced, know };
}

type Chain = Awaited<ReturnType<typeof connect>>;

/**
 * `isAppAllowed` as dstack's KMS answers it: a KMS (the stand-in, same checks and order as `DstackKms`) with the app
 * registered and the boot's OS image allowed. Fails unless the boot is allowed.
 */
async function throughKms(chain: Chain, appId: string): Promise<bigint> {
  const { ethers } = chain.connection;
  const kms = await ethers.deployContract("KmsStandIn", [chain.owner.address]);
  await gasOf(kms.registerApp(appId));
  await gasOf(kms.addOsImageHash(OS_IMAGE_HASH));
  const [allowed, reason] = await kms.isAppAllowed(allowedBoot(appId));
  if (!allowed) throw new Error(`the KMS refuses the benchmark's boot of ${appId}: ${reason}`);
  return kms.isAppAllowed.estimateGas(allowedBoot(appId));
}

async function expectAllowed(answer: Promise<[boolean, string]>, subject: string) {
  const [allowed, reason] = await answer;
  if (!allowed) throw new Error(`${subject} does not allow the benchmark's boot: ${reason}`);
}

// --- ours --------------------------------------------------------------------------------------------------------

async function deployOurs(chain: Chain) {
  const appAuth = await chain.connection.ethers.deployContract("TimelockedAppAuth", [
    chain.owner.address,
    NOTICE_SECONDS,
    GENESIS_COMPOSE_HASH,
    GENESIS_URI,
    [GENESIS_DEVICE],
    false,
    true,
  ]);
  const deployed = await gasOf(appAuth.deploymentTransaction());
  await chain.know({ address: await appAuth.getAddress(), artifact: "TimelockedAppAuth" });
  return { appAuth, deployed };
}

async function measureOurs(hre: HardhatRuntimeEnvironment) {
  const chain = await connect(hre);
  const { anyone, traced, connection } = chain;
  const wait = () => connection.networkHelpers.time.increase(NOTICE_SECONDS);
  const { appAuth, deployed } = await deployOurs(chain);
  const address = await appAuth.getAddress();

  const propose = await traced(
    "proposeComposeHash",
    await gasOf(appAuth.proposeComposeHash(RELEASE_COMPOSE_HASH, RELEASE_URI)),
  );
  await wait();
  const activate = await traced(
    "activateComposeHash",
    await gasOf(appAuth.connect(anyone).activateComposeHash(RELEASE_COMPOSE_HASH)),
  );
  const remove = await gasOf(appAuth.removeComposeHash(GENESIS_COMPOSE_HASH));
  const proposeDevice = await gasOf(appAuth.proposeDevice(NEW_DEVICE));
  await wait();
  const activateDevice = await gasOf(appAuth.connect(anyone).activateDevice(NEW_DEVICE));
  await expectAllowed(appAuth.isAppAllowed(allowedBoot(address)), "TimelockedAppAuth");
  const isAppAllowed = await appAuth.isAppAllowed.estimateGas(allowedBoot(address));
  const isAppAllowedViaKms = await throughKms(chain, address);

  // The replace cycle: the retirement is narrowing, so it rides on the owner's activation.
  const replaceChain = await connect(hre);
  const replacing = (await deployOurs(replaceChain)).appAuth;
  const proposeAgain = await replaceChain.traced(
    "proposeComposeHash",
    await gasOf(replacing.proposeComposeHash(RELEASE_COMPOSE_HASH, RELEASE_URI)),
  );
  await replaceChain.connection.networkHelpers.time.increase(NOTICE_SECONDS);
  const activateAndRetire = await replaceChain.traced(
    "activateComposeHashAndRetire",
    await gasOf(replacing.activateComposeHashAndRetire(RELEASE_COMPOSE_HASH, [GENESIS_COMPOSE_HASH])),
  );
  if (await replacing.allowedComposeHashes(GENESIS_COMPOSE_HASH)) throw new Error("the old release is still allowed");

  const gas: SubjectGas = {
    deployment: operation([step("constructor", deployed)]),
    upgrade: operation([propose, activate]),
    replace: operation([proposeAgain, activateAndRetire]),
    remove: operation([step("removeComposeHash", remove)]),
    addDevice: operation([step("proposeDevice", proposeDevice), step("activateDevice", activateDevice)]),
    isAppAllowed,
    isAppAllowedViaKms,
  };
  const hardfork = connection.networkConfig.type === "edr-simulated" ? connection.networkConfig.hardfork : "unknown";
  return { gas, hardfork: `${connection.chainType} / ${hardfork}` };
}

// --- instant apps (StockAppAuth, and the proxied DstackApp) ------------------------------------------------------

/** An instantly changeable app with dstack's management calls, and the steps that deployed it. */
interface InstantApp {
  app: {
    getAddress(): Promise<string>;
    addComposeHash(hash: string): Promise<ContractTransactionResponse>;
    removeComposeHash(hash: string): Promise<ContractTransactionResponse>;
    addDevice(device: string): Promise<ContractTransactionResponse>;
    allowedComposeHashes(hash: string): Promise<boolean>;
    isAppAllowed: {
      (boot: ReturnType<typeof allowedBoot>): Promise<[boolean, string]>;
      estimateGas(boot: ReturnType<typeof allowedBoot>): Promise<bigint>;
    };
    interface: {
      encodeFunctionData(name: "addComposeHash" | "removeComposeHash" | "addDevice", args: [string]): string;
    };
  };
  deployment: Step[];
}

type Deploy = (chain: Chain, owner: string) => Promise<InstantApp>;

/** `StockAppAuth`, owned by `owner` (its constructor cannot require an up-to-date TCB: one more call does). */
const deployStock: Deploy = async (chain, owner) => {
  const stock = await chain.connection.ethers.deployContract("StockAppAuth", [
    chain.owner.address,
    false,
    GENESIS_DEVICE,
    GENESIS_COMPOSE_HASH,
  ]);
  const deployed = await gasOf(stock.deploymentTransaction());
  const requireTcb = await gasOf(stock.setRequireTcbUpToDate(true));
  const deployment = [step("StockAppAuth constructor", deployed), step("setRequireTcbUpToDate(true)", requireTcb)];
  if (owner !== chain.owner.address)
    deployment.push(step("transferOwnership(timelock)", await gasOf(stock.transferOwnership(owner))));
  await chain.know({ address: await stock.getAddress(), artifact: "StockAppAuth" });
  return { app: stock as unknown as InstantApp["app"], deployment };
};

/**
 * dstack's `DstackApp` as dstack deploys it: one implementation per KMS, and per app an `ERC1967Proxy` whose
 * construction calls `initialize` (owner, upgrades enabled, TCB required, device list, genesis device and release).
 */
async function deployDstackApp(chain: Chain, owner: string) {
  const { ethers } = chain.connection;
  const implementation = await ethers.deployContract("UpgradeableStockAppAuth");
  const implementationDeployed = await gasOf(implementation.deploymentTransaction());
  const initialize = implementation.interface.encodeFunctionData("initialize", [
    owner,
    false,
    true,
    false,
    GENESIS_DEVICE,
    GENESIS_COMPOSE_HASH,
  ]);
  const proxy = await ethers.deployContract("ERC1967Proxy", [await implementation.getAddress(), initialize]);
  const proxyDeployed = await gasOf(proxy.deploymentTransaction());
  const address = await proxy.getAddress();
  await chain.know(
    { address, artifact: "ERC1967Proxy" },
    { address: await implementation.getAddress(), artifact: "UpgradeableStockAppAuth" },
  );
  const app = await ethers.getContractAt("UpgradeableStockAppAuth", address);
  return {
    app: app as unknown as InstantApp["app"],
    deployment: [step("ERC1967Proxy constructor + initialize", proxyDeployed)],
    implementationDeployed: implementationDeployed.gas,
  };
}

async function measureInstant(hre: HardhatRuntimeEnvironment, deploy: Deploy, name: string): Promise<SubjectGas> {
  const chain = await connect(hre);
  const { app, deployment } = await deploy(chain, chain.owner.address);
  const address = await app.getAddress();
  const add = await chain.traced("addComposeHash", await gasOf(app.addComposeHash(RELEASE_COMPOSE_HASH)));
  const remove = await chain.traced("removeComposeHash", await gasOf(app.removeComposeHash(GENESIS_COMPOSE_HASH)));
  const addDevice = await gasOf(app.addDevice(NEW_DEVICE));
  await expectAllowed(app.isAppAllowed(allowedBoot(address)), name);
  return {
    deployment: operation(deployment),
    upgrade: operation([add]),
    // The same calls from the same genesis state: the instant replace is the allow cycle plus the removal.
    replace: operation([add, remove]),
    remove: operation([remove]),
    addDevice: operation([step("addDevice", addDevice)]),
    isAppAllowed: await app.isAppAllowed.estimateGas(allowedBoot(address)),
    isAppAllowedViaKms: await throughKms(chain, address),
  };
}

/**
 * An instant app owned by OpenZeppelin's TimelockController with the notice as its minimum delay: the owner proposes
 * (and may cancel); anyone may execute, as anyone may activate ours; no admin besides the timelock itself, so its roles
 * change only through its own delay. Every change is a `schedule`, the delay, and an `execute` (salt 0, no
 * predecessor); the replace cycle schedules and executes the removal too, as a removal through the timelock waits.
 */
async function measureWithTimelock(hre: HardhatRuntimeEnvironment, deploy: Deploy, name: string) {
  const chain = await connect(hre);
  const { connection, owner, anyone, traced } = chain;
  const { ethers, networkHelpers } = connection;
  const deployTimelock = async (on: Chain) => {
    const timelock = await on.connection.ethers.deployContract("TimelockController", [
      NOTICE_SECONDS,
      [on.owner.address],
      [ethers.ZeroAddress],
      ethers.ZeroAddress,
    ]);
    const deployed = step("TimelockController constructor", await gasOf(timelock.deploymentTransaction()));
    await on.know({ address: await timelock.getAddress(), artifact: "TimelockController" });
    return { timelock, deployed };
  };
  const { timelock, deployed: timelockDeployed } = await deployTimelock(chain);
  const { app, deployment } = await deploy(chain, await timelock.getAddress());
  const target = await app.getAddress();

  /** schedule, wait the minimum delay, execute (by anyone): the TimelockController's cycle for one call. */
  async function throughTimelock(call: "addComposeHash" | "removeComposeHash" | "addDevice", arg: string) {
    const data = app.interface.encodeFunctionData(call, [arg]);
    const schedule = await traced(
      `schedule(${call})`,
      await gasOf(timelock.schedule(target, 0n, data, ZeroHash, ZeroHash, NOTICE_SECONDS)),
    );
    await networkHelpers.time.increase(NOTICE_SECONDS);
    const execute = await traced(
      `execute(${call})`,
      await gasOf(timelock.connect(anyone).execute(target, 0n, data, ZeroHash, ZeroHash)),
    );
    return [schedule, execute];
  }

  const upgrade = await throughTimelock("addComposeHash", RELEASE_COMPOSE_HASH);
  const remove = await throughTimelock("removeComposeHash", GENESIS_COMPOSE_HASH);
  const addDevice = await throughTimelock("addDevice", NEW_DEVICE);
  await expectAllowed(app.isAppAllowed(allowedBoot(target)), `${name} behind the timelock`);
  const gas: SubjectGas = {
    deployment: operation([timelockDeployed, ...deployment]),
    upgrade: operation(upgrade),
    replace: operation([...upgrade, ...remove]),
    remove: operation(remove),
    addDevice: operation(addDevice),
    isAppAllowed: await app.isAppAllowed.estimateGas(allowedBoot(target)),
    isAppAllowedViaKms: await throughKms(chain, target),
  };

  // The cheapest way through the timelock: both calls in one batch, scheduled and executed once.
  const batchChain = await connect(hre);
  const batch = await deployTimelock(batchChain);
  const batched = (await deploy(batchChain, await batch.timelock.getAddress())).app;
  const batchTarget = await batched.getAddress();
  const calls = [
    batched.interface.encodeFunctionData("addComposeHash", [RELEASE_COMPOSE_HASH]),
    batched.interface.encodeFunctionData("removeComposeHash", [GENESIS_COMPOSE_HASH]),
  ];
  const targets = [batchTarget, batchTarget];
  const values = [0n, 0n];
  const scheduleBatch = await gasOf(
    batch.timelock.scheduleBatch(targets, values, calls, ZeroHash, ZeroHash, NOTICE_SECONDS),
  );
  await batchChain.connection.networkHelpers.time.increase(NOTICE_SECONDS);
  const executeBatch = await gasOf(
    batch.timelock.connect(batchChain.anyone).executeBatch(targets, values, calls, ZeroHash, ZeroHash),
  );
  if (await batched.allowedComposeHashes(GENESIS_COMPOSE_HASH))
    throw new Error("the batch left the old release allowed");
  const batchedReplace = operation([
    step("scheduleBatch(addComposeHash, removeComposeHash)", scheduleBatch),
    step("executeBatch(addComposeHash, removeComposeHash)", executeBatch),
  ]);
  return { gas, batchedReplace };
}

// --- timelocked references: the tutorial's contract and the floor -------------------------------------------------

async function measureTutorial(hre: HardhatRuntimeEnvironment): Promise<SubjectGas> {
  /** The tutorial's contract lists no devices, so the genesis state allows any device; nor has it a TCB rule. */
  const deploy = async (chain: Chain) => {
    const tutorial = await chain.connection.ethers.deployContract("TutorialTimelockAppAuth", [
      NOTICE_SECONDS,
      true,
      GENESIS_COMPOSE_HASH,
    ]);
    const deployed = await gasOf(tutorial.deploymentTransaction());
    await chain.know({ address: await tutorial.getAddress(), artifact: "TutorialTimelockAppAuth" });
    return { tutorial, deployed };
  };
  const cycle = async (chain: Chain, tutorial: Awaited<ReturnType<typeof deploy>>["tutorial"]) => {
    const propose = await chain.traced(
      "proposeComposeHash",
      await gasOf(tutorial.proposeComposeHash(RELEASE_COMPOSE_HASH)),
    );
    await chain.connection.networkHelpers.time.increase(NOTICE_SECONDS);
    const activate = await chain.traced(
      "activateComposeHash",
      await gasOf(tutorial.connect(chain.anyone).activateComposeHash(RELEASE_COMPOSE_HASH)),
    );
    return [propose, activate];
  };
  const chain = await connect(hre);
  const { tutorial, deployed } = await deploy(chain);
  const address = await tutorial.getAddress();
  const upgrade = await cycle(chain, tutorial);
  const remove = await chain.traced("removeComposeHash", await gasOf(tutorial.removeComposeHash(GENESIS_COMPOSE_HASH)));
  await expectAllowed(tutorial.isAppAllowed(allowedBoot(address)), "TutorialTimelockAppAuth");
  return {
    deployment: operation([step("constructor", deployed)]),
    upgrade: operation(upgrade),
    // Its removal is instant and separate: the replace cycle is the allow cycle and the removal.
    replace: operation([...upgrade, remove]),
    remove: operation([remove]),
    isAppAllowed: await tutorial.isAppAllowed.estimateGas(allowedBoot(address)),
    isAppAllowedViaKms: await throughKms(chain, address),
  };
}

async function measureFloor(hre: HardhatRuntimeEnvironment): Promise<SubjectGas> {
  const deploy = async (chain: Chain) => {
    const floor = await chain.connection.ethers.deployContract("UpgradeCycleFloor", [
      chain.owner.address,
      NOTICE_SECONDS,
      GENESIS_COMPOSE_HASH,
    ]);
    const deployed = await gasOf(floor.deploymentTransaction());
    await chain.know({ address: await floor.getAddress(), artifact: "UpgradeCycleFloor" });
    const propose = await chain.traced(
      "proposeComposeHash",
      await gasOf(floor.proposeComposeHash(RELEASE_COMPOSE_HASH, RELEASE_URI)),
    );
    await chain.connection.networkHelpers.time.increase(NOTICE_SECONDS);
    return { floor, deployed, propose };
  };
  const chain = await connect(hre);
  const { floor, deployed, propose } = await deploy(chain);
  const activate = await chain.traced(
    "activateComposeHash",
    await gasOf(floor.connect(chain.anyone).activateComposeHash(RELEASE_COMPOSE_HASH)),
  );
  const replaceChain = await connect(hre);
  const replacing = await deploy(replaceChain);
  const activateAndRetire = await replaceChain.traced(
    "activateComposeHashAndRetire",
    await gasOf(replacing.floor.activateComposeHashAndRetire(RELEASE_COMPOSE_HASH, [GENESIS_COMPOSE_HASH])),
  );
  const allowed = await replacing.floor.getComposeHashes();
  if (allowed.length !== 1 || allowed[0] !== RELEASE_COMPOSE_HASH) throw new Error("the floor did not replace");
  if ((await floor.getComposeHashes()).length !== 2) throw new Error("the floor did not allow");
  return {
    deployment: operation([step("constructor", deployed)]),
    upgrade: operation([propose, activate]),
    replace: operation([replacing.propose, activateAndRetire]),
  };
}

export async function benchAppAuthGas(hre: HardhatRuntimeEnvironment): Promise<AppAuthGas> {
  const ours = await measureOurs(hre);
  const baseline = await measureInstant(hre, deployStock, "StockAppAuth");
  const baselineWithTimelock = await measureWithTimelock(hre, deployStock, "StockAppAuth");
  let implementationGas = 0n;
  const deployDstack: Deploy = async (chain, owner) => {
    const { app, deployment, implementationDeployed } = await deployDstackApp(chain, owner);
    implementationGas = implementationDeployed;
    return { app, deployment };
  };
  const dstackApp = await measureInstant(hre, deployDstack, "the proxied DstackApp");
  const dstackAppWithTimelock = await measureWithTimelock(hre, deployDstack, "the proxied DstackApp");
  return {
    ours: ours.gas,
    baseline,
    baselineWithTimelock: baselineWithTimelock.gas,
    dstackApp,
    dstackAppWithTimelock: dstackAppWithTimelock.gas,
    dstackAppWithTimelockBatchedReplace: dstackAppWithTimelock.batchedReplace,
    tutorial: await measureTutorial(hre),
    floor: await measureFloor(hre),
    dstackAppImplementationDeployment: implementationGas,
    releaseUriBytes: toUtf8Bytes(RELEASE_URI).length,
    hardfork: ours.hardfork,
  };
}
