/**
 * A node's side of registration, inside its TEE, through the dstack guest API (`@phala/dstack-sdk`): derive its
 * keys (with dstack's signature chain for the Ethereum key), quote them, take its boot info from what the quote and
 * event log measure, check it as members will, and sign. `register-node --from-dstack` and the guest agent's
 * replicator both build registrations, and attestation refreshes, here.
 *
 * Keys. dstack's `GetKey` derives a key from the app's key, which every instance of the app shares, and a path. So
 * the path names the registry, the instance and the release, which makes the node's address
 * - unique per instance: two instances of one app never share a key, nor an address;
 * - stable across restarts of the agent and reboots of the same CVM running the same release, so a node finds its
 *   registration, and later its ciphertext, again;
 * - new for a new release: the registry keeps the boot info a node registered with, so a node running other code
 *   registers, and is verified and onboarded, under a new address.
 * The keys are as secret as the app's key: dstack's KMS and code the app's policy allows could derive them, and both
 * are trusted with the shared secret anyway (a member onboards allowed code on request).
 */
import { DstackClient } from "@phala/dstack-sdk";
import { SigningKey, Wallet, getAddress, getBytes, hexlify } from "ethers";

import { DstackEvidenceError } from "../dstack/errors.js";
import { UserError } from "../errors.js";
import { encodeEventLogBytes, registryDomain, signRefresh, signRegistration } from "./eip712.js";
import type { AppBootInfo, AttestationRefresh, Registration } from "./eip712.js";
import { COMPOSE_HASH_EVENT, parseEventLog, runtimeEntries } from "./event-log.js";
import { ENCRYPTION_KEY_PURPOSE, NODE_KEY_PURPOSE, nodeKeyChainFromGetKey } from "./key-chain.js";
import type { NodeKeyChain } from "./key-chain.js";
import { BOOT_EVENTS, bootEventPayload, measureBoot, mrSystemOf } from "./measured-boot.js";
import type { DstackEventLogEntry } from "./event-log.js";
import type { SignedNodeRegistration, SignedRefresh } from "./files.js";
import { checkNodeEvidence, measuredBootInfo } from "./node-evidence.js";
import type { CheckedEvidence, EvidenceContext } from "./node-evidence.js";
import type { VerifiedTdxQuote } from "./quote.js";
import { replicationReportData } from "./report-data.js";
import { encryptionKeyPairFromPrivateKey } from "./secret.js";
import type { EncryptionKeyPair } from "./secret.js";

/** The first segments of every key path a node derives. */
export const NODE_KEY_PATH_PREFIX = "dstack-devproof/replication/v1";

export type NodeKeyRole = "ethereum" | "encryption";

/** What the guest API's `Info` says, as far as registration needs it (byte strings are hex, with or without 0x). */
export interface DstackInfo {
  app_id: string;
  instance_id: string;
  compose_hash: string;
  device_id: string;
  os_image_hash?: string | undefined;
  mr_aggregated?: string | undefined;
  /** JSON (the SDK parses the string): older guest agents put `os_image_hash` and `mr_aggregated` only here. */
  tcb_info?: unknown;
}

/** The part of the dstack guest API a node uses; `DstackClient` of `@phala/dstack-sdk` is one. */
export interface DstackGuestApi {
  info(): Promise<DstackInfo>;
  /** The derived key and dstack's `[sig0, kmsSig]` for it. */
  getKey(path: string, purpose: string): Promise<{ key: Uint8Array; signature_chain: Uint8Array[] }>;
  getQuote(reportData: Uint8Array): Promise<{ quote: string; event_log: string }>;
}

/** The boot facts `Info` gives, as the registry's `AppBootInfo` fields. */
export interface NodeBootFacts {
  appId: string;
  instanceId: string;
  composeHash: string;
  deviceId: string;
  osImageHash: string;
  mrAggregated: string;
}

/** A node's keys: its Ethereum key signs its registration (and, as a member, onboardings); the other decrypts. */
export interface NodeKeys {
  address: string;
  ethereum: Wallet;
  encryption: EncryptionKeyPair;
  paths: Record<NodeKeyRole, string>;
  /** dstack's chain for the Ethereum key, as the registry takes it. */
  keyChain: NodeKeyChain;
}

