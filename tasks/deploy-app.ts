import { execFile } from "node:child_process";
import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import { promisify, styleText } from "node:util";

import { HardhatError } from "@nomicfoundation/hardhat-errors";
import {
  errorDeploymentResultToExceptionMessage,
  HardhatArtifactResolver,
  readDeploymentParameters,
} from "@nomicfoundation/hardhat-ignition/helpers";
import { verifyContract } from "@nomicfoundation/hardhat-verify/verify";
import { deploy, DeploymentResultType, type ModuleParameters } from "@nomicfoundation/ignition-core";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import TimelockedAppAuthModule from "../ignition/modules/TimelockedAppAuth.js";
import { connectAppAuth } from "../lib/appAuth.js";
import {
  MODULE_ID,
  MODULE_PARAMETERS,
  readDeployParameters,
  type AppDeployParameters,
} from "../lib/deployParameters.js";
import {
  readIgnitionDeployment,
  readJournalFuture,
  writeDeploymentRecord,
  type DeployedContract,
  type DeploymentRecord,
  type SourceVerification,
} from "../lib/deployments.js";
import { InvalidOptionError, UserError } from "../lib/errors.js";
import { formatNotice } from "../lib/format.js";
import { KMS_CONFIG_FILE, readKmsConfig, type Kms } from "../lib/kms.js";
import { parseAddress } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { registerApp, resolveKms, type RegistrationResult } from "./shared/kms.js";
import { openNetwork, signerOf, type NetworkSession } from "./shared/session.js";
import { verificationFailure, type VerificationFailure } from "./shared/verification-failure.js";

export interface DeployAppArgs {
  parameters?: string | undefined;
  deploymentId?: string | undefined;
  kms?: string | undefined;
  register?: boolean;
  verify?: boolean;
  from?: string | undefined;
}

export interface DeployAppResult {
  deploymentId: string;
  app: string;
  /** False when Ignition resumed a finished deployment from its journal and sent nothing. */
  deployedNow: boolean;
  contract: DeployedContract;
  journalDir: string;
  recordPath: string;
  registration: RegistrationResult | undefined;
  verifications: SourceVerification[];
}

/** What the task calls to verify sources; tests replace it, since no explorer is reachable from a local chain. */
export interface Verifier {
  verify: (args: Parameters<typeof verifyContract>[0], hre: HardhatRuntimeEnvironment) => Promise<boolean>;
  /** Pauses between attempts: an explorer may not have indexed a contract deployed seconds ago. */
  retryDelaysMs: number[];
}

const execFileAsync = promisify(execFile);

const DEFAULT_VERIFIER: Verifier = { verify: verifyContract, retryDelaysMs: [15_000, 30_000] };

/** Ignition's id of the contract future, which is also the key of the contract in the record. */
export const APP_FUTURE_ID = `${MODULE_ID}#TimelockedAppAuth`;
const APP_FQN = "contracts/TimelockedAppAuth.sol:TimelockedAppAuth";
const DEV_CHAIN_IDS = [31337, 1337];
const VERIFICATION_PROVIDERS = ["etherscan", "sourcify"] as const;

export default defineAction((args: DeployAppArgs, hre) => deployApp(args, hre));

/**
 * Deploys one app's TimelockedAppAuth through its Ignition module, with checked parameters; then optionally
 * registers it with a dstack KMS and verifies its source. Every step is idempotent: Ignition resumes its journal,
 * registration is skipped when the KMS already knows the app, and an explorer that already has the source says so.
 */
