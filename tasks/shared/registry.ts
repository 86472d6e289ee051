/**
 * What every ReplicationRegistry task shares: `--registry` and `--node` checks, a session on the registry, its AppAuth
 * and its KMS, sending with the registry's errors decoded, and the member's verification of a node's evidence
 * (lib/replication/node-evidence.ts: quote, report_data binding, measured boot, key provider, key chain, TCB; then
 * its attestation's age and the policy) with one line per check and one line when it refuses.
 */
import { getAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import type { ContractCall } from "../../lib/appAuth.js";
import { connectAppAuth } from "../../lib/appAuth.js";
import { UserError } from "../../lib/errors.js";
import { DstackEvidenceError } from "../../lib/dstack/index.js";
import { formatDate, formatDateWithRelative } from "../../lib/format.js";
import {
  DEFAULT_PCCS_URL,
  MissingEventError,
  ReplicationVerificationError,
  checkNodeEvidence,
  describeCheckedEvidence,
  describeCollateralSource,
  describeVerificationFailure,
  loadCollateral,
  readEvidenceContext,
  readNodeEvidence,
} from "../../lib/replication/index.js";
import type {
  CheckedEvidence,
  CollateralSource,
  NodeEvidenceRecord,
  RegistryEvidenceContext,
} from "../../lib/replication/index.js";
import { RefusedEventError, nodeStatusOf, connectRegistry, registryInterface } from "../../lib/replication/registry.js";
import type { NodeStatus } from "../../lib/replication/registry.js";
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

/**
 * Refuses a file signed elsewhere for another chain or registry: an EIP-712 signature binds both, so the registry would
 * refuse it too, with a less useful reason. `file` names it in the message.
 */
export function requireSignedForSession(
  session: RegistrySession,
  signed: { chainId: bigint; registry: string },
  file: string,
): void {
  if (signed.chainId !== session.chainId) {
    throw new UserError(`${file} is signed for chain ${signed.chainId}, but this is ${session.where}: check --network`);
  }
  if (getAddress(signed.registry) !== getAddress(session.address)) {
    throw new UserError(`${file} is signed for the registry ${signed.registry}, not ${session.address}`);
  }
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

/**
 * The registry's app and its KMS's keys, which every node is held to; refuses when the KMS no longer publishes the
 * root the registry is bound to. Printed once: which KMS, which root, which app.
 */
export async function evidenceContextOf(session: RegistrySession): Promise<RegistryEvidenceContext> {
  let context: RegistryEvidenceContext;
  try {
    context = await readEvidenceContext(session.registry);
  } catch (error) {
    if (error instanceof ReplicationVerificationError) throw new UserError(describeVerificationFailure(error));
    if (error instanceof DstackEvidenceError) {
      throw new UserError(`the registry's KMS publishes no usable root: ${error.message}`);
    }
    throw error;
  }
  console.log(
    `Evidence is checked against dstack's KMS ${context.kmsAddress}: root ${context.kmsRoot.publicKey} ` +
      `(${context.kmsRoot.address}, the root this registry is bound to), for app ${context.appId}`,
  );
  return context;
}

export interface VerifiedNode {
  read: NodeEvidenceRecord;
  checked: CheckedEvidence;
  context: RegistryEvidenceContext;
}

/**
 * A member's checks of a node, printed one per line: its latest evidence (registration, with its last attestation's
 * quote) verifies — Intel DCAP with collateral, `report_data` binding, the boot info its quote and event log measure,
 * the key provider naming the registry's KMS, its key chain to that KMS's root for this app, the TCB status and
 * advisories — then its last attestation is younger than the registry's period, and the app's policy allows its boot
 * info now. Refuses with one line naming the check that failed ("cannot <what> <node>: …").
 */
export async function verifyRegisteredNode(
  session: RegistrySession,
  node: string,
  verification: ParsedVerificationOptions,
  what: string,
  options: { requireAllowed: boolean } = { requireAllowed: true },
): Promise<VerifiedNode & { allowed: boolean; reason: string; expired: boolean }> {
  const context = await evidenceContextOf(session);
  let read: NodeEvidenceRecord | undefined;
  try {
    read = await readNodeEvidence(session.registry, node, { fromBlock: verification.fromBlock });
  } catch (error) {
    if (error instanceof MissingEventError) {
      throw new UserError(
        `cannot ${what} ${node}: ${error.message}: pass --from-block <the registry's deployment block>`,
      );
    }
    // Its evidence is a log that does not decode, or a record whose strings are not UTF-8 (the node wrote them):
    // nothing to verify.
    if (error instanceof RefusedEventError) throw new UserError(`cannot ${what} ${node}: ${error.message}`);
    if (error instanceof ReplicationVerificationError) {
      throw new UserError(`cannot ${what} ${node}: ${describeVerificationFailure(error)}`);
    }
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new UserError(
      `the node refused the registry's event logs since block ${verification.fromBlock} (${reason}): ` +
        "pass --from-block <the registry's deployment block>",
    );
  }
  if (read === undefined) {
    throw new UserError(`cannot ${what} ${node}: no NodeRegistered event for it since block ${verification.fromBlock}`);
  }
  const { evidence } = read;
  const attestation =
    read.refresh === undefined
      ? "its registration's quote"
      : `its refresh #${read.refresh.nonce + 1n}'s quote (block ${read.refresh.blockNumber})`;
  console.log(
    `Verifying node ${node} (registered in block ${read.registration.blockNumber}, transaction ` +
      `${read.registration.transactionHash}; last attestation: ${attestation}):`,
  );
  const collateral = await loadCollateral(verification.source, evidence.quote);
  const nowSeconds = verification.at ?? Math.floor(Date.now() / 1000);
  const { verifier, description, substitute } = quoteVerifier();
  let checked: CheckedEvidence;
  try {
    checked = checkNodeEvidence(evidence, verifier(evidence.quote, collateral, nowSeconds), {
      appId: context.appId,
      kms: context.kms,
    });
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
  for (const [label, text] of describeCheckedEvidence(checked, context.appId)) row(label, text);

  const block = await session.ethers.provider.getBlock("latest");
  const chainNow = BigInt(block?.timestamp ?? Math.floor(Date.now() / 1000));
  const expiresAt = await session.registry.attestationExpiresAt(node);
  const expired = chainNow >= expiresAt;
  if (expired && options.requireAllowed) {
    throw new UserError(
      `cannot ${what} ${node}: its last attestation expired at ${formatDate(expiresAt)} (the registry counts one for ` +
        `${(await session.registry.ATTESTATION_PERIOD()) / 86_400n} days): the node must refresh it first`,
    );
  }
  row(
    "attestation",
    `${expired ? "EXPIRED at" : "counts until"} ${formatDateWithRelative(expiresAt, chainNow)}, in chain time`,
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
  return { read, checked, context, allowed, reason, expired };
}