/**
 * The dstack guest API at `endpoint` (a unix socket path or an http(s) URL); by default the SDK's: the socket
 * `/var/run/dstack.sock` (and its usual alternatives), or `$DSTACK_SIMULATOR_ENDPOINT`. Failures become a
 * {@link UserError} naming the endpoint and the method.
 */
export function dstackGuestApi(endpoint?: string): DstackGuestApi {
  const where = endpoint ?? "the default dstack socket (/var/run/dstack.sock, or $DSTACK_SIMULATOR_ENDPOINT)";
  let client: DstackClient;
  try {
    client = new DstackClient(endpoint);
  } catch (error) {
    throw new UserError(
      `cannot reach the dstack guest API at ${where}: ${messageOf(error)}; run this inside a dstack CVM`,
    );
  }
  async function call<T>(method: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new UserError(`the dstack guest API at ${where} failed on ${method}: ${messageOf(error)}`);
    }
  }
  return {
    info: () => call("Info", () => client.info()),
    getKey: (path, purpose) => call("GetKey", () => client.getKey(path, purpose, "secp256k1")),
    getQuote: (reportData) => call("GetQuote", () => client.getQuote(reportData)),
  };
}

/** The `GetKey` path of a node's key for `registry`, in the instance and release `boot` describes. */
export function nodeKeyPath(
  registry: string,
  boot: Pick<NodeBootFacts, "instanceId" | "composeHash">,
  role: NodeKeyRole,
): string {
  return [NODE_KEY_PATH_PREFIX, registry, boot.instanceId, boot.composeHash, role]
    .map((s) => s.toLowerCase())
    .join("/");
}

/** The boot facts of `Info`; a {@link UserError} when a field is missing or malformed. */
export function bootFactsFromInfo(info: DstackInfo): NodeBootFacts {
  const tcb = tcbInfoObject(info.tcb_info);
  const optional = (name: "os_image_hash" | "mr_aggregated"): string =>
    info[name] !== undefined && info[name] !== ""
      ? infoHex(name, info[name], 32)
      : infoHex(name, tcb[name] ?? "", 32, true);
  const instanceId = infoHex("instance_id", info.instance_id, 20, true);
  if (BigInt(instanceId) === 0n) {
    throw new UserError(
      "the dstack guest API reports no instance id (is no_instance_id set in app-compose.json?): every node needs " +
        "its own key, and dstack derives the same keys for every instance of an app unless the instance is named",
    );
  }
  return {
    appId: getAddress(infoHex("app_id", info.app_id, 20)),
    instanceId: getAddress(instanceId),
    composeHash: infoHex("compose_hash", info.compose_hash, 32),
    deviceId: infoHex("device_id", info.device_id, 32),
    osImageHash: optional("os_image_hash"),
    mrAggregated: optional("mr_aggregated"),
  };
}

/**
 * Derives the node's Ethereum and encryption keys with `GetKey` (see the top of this file for the paths), the
 * Ethereum key with the purpose {@link NODE_KEY_PURPOSE}, whose signature chain the registry verifies.
 */
export async function deriveNodeKeys(guest: DstackGuestApi, registry: string, boot: NodeBootFacts): Promise<NodeKeys> {
  const paths: Record<NodeKeyRole, string> = {
    ethereum: nodeKeyPath(registry, boot, "ethereum"),
    encryption: nodeKeyPath(registry, boot, "encryption"),
  };
  const [ethereumKey, encryptionKey] = await Promise.all([
    guest.getKey(paths.ethereum, NODE_KEY_PURPOSE),
    guest.getKey(paths.encryption, ENCRYPTION_KEY_PURPOSE),
  ]);
  for (const [role, { key }] of [
    ["ethereum", ethereumKey],
    ["encryption", encryptionKey],
  ] as const) {
    if (key.length !== 32) throw new UserError(`GetKey gave a ${key.length}-byte ${role} key; expected 32 bytes`);
  }
  const ethereum = new Wallet(hexlify(ethereumKey.key));
  let keyChain: NodeKeyChain;
  try {
    keyChain = nodeKeyChainFromGetKey(
      boot.appId,
      new SigningKey(ethereum.privateKey).compressedPublicKey,
      ethereumKey.signature_chain ?? [],
    );
  } catch (error) {
    if (!(error instanceof DstackEvidenceError)) throw error;
    throw new UserError(
      `GetKey gave the node key without a usable signature chain (${error.message}): this dstack guest agent ` +
        "does not prove its keys came from the KMS, so no registry would accept them",
    );
  }
  return {
    address: ethereum.address,
    ethereum,
    encryption: encryptionKeyPairFromPrivateKey(encryptionKey.key),
    paths,
    keyChain,
  };
}

