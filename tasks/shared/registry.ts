/**
 * What every ReplicationRegistry task shares: `--registry` and `--node` checks, a session on the registry and its
 * AppAuth, sending with the registry's errors decoded, and the member's verification of a registered node (quote,
 * TCB, report_data binding, measured compose hash, policy) with one line per check and one line when it refuses.
 */
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import type { ContractCall } from "../../lib/appAuth.js";
import { connectAppAuth } from "../../lib/appAuth.js";
import { UserError } from "../../lib/errors.js";
import { formatDate } from "../../lib/format.js";
import {
  DEFAULT_PCCS_URL,
  ReplicationVerificationError,
  describeCollateralSource,
  describeVerificationFailure,
  loadCollateral,
  verifyRegistration,
} from "../../lib/replication/index.js";
import type { CollateralSource, VerifiedRegistration } from "../../lib/replication/index.js";
import {
  RefusedEventError,
  nodeStatusOf,
  connectRegistry,
  readRegistration,
  registryInterface,
} from "../../lib/replication/registry.js";
import type { NodeStatus, RegistrationRecord } from "../../lib/replication/registry.js";
import { atMostOneOf, checkBlockNumber, checkUnixTime, parseAddress, requireOption } from "../../lib/validate.js";
import type { ReplicationRegistry } from "../../types/ethers-contracts/index.js";
import { givenInt } from "./options.js";
import { quoteVerifier } from "./quote-verifier.js";
import { sendTo, type SentTransaction } from "./send.js";
import { openNetwork, type AppSession, type NetworkSession } from "./session.js";

export type RegistryFunction = Parameters<ReplicationRegistry["interface"]["getFunction"]>[0];

/** The options every registry task takes, as the CLI passes them. */
export interface RegistryOptions {
  registry?: string | undefined;
  from?: string | undefined;
}

export interface ParsedRegistryOptions {
  address: string;
  from: string | undefined;
}

/** A checked connection to a ReplicationRegistry and the TimelockedAppAuth it is bound to. */
export interface RegistrySession extends NetworkSession {
  address: string;
  /** Connected to the signer when there is one, else read-only. */
  registry: ReplicationRegistry;
  /** The app's policy, through which the registry checks every boot info and its owner. */
  app: AppSession;
}

/** Validates `--registry` and `--from` without touching the network. */
export function parseRegistryOptions(options: RegistryOptions): ParsedRegistryOptions {
  return {
    address: parseAddress(
      "registry",
      requireOption("registry", options.registry, "the address of the app's ReplicationRegistry"),
    ),
    from: options.from === undefined ? undefined : parseAddress("from", options.from),
  };
}

/** Validates `--node`. */
export function parseNodeOption(node: string | undefined): string {
  return parseAddress("node", requireOption("node", node, "the node's address (its in-TEE Ethereum key)"));
}

/**
 * Connects to the registry after checking it is one (its EIP-712 domain), and to the TimelockedAppAuth it is bound
 * to. @param withSigner whether the task sends; then the signer is `--from`, or the first account.
 */
export async function openRegistry(
  hre: HardhatRuntimeEnvironment,
  { address, from }: ParsedRegistryOptions,
  withSigner: boolean,
): Promise<RegistrySession> {
  const network = await openNetwork(hre, from, withSigner);
  const runner = network.signer ?? network.ethers.provider;
  const registry = await connectRegistry(address, runner, network.where);
  const appAddress = await registry.appAuth();
  const appAuth = await connectAppAuth(appAddress, runner, network.where);
  return { ...network, address, registry, app: { ...network, address: appAddress, appAuth } };
}

/** Prints which registry, app, network and account a task is about to use. */
export function printRegistryHeader(session: RegistrySession): void {
  console.log(`ReplicationRegistry ${session.address} of app ${session.app.address} on ${session.where}`);
  if (session.signer !== undefined) console.log(`Sending from ${session.signer.address} (pays the gas)`);
}

/** Sends a registry call (see `sendTo`): a revert that slips past the checks names the registry's custom error. */
export async function sendRegistryCall(
  session: RegistrySession,
  call: ContractCall<RegistryFunction>,
): Promise<SentTransaction> {
  return sendTo(session, { contract: session.registry, address: session.address, iface: registryInterface }, call);
}

/** The node's status; refuses with what it means when it is not `expected`. `what` says what was attempted. */
export async function requireNodeStatus(
  session: RegistrySession,
  node: string,
  expected: NodeStatus,
  what: string,
): Promise<void> {
  const status = nodeStatusOf(await session.registry.nodeStatus(node));
  if (status === expected) return;
  const meaning: Record<NodeStatus, string> = {
    None: `node ${node} is not registered with this registry (register it first: npx hardhat register-node)`,
    Registered: `node ${node} is registered and waiting to be onboarded`,
    Member: `node ${node} is already a member`,
    Evicted: `node ${node} was evicted; eviction is final, the address can never register or join again`,
  };
  throw new UserError(`cannot ${what}: ${meaning[status]}`);
}

