/**
 * A node's side of registration, inside its TEE, through the dstack guest API (`@phala/dstack-sdk`): derive its
 * keys, quote them, describe its boot, check and sign. `register-node --from-dstack` and the guest agent's
 * replicator both build registrations here.
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
import { Wallet, getAddress, getBytes, hexlify } from "ethers";

import { UserError } from "../errors.js";
import { encodeEventLogBytes, registryDomain, signRegistration } from "./eip712.js";
import type { AppBootInfo, Registration } from "./eip712.js";
import { COMPOSE_HASH_EVENT, parseEventLog, runtimeEntries } from "./event-log.js";
import { BOOT_EVENTS, bootEventPayload, mrSystemOf } from "./measured-boot.js";
import type { DstackEventLogEntry } from "./event-log.js";
import type { SignedNodeRegistration } from "./files.js";
import type { VerifiedTdxQuote } from "./quote.js";
import { checkEvidenceAgainstQuote } from "./registration.js";
import type { VerifiedRegistration } from "./registration.js";
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
  getKey(path: string, purpose: string): Promise<{ key: Uint8Array }>;
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

/** Derives the node's Ethereum and encryption keys with `GetKey` (see the top of this file for the paths). */
export async function deriveNodeKeys(guest: DstackGuestApi, registry: string, boot: NodeBootFacts): Promise<NodeKeys> {
  const paths: Record<NodeKeyRole, string> = {
    ethereum: nodeKeyPath(registry, boot, "ethereum"),
    encryption: nodeKeyPath(registry, boot, "encryption"),
  };
  const [ethereumKey, encryptionKey] = await Promise.all([
    guest.getKey(paths.ethereum, "ethereum"),
    guest.getKey(paths.encryption, "encryption"),
  ]);
  for (const [role, { key }] of [
    ["ethereum", ethereumKey],
    ["encryption", encryptionKey],
  ] as const) {
    if (key.length !== 32) throw new UserError(`GetKey gave a ${key.length}-byte ${role} key; expected 32 bytes`);
  }
  const ethereum = new Wallet(hexlify(ethereumKey.key));
  return { address: ethereum.address, ethereum, encryption: encryptionKeyPairFromPrivateKey(encryptionKey.key), paths };
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
}

export interface BuiltNodeRegistration {
  signed: SignedNodeRegistration;
  /** For the node's agent (decrypting the secret; signing onboardings as a member). Never written to a file. */
  keys: NodeKeys;
  /** The node's own check of what members will check: they will find the same. */
  verified: VerifiedRegistration;
}

/**
 * Builds and signs this node's registration: keys from `GetKey`, a quote with the `report_data` that binds them,
 * the RTMR3 entries of the event log, boot info from `Info` and the quote's own verification. Before signing, it
 * runs every check a member will run on the result ({@link checkEvidenceAgainstQuote}), so a node never spends its
 * one registration on one that would be refused; such a failure throws {@link ReplicationVerificationError}.
 */
export async function buildNodeRegistration(options: BuildNodeRegistrationOptions): Promise<BuiltNodeRegistration> {
  const { guest, chainId, verifyQuote } = options;
  const registry = getAddress(options.registry);
  const boot = bootFactsFromInfo(await guest.info());
  const keys = await deriveNodeKeys(guest, registry, boot);

  const response = await guest.getQuote(replicationReportData(keys.address, keys.encryption.publicKey));
  const quote = getBytes(infoHex("quote", response.quote));
  const runtime = runtimeEntries(parseEventLog(response.event_log));
  if (!runtime.some((entry) => entry.event === COMPOSE_HASH_EVENT)) {
    throw new UserError("the event log from GetQuote has no compose-hash event in RTMR3: is this a dstack CVM?");
  }
  const verified = await verifyQuote(quote);

  const bootInfo: AppBootInfo = {
    appId: boot.appId,
    composeHash: boot.composeHash,
    instanceId: boot.instanceId,
    deviceId: boot.deviceId,
    mrAggregated: boot.mrAggregated,
    mrSystem: dstackMrSystem(verified, runtime),
    osImageHash: boot.osImageHash,
    tcbStatus: verified.tcbStatus,
    advisoryIds: [...verified.advisoryIds],
  };
  const registration: Registration = {
    node: keys.address,
    encryptionPublicKey: hexlify(keys.encryption.publicKey),
    bootInfo,
    quote: hexlify(quote),
    eventLog: hexlify(encodeEventLogBytes(JSON.stringify(runtime))),
  };
  const checked = checkEvidenceAgainstQuote(registration, verified);
  const signature = await signRegistration(keys.ethereum, registryDomain(chainId, registry), registration);
  return { signed: { chainId, registry, registration, signature }, keys, verified: checked };
}

function tcbInfoObject(value: unknown): Record<string, string | undefined> {
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
function infoHex(name: string, value: unknown, length?: number, zeroIfEmpty = false): string {
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