/**
 * dstack's `mrSystem` of a TDX boot: `sha256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ sha256(key-provider payload))`, with 32 zero
 * bytes for the last part when no key provider was measured (see measured-boot.ts, which members hold it to).
 */
export function dstackMrSystem(verified: VerifiedTdxQuote, runtime: readonly DstackEventLogEntry[]): string {
  return mrSystemOf(verified, bootEventPayload(runtime, BOOT_EVENTS.keyProvider) ?? "0x");
}

export interface BuildNodeRegistrationOptions {
  guest: DstackGuestApi;
  chainId: bigint;
  registry: string;
  /**
   * Verifies the node's own quote (DCAP, with collateral): the TCB status and advisories it gives go into the boot
   * info, as the KMS and every member will see them.
   */
  verifyQuote: (quote: Uint8Array) => Promise<VerifiedTdxQuote>;
  /** The registry's app and its KMS's `kmsInfo()`: what members will hold the registration to. */
  context: EvidenceContext;
}

export interface BuiltNodeRegistration {
  signed: SignedNodeRegistration;
  /** For the node's agent (decrypting the secret; signing onboardings as a member). Never written to a file. */
  keys: NodeKeys;
  /** The node's own check of what members will check: they will find the same. */
  checked: CheckedEvidence;
}

/** This node's quote over its keys, with its RTMR3 entries, verified and measured. */
async function quoteOwnKeys(
  guest: DstackGuestApi,
  keys: NodeKeys,
  verifyQuote: (quote: Uint8Array) => Promise<VerifiedTdxQuote>,
) {
  const response = await guest.getQuote(replicationReportData(keys.address, keys.encryption.publicKey));
  const quote = getBytes(infoHex("quote", response.quote));
  const runtime = runtimeEntries(parseEventLog(response.event_log));
  if (!runtime.some((entry) => entry.event === COMPOSE_HASH_EVENT)) {
    throw new UserError("the event log from GetQuote has no compose-hash event in RTMR3: is this a dstack CVM?");
  }
  const verified = await verifyQuote(quote);
  const measured = measureBoot(verified, runtime);
  return { quote, runtime, verified, measured };
}

/**
 * Builds and signs this node's registration: keys and the Ethereum key's chain from `GetKey`, a quote with the
 * `report_data` that binds them, the RTMR3 entries of the event log, and the boot info the quote and log measure (in
 * the view dstack's KMS saw at boot: what the registry stores), with the TCB of the quote's own verification. Before
 * signing, it runs every check a member will run on the result ({@link checkNodeEvidence}), so a node never spends
 * its one registration on one that would be refused; such a failure throws `ReplicationVerificationError`.
 */
export async function buildNodeRegistration(options: BuildNodeRegistrationOptions): Promise<BuiltNodeRegistration> {
  const { guest, chainId, verifyQuote, context } = options;
  const registry = getAddress(options.registry);
  const boot = bootFactsFromInfo(await guest.info());
  if (getAddress(boot.appId) !== getAddress(context.appId)) {
    throw new UserError(
      `the node runs app ${boot.appId}, but this registry serves app ${getAddress(context.appId)}: check --registry`,
    );
  }
  const keys = await deriveNodeKeys(guest, registry, boot);
  const { quote, runtime, verified, measured } = await quoteOwnKeys(guest, keys, verifyQuote);

  const bootInfo: AppBootInfo = measuredBootInfo(measured);
  for (const field of ["instanceId", "composeHash"] as const) {
    if (bootInfo[field].toLowerCase() !== boot[field].toLowerCase()) {
      throw new UserError(
        `Info reports ${field} ${boot[field]}, but this CVM's quote measures ${bootInfo[field]}: the keys are derived ` +
          "for what Info reports, so nothing is registered",
      );
    }
  }
  const registration: Registration = {
    node: keys.address,
    encryptionPublicKey: hexlify(keys.encryption.publicKey),
    bootInfo,
    quote: hexlify(quote),
    eventLog: hexlify(encodeEventLogBytes(JSON.stringify(runtime))),
  };
  const checked = checkNodeEvidence({ ...registration, keyChain: keys.keyChain }, verified, context);
  const signature = await signRegistration(keys.ethereum, registryDomain(chainId, registry), registration);
  return { signed: { chainId, registry, registration, keyChain: keys.keyChain, signature }, keys, checked };
}