export async function deployApp(
  args: DeployAppArgs,
  hre: HardhatRuntimeEnvironment,
  verifier: Verifier = DEFAULT_VERIFIER,
): Promise<DeployAppResult> {
  // 1. Everything that can be checked without the network.
  const from = args.from === undefined ? undefined : parseAddress("from", args.from);
  const kmsOption = args.kms === undefined ? undefined : parseAddress("kms", args.kms);
  const givenId = args.deploymentId?.trim();
  if (givenId !== undefined && !/^[a-zA-Z0-9_-]+$/.test(givenId)) {
    throw new InvalidOptionError("deployment-id", givenId, "letters, digits, - and _ (it names a directory)");
  }

  // 2. The network, the parameters file and the KMS, all checked before anything is sent.
  const session = await openNetwork(hre, from, true);
  const deployer = signerOf(session).address;
  const parametersPath =
    args.parameters !== undefined
      ? path.resolve(args.parameters)
      : path.join(hre.config.paths.ignition, "parameters", `${session.networkName}.json`);
  const parametersFile = relative(hre, parametersPath);
  const { parameters: checked, warnings } = await readDeployParameters(parametersPath, parametersFile);
  const parameters: AppDeployParameters & { owner: string } = { ...checked, owner: checked.owner ?? deployer };
  const deploymentId = givenId ?? `chain-${Number(session.chainId)}`;
  const kms = kmsOption !== undefined || args.register === true ? await resolveKms(hre, session, kmsOption) : undefined;
  if (args.verify === true) await checkVerifiable(hre, session);

  const source = await sourceCommit(hre.config.paths.root);
  if (source?.endsWith("+dirty") === true && !DEV_CHAIN_IDS.includes(Number(session.chainId))) {
    warnings.push(
      "the checkout has uncommitted changes: the record will name the commit with +dirty, and auditors can only " +
        "rebuild what was committed",
    );
  }

  console.log(`Deploying an app's TimelockedAppAuth on ${session.where} from ${deployer}`);
  printParameters(parametersFile, parameters, checked.owner === undefined);
  for (const warning of warnings) console.warn(styleText("yellow", `Warning: ${warning}`));

  // 3. Deploy (or resume) with Ignition, from the production build.
  const buildProfile = hre.globalOptions.buildProfile ?? "production";
  console.log(`Compiling with the "${buildProfile}" build profile (what Basescan and auditors rebuild)...`);
  await hre.tasks.getTask("build").run({ quiet: true, noTests: true, defaultBuildProfile: "production" });
  const { journalDir, recordsDir } = await deploymentPaths(hre, session, deploymentId);
  const before = await previousDeployment(session, journalDir);
  if (before === undefined && (await session.ethers.provider.getBalance(deployer)) === 0n) {
    throw new UserError(`the deploying account ${deployer} has no funds on ${session.where}; nothing was sent`);
  }
  console.log(
    before === undefined
      ? `Deploying with Ignition (deployment "${deploymentId}", journal ${relative(hre, journalDir)})...`
      : `Ignition deployment "${deploymentId}" already has TimelockedAppAuth at ${before.address}: resuming its journal.`,
  );
  const journal = await readJournalFuture(journalDir, APP_FUTURE_ID);
  const moduleParameters = await ignitionParameters(parametersPath, deployer, journal?.constructorArgs);
  await runIgnition(hre, session, journalDir, deploymentId, moduleParameters, deployer, journal?.from);
  const journalRecord = await readIgnitionDeployment(journalDir, {
    source: relative(hre, path.join(journalDir, "journal.jsonl")),
  });
  const contract = journalRecord.contracts[APP_FUTURE_ID];
  if (contract === undefined) throw new Error(`the journal in ${journalDir} has no completed ${APP_FUTURE_ID}`);
  const app = contract.address;
  const deployedNow = before === undefined;
  console.log(
    deployedNow
      ? `Deployed TimelockedAppAuth at ${app} in block ${contract.blockNumber} (transaction ${contract.txHash}).`
      : `Nothing deployed: TimelockedAppAuth is already at ${app} (block ${contract.blockNumber}, transaction ` +
          `${contract.txHash}); Ignition found the deployment complete in its journal and sent nothing.`,
  );
  const appAuth = await connectAppAuth(app, session.ethers.provider, session.where);
  console.log(`On chain: owner ${await appAuth.owner()}, notice ${formatNotice(await appAuth.noticePeriod())}.`);

  // 4. Register with the KMS (skipped when it already knows the app), and record what was done so far.
  let registration: RegistrationResult | undefined;
  if (kms !== undefined) registration = await registerApp(session, kms, app);
  const record: DeploymentRecord = {
    ...journalRecord,
    ...(deployedNow && source !== undefined ? { sourceCommit: source } : {}),
    ...(registration === undefined ? {} : { kmsRegistrations: [withoutFlag(registration)] }),
  };
  let recordPath = await writeDeploymentRecord(recordsDir, record);

  // 5. Verify the source (an explorer that already has it says so), and record where it can be read.
  let verifications: SourceVerification[] = [];
  if (args.verify === true) {
    const outcome = await verifySources(hre, session, contract, verifier);
    verifications = outcome.verified;
    recordPath = await writeDeploymentRecord(recordsDir, { ...record, verifications });
    if (outcome.failures.length > 0) {
      console.log(`Record: ${relative(hre, recordPath)}`);
      throw new UserError(
        `the contract is deployed and recorded, but verification failed:\n  - ${outcome.failures.join("\n  - ")}\n` +
          "Re-run the same command to retry: it deploys nothing and registers nothing again.",
      );
    }
  }

  console.log(`Record: ${relative(hre, recordPath)}`);
  await printNextSteps(hre, session, app, kms, args.verify === true);
  return {
    deploymentId,
    app,
    deployedNow,
    contract,
    journalDir,
    recordPath,
    registration,
    verifications,
  };
}