/** How a task verifies a node: the collateral's source, the verification time, where its registration is sought. */
export interface VerificationOptions {
  collateral?: string | undefined;
  pccsUrl?: string | undefined;
  /** Unix seconds; UNSET (the option's default) or absent: the time of the check. Register-node has no `--at`. */
  at?: number | undefined;
  /** First block searched for the node's events; absent: 0. */
  fromBlock?: number | undefined;
}

export interface ParsedVerificationOptions {
  source: CollateralSource;
  /** Unix seconds; undefined for the clock at verification. */
  at: number | undefined;
  /** First block searched for the node's events (public RPCs cap `eth_getLogs` ranges). */
  fromBlock: number;
}

/** Validates `--collateral` / `--pccs-url` (at most one; default Phala's PCCS), `--at` and `--from-block`. */
export function parseVerificationOptions(options: VerificationOptions): ParsedVerificationOptions {
  const given = atMostOneOf({ collateral: options.collateral, "pccs-url": options.pccsUrl });
  const source: CollateralSource =
    given === undefined
      ? { pccsUrl: DEFAULT_PCCS_URL }
      : given.option === "collateral"
        ? { file: given.value }
        : { pccsUrl: given.value };
  const at = givenInt(options.at);
  return {
    source,
    at: at === undefined ? undefined : checkUnixTime("at", at),
    fromBlock: checkBlockNumber("from-block", options.fromBlock ?? 0),
  };
}

export interface VerifiedNode {
  record: RegistrationRecord;
  verified: VerifiedRegistration;
}

/**
 * A member's checks of a registered node, printed one per line: its `NodeRegistered` evidence verifies (DCAP quote
 * and collateral, claimed TCB and advisories, `report_data` binding, event log replayed to RTMR3 and the measured
 * compose hash), and the app's policy allows its boot info now. Refuses with one line naming the check that failed
 * ("cannot <what> <node>: …").
 */
export async function verifyRegisteredNode(
  session: RegistrySession,
  node: string,
  verification: ParsedVerificationOptions,
  what: string,
  options: { requireAllowed: boolean } = { requireAllowed: true },
): Promise<VerifiedNode & { allowed: boolean; reason: string }> {
  let record: RegistrationRecord | undefined;
  try {
    record = await readRegistration(session.registry, node, verification.fromBlock);
  } catch (error) {
    // Its one registration is a log that does not decode (anyone can register such a node): nothing to verify.
    if (error instanceof RefusedEventError) throw new UserError(`cannot ${what} ${node}: ${error.message}`);
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new UserError(
      `the node refused the registry's event logs since block ${verification.fromBlock} (${reason}): ` +
        "pass --from-block <the registry's deployment block>",
    );
  }
  if (record === undefined) {
    throw new UserError(`cannot ${what} ${node}: no NodeRegistered event for it since block ${verification.fromBlock}`);
  }
  const { evidence } = record;
  console.log(
    `Verifying node ${node} (registered in block ${record.blockNumber}, transaction ${record.transactionHash}):`,
  );
  const collateral = await loadCollateral(verification.source, evidence.quote);
  const nowSeconds = verification.at ?? Math.floor(Date.now() / 1000);
  const { verifier, description, substitute } = quoteVerifier();
  let verified: VerifiedRegistration;
  try {
    verified = verifyRegistration(evidence, { collateral, nowSeconds, verifier });
  } catch (error) {
    if (!(error instanceof ReplicationVerificationError)) throw error;
    throw new UserError(`cannot ${what} ${node}: ${describeVerificationFailure(error)}`);
  }
  const row = (label: string, text: string) => console.log(`  ${label.padEnd(13)}${text}`);
  row(
    "quote",
    substitute
      ? `accepted by a STAND-IN verifier: ${description}`
      : `verified by ${description}, at ${formatDate(nowSeconds)} with collateral from ${describeCollateralSource(verification.source)}`,
  );
  const advisories = verified.quote.advisoryIds;
  row(
    "TCB",
    `${verified.quote.tcbStatus}, ${advisories.length === 0 ? "no advisories" : `advisories ${advisories.join(", ")}`}: as the node claims`,
  );
  row("report_data", "binds the node's address and its registered encryption key");
  row(
    "compose hash",
    `${verified.measuredComposeHash} measured into RTMR3 (the event log replays to the quote's RTMR3): as claimed`,
  );
  const [allowed, reason] = await session.registry.isNodeAllowed(node);
  if (!allowed && options.requireAllowed) {
    throw new UserError(`cannot ${what} ${node}: the app's policy does not allow it now: ${reason}`);
  }
  row(
    "policy",
    allowed
      ? `the app's TimelockedAppAuth ${session.app.address} allows its boot info now`
      : `the app's TimelockedAppAuth ${session.app.address} does NOT allow its boot info now: ${reason}`,
  );
  return { record, verified, allowed, reason };
}