export interface BuildRefreshOptions {
  guest: DstackGuestApi;
  chainId: bigint;
  registry: string;
  keys: NodeKeys;
  /** The boot info the registry stores for this node: a refresh changes its TCB status and advisories only. */
  stored: AppBootInfo;
  /** The node's refresh count, as the registry stores it (`refreshes`). */
  nonce: bigint;
  verifyQuote: (quote: Uint8Array) => Promise<VerifiedTdxQuote>;
  context: EvidenceContext;
}

export interface BuiltRefresh {
  signed: SignedRefresh;
  /** The boot info the registry will store: the stored one with the new TCB. */
  bootInfo: AppBootInfo;
  checked: CheckedEvidence;
}

/**
 * Builds and signs this node's attestation refresh: a fresh quote over the same keys, verified with fresh collateral,
 * whose measured boot must be the one the registry stores (a refresh reports a new TCB, never a new boot). The same
 * checks as members run ({@link checkNodeEvidence}) come first; a failure throws `ReplicationVerificationError`.
 */
export async function buildRefresh(options: BuildRefreshOptions): Promise<BuiltRefresh> {
  const { guest, chainId, keys, verifyQuote, context } = options;
  const registry = getAddress(options.registry);
  const { quote, runtime, verified } = await quoteOwnKeys(guest, keys, verifyQuote);
  const bootInfo: AppBootInfo = {
    ...options.stored,
    tcbStatus: verified.tcbStatus,
    advisoryIds: [...verified.advisoryIds],
  };
  const eventLog = hexlify(encodeEventLogBytes(JSON.stringify(runtime)));
  const checked = checkNodeEvidence(
    {
      node: keys.address,
      encryptionPublicKey: keys.encryption.publicKey,
      bootInfo,
      quote,
      eventLog,
      keyChain: keys.keyChain,
    },
    verified,
    context,
  );
  const refresh: AttestationRefresh = {
    node: keys.address,
    nonce: options.nonce,
    quote: hexlify(quote),
    eventLog,
    tcbStatus: bootInfo.tcbStatus,
    advisoryIds: bootInfo.advisoryIds,
  };
  const signature = await signRefresh(keys.ethereum, registryDomain(chainId, registry), refresh);
  return { signed: { chainId, registry, refresh, signature }, bootInfo, checked };
}

/** `Info`'s `tcb_info`, a JSON string (or already an object); empty when it is neither. */
export function tcbInfoObject(value: unknown): Record<string, string | undefined> {
  let parsed = value;
  if (typeof value === "string") {
    try {
      parsed = JSON.parse(value);
    } catch {
      return {};
    }
  }
  return parsed !== null && typeof parsed === "object" ? (parsed as Record<string, string | undefined>) : {};
}

/**
 * A hex field of the guest API (dstack sends bytes as hex without 0x), as lower-case 0x-hex of `length` bytes.
 * With `zeroIfEmpty`, a missing or empty field is all zeros (older guest agents omit some).
 */
export function infoHex(name: string, value: unknown, length?: number, zeroIfEmpty = false): string {
  const text = typeof value === "string" ? value.trim().replace(/^0x/i, "") : undefined;
  if (zeroIfEmpty && (text === undefined || text === "")) return `0x${"00".repeat(length ?? 0)}`;
  const valid =
    text !== undefined && /^([0-9a-fA-F]{2})+$/.test(text) && (length === undefined || text.length === length * 2);
  if (!valid) {
    const expected = length === undefined ? "hex bytes" : `${length} bytes of hex`;
    throw new UserError(`the dstack guest API gave ${name} ${JSON.stringify(value)}; expected ${expected}`);
  }
  return `0x${text.toLowerCase()}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}