/**
 * Where the journal and the record go. On a real node (`--network localhost`, `base`, ...): Ignition's own
 * `ignition/deployments/<id>/` and the repository's `deployments/<id>.json`. On Hardhat's in-process chain, which
 * vanishes with the process: a directory of the cache per chain instance, so repeated runs in one process resume
 * and nothing lands in the repository.
 */
async function deploymentPaths(
  hre: HardhatRuntimeEnvironment,
  session: NetworkSession,
  deploymentId: string,
): Promise<{ journalDir: string; recordsDir: string }> {
  if (session.connection.networkConfig.type !== "edr-simulated") {
    return {
      journalDir: path.join(hre.config.paths.ignition, "deployments", deploymentId),
      recordsDir: path.join(hre.config.paths.root, "deployments"),
    };
  }
  const { instanceId } = (await session.connection.provider.request({ method: "hardhat_metadata" })) as {
    instanceId: string;
  };
  const base = path.join(hre.config.paths.cache, "deploy-app");
  await pruneOtherInstances(base, instanceId);
  return {
    journalDir: path.join(base, instanceId, "ignition", deploymentId),
    recordsDir: path.join(base, instanceId, "deployments"),
  };
}

/** Removes the journals of in-process chains that no longer exist. */
async function pruneOtherInstances(base: string, keep: string): Promise<void> {
  let entries: string[] = [];
  try {
    entries = await readdir(base);
  } catch {
    return;
  }
  await Promise.all(
    entries
      .filter((entry) => entry !== keep)
      .map((entry) => rm(path.join(base, entry), { recursive: true, force: true })),
  );
}

/** The contract a previous run deployed, from the journal; refuses a journal whose contract is not on this chain. */
async function previousDeployment(session: NetworkSession, journalDir: string): Promise<DeployedContract | undefined> {
  let previous: DeployedContract | undefined;
  try {
    previous = (await readIgnitionDeployment(journalDir)).contracts[APP_FUTURE_ID];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  if (previous !== undefined && (await session.ethers.provider.getCode(previous.address)) === "0x") {
    throw new UserError(
      `the Ignition journal ${journalDir} says TimelockedAppAuth was deployed at ${previous.address}, but there is ` +
        `no code there on ${session.where}: the journal belongs to another chain (a restarted local node?). ` +
        "Remove that directory, or pass another --deployment-id; nothing was sent",
    );
  }
  return previous;
}

/**
 * The module's parameters as Ignition itself reads the file, so that `deploy-app` and `npx hardhat ignition deploy
 * --parameters <file>` pass the same values and each resumes what the other deployed: a JSON number stays a number
 * and "604800n" becomes a bigint (the file was checked first, so these are the checked values). Ignition reconciles
 * a journal by deep equality, where 604800 and 604800n differ: a parameter the journal already holds as the same
 * value written another way (a journal written by an earlier deploy-app, which passed bigints) is passed in the
 * journal's form. A parameter the file leaves out gets the module's default, as with `ignition deploy`; the owner
 * defaults to the deploying account.
 */
async function ignitionParameters(
  file: string,
  deployer: string,
  journalArgs: unknown[] | undefined,
): Promise<ModuleParameters> {
  const fromFile: ModuleParameters = { owner: deployer, ...(await readDeploymentParameters(file))[MODULE_ID] };
  const parameters: ModuleParameters = {};
  // The module passes its parameters to the constructor in this order: the journal's argument i is parameter i.
  MODULE_PARAMETERS.forEach((name, index) => {
    const value = fromFile[name];
    if (value === undefined) return;
    const recorded = journalArgs?.[index];
    parameters[name] = recorded !== undefined && sameValue(recorded, value) ? (recorded as typeof value) : value;
  });
  return parameters;
}

/** The same constructor argument, however written: 604800, 604800n and "604800"; hex in either case. */
function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  const integer = (value: unknown) =>
    typeof value === "bigint" || (typeof value === "number" && Number.isSafeInteger(value))
      ? BigInt(value)
      : typeof value === "string" && /^\d+$/.test(value)
        ? BigInt(value)
        : undefined;
  const [x, y] = [integer(a), integer(b)];
  if (x !== undefined && y !== undefined) return x === y;
  if (typeof a === "string" && typeof b === "string" && /^0x[0-9a-f]*$/i.test(a) && /^0x[0-9a-f]*$/i.test(b)) {
    return a.toLowerCase() === b.toLowerCase();
  }
  return a === b;
}

async function runIgnition(
  hre: HardhatRuntimeEnvironment,
  session: NetworkSession,
  journalDir: string,
  deploymentId: string,
  moduleParameters: ModuleParameters,
  deployer: string,
  journalFrom: string | undefined,
): Promise<void> {
  const networkIgnition = session.connection.networkConfig.ignition;
  const accounts = (await session.connection.provider.request({ method: "eth_accounts" })) as string[];
  // Ignition compares a journal's sender case-sensitively: send as the journal wrote it, else as `ignition deploy`
  // does (the node's own spelling, from eth_accounts), so that each command resumes what the other deployed.
  const sameAccount = (address: string | undefined) => address?.toLowerCase() === deployer.toLowerCase();
  const defaultSender = sameAccount(journalFrom) ? journalFrom! : (accounts.find(sameAccount) ?? deployer);
  const result = await deploy({
    config: hre.config.ignition,
    provider: session.connection.provider,
    artifactResolver: new HardhatArtifactResolver(hre.artifacts),
    deploymentDir: journalDir,
    ignitionModule: TimelockedAppAuthModule,
    deploymentParameters: { [MODULE_ID]: moduleParameters },
    accounts,
    defaultSender,
    maxFeePerGasLimit: networkIgnition.maxFeePerGasLimit,
    maxFeePerGas: networkIgnition.maxFeePerGas,
    maxPriorityFeePerGas: networkIgnition.maxPriorityFeePerGas,
    gasPrice: networkIgnition.gasPrice,
    disableFeeBumping: hre.config.ignition.disableFeeBumping ?? networkIgnition.disableFeeBumping,
  });
  if (result.type === DeploymentResultType.SUCCESSFUL_DEPLOYMENT) return;
  const hint =
    result.type === DeploymentResultType.RECONCILIATION_ERROR
      ? `\nDeployment "${deploymentId}" was made with other parameters. To deploy another app, pass a new ` +
        "--deployment-id; to redeploy this one, remove its journal first."
      : "";
  throw new UserError(`Ignition did not deploy: ${errorDeploymentResultToExceptionMessage(result)}${hint}`);
}

/** Refuses `--verify` where it cannot work, before anything is sent. */
async function checkVerifiable(hre: HardhatRuntimeEnvironment, session: NetworkSession): Promise<void> {
  if (DEV_CHAIN_IDS.includes(Number(session.chainId))) {
    throw new UserError(
      `--verify needs a public chain: ${session.where} is a local development chain that no explorer knows; ` +
        "nothing was sent",
    );
  }
  try {
    await hre.config.verify.etherscan.apiKey.get();
  } catch (error) {
    // Only "not set": a keystore that cannot ask its password without a terminal says so itself.
    if (!HardhatError.isHardhatError(error, HardhatError.ERRORS.CORE.GENERAL.ENV_VAR_NOT_FOUND)) throw error;
    throw new UserError(
      "--verify needs an Etherscan v2 API key (it covers Basescan): `npx hardhat keystore set ETHERSCAN_API_KEY`, " +
        "or set ETHERSCAN_API_KEY in the environment; nothing was sent",
    );
  }
}

/** Verifies on Basescan (Etherscan v2) and Sourcify; failures are collected, not thrown, so the record is kept. */
export async function verifySources(
  hre: HardhatRuntimeEnvironment,
  session: Pick<NetworkSession, "chainId">,
  contract: DeployedContract,
  verifier: Verifier,
): Promise<{ verified: SourceVerification[]; failures: string[] }> {
  const verified: SourceVerification[] = [];
  const failures: string[] = [];
  for (const provider of VERIFICATION_PROVIDERS) {
    console.log(`Verifying the source of ${contract.address} on ${provider}...`);
    const request = {
      address: contract.address,
      constructorArgs: contract.constructorArgs,
      contract: APP_FQN,
      provider,
      ...(provider === "sourcify" ? { creationTxHash: contract.txHash } : {}),
    };
    let failure: VerificationFailure | undefined;
    for (let attempt = 0; attempt <= verifier.retryDelaysMs.length; attempt++) {
      try {
        await verifier.verify(request, hre);
        failure = undefined;
        break;
      } catch (error) {
        failure = verificationFailure(error);
        const delay = verifier.retryDelaysMs[attempt];
        // What cannot succeed (no network, a refused API key) is not tried again.
        if (delay === undefined || !failure.retry) break;
        console.log(`  ${provider} refused (${failure.reason}); trying again in ${delay / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    if (failure !== undefined) {
      failures.push(`${provider}: ${failure.reason}`);
      continue;
    }
    const url = contractUrl(hre, Number(session.chainId), contract.address, provider);
    verified.push({ address: contract.address, provider, url });
    console.log(`  verified: ${url}`);
  }
  return { verified, failures };
}

/** Where a verified contract's source can be read, in hardhat-verify's own URL formats. */
export function contractUrl(
  hre: HardhatRuntimeEnvironment,
  chainId: number,
  address: string,
  provider: (typeof VERIFICATION_PROVIDERS)[number],
): string {
  if (provider === "sourcify") {
    return `${hre.config.verify.sourcify.apiUrl ?? "https://sourcify.dev/server"}/repo-ui/${chainId}/${address}`;
  }
  const explorer = hre.config.chainDescriptors.get(BigInt(chainId))?.blockExplorers.etherscan?.url;
  return explorer === undefined ? `etherscan (chain ${chainId}) ${address}` : `${explorer}/address/${address}#code`;
}

function printParameters(file: string, parameters: AppDeployParameters & { owner: string }, ownerDefaulted: boolean) {
  console.log(`Parameters from ${file}:`);
  console.log(`  owner:              ${parameters.owner}${ownerDefaulted ? " (the deploying account)" : ""}`);
  console.log(`  noticePeriod:       ${formatNotice(parameters.noticePeriod)}`);
  console.log(
    `  initialComposeHash: ${parameters.initialComposeUri === "" ? "none" : `${parameters.initialComposeHash} (${parameters.initialComposeUri})`}`,
  );
  console.log(
    `  initialDevices:     ${parameters.initialDevices.length === 0 ? "none" : parameters.initialDevices.join(", ")}`,
  );
  console.log(`  allowAnyDevice:     ${parameters.allowAnyDevice}`);
  console.log(`  requireTcbUpToDate: ${parameters.requireTcbUpToDate}`);
}

async function printNextSteps(
  hre: HardhatRuntimeEnvironment,
  session: NetworkSession,
  app: string,
  kms: Kms | undefined,
  verified: boolean,
): Promise<void> {
  const network = ` --network ${session.networkName}`;
  console.log("Next:");
  if (kms === undefined) {
    const configured = await readKmsConfig(path.join(hre.config.paths.root, KMS_CONFIG_FILE)).then(
      (entries) => entries.has(Number(session.chainId)),
      () => false,
    );
    const kmsOption = configured ? "" : " --kms <address>";
    console.log(`  register it with dstack's KMS: npx hardhat register-app --app ${app}${kmsOption}${network}`);
  }
  if (!verified && !DEV_CHAIN_IDS.includes(Number(session.chainId))) {
    console.log("  verify its source: re-run this command with --verify");
  }
  console.log(`  see its policy:   npx hardhat app-status --app ${app}${network}`);
}

function withoutFlag({ alreadyRegistered: _, ...registration }: RegistrationResult) {
  return registration;
}

/** `git rev-parse HEAD` of the checkout, `+dirty` with uncommitted changes to tracked files; undefined outside git. */
async function sourceCommit(root: string): Promise<string | undefined> {
  const git = async (...args: string[]) => (await execFileAsync("git", args, { cwd: root })).stdout.trim();
  try {
    const commit = await git("rev-parse", "HEAD");
    return (await git("status", "--porcelain", "--untracked-files=no")) === "" ? commit : `${commit}+dirty`;
  } catch {
    return undefined;
  }
}

function relative(hre: HardhatRuntimeEnvironment, file: string): string {
  const rel = path.relative(hre.config.paths.root, path.resolve(hre.config.paths.root, file));
  return rel.startsWith("..") ? file : rel;
}
