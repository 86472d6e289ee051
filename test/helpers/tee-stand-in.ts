/**
 * A stand-in for a TDX node, for tests that have no TDX hardware: it "boots" with a dstack-shaped RTMR3 event log
 * and "quotes" by patching `report_data` and RTMR3 (and, for a custom OS, MRTD and RTMR0-2) into the real fixture
 * quote. Such a quote parses like a real one but its Intel signature no longer verifies, so only
 * {@link standInVerifier} accepts it, never `verifyTdxQuote` (a test checks this). Its PCK certificate, hence its
 * PPID and device id, is the fixture's.
 */
import { readFile } from "node:fs/promises";

import { createHash } from "node:crypto";

import { Quote } from "@phala/dcap-qvl";
import { Wallet, getBytes, hexlify, id } from "ethers";
import type { BytesLike, TypedDataDomain } from "ethers";

import {
  TDX_V4_REPORT_DATA_OFFSET,
  encodeEventLogBytes,
  measureBoot,
  measuredBootInfo,
  pckPpid,
  replayRtmr,
  replicationReportData,
  runtimeEvent,
  signRegistration,
  tdMeasurements,
} from "../../lib/replication/index.js";
import type {
  AppBootInfo,
  DstackEventLogEntry,
  MeasuredBoot,
  NodeKeyChain,
  QuoteCollateral,
  QuoteVerifier,
  Registration,
  VerifiedTdxQuote,
} from "../../lib/replication/index.js";
import { STAND_IN_KMS, standInKeyProviderPayload } from "./kms-stand-in.js";
import type { StandInKms } from "./kms-stand-in.js";
import { keyChainOf } from "./replication.js";
import type { TestNode } from "./replication.js";

/** The TDX fixture: a real quote and its collateral (test/fixtures/tdx/README.md says where they come from). */
export const TDX_FIXTURE_DIR = new URL("../fixtures/tdx/", import.meta.url);

/** A time inside the fixture collateral's validity window (2025-06-25T00:00:00Z). */
export const FIXTURE_TIME = 1750809600;

/** Byte offset of RTMR3 in a TDX v4 quote: 48-byte header + 472 bytes of TD report before it. */
export const TDX_V4_RTMR3_OFFSET = 520;

/** Byte offsets of the 48-byte measurement registers in a TDX v4 quote (48-byte header, then the TD report 1.0). */
export const TDX_V4_REGISTER_OFFSETS = {
  mrTd: 184,
  mrConfigId: 232,
  mrOwner: 280,
  mrOwnerConfig: 328,
  rtmr0: 376,
  rtmr1: 424,
  rtmr2: 472,
  rtmr3: TDX_V4_RTMR3_OFFSET,
} as const;

/**
 * The registers a host chooses by what it boots: MRTD (the firmware), RTMR0-2 (firmware configuration, kernel,
 * command line, initrd), and the config ids it may pass at launch. Unset registers keep the fixture's values, which
 * play dstack's OS image.
 */
export interface StandInOs {
  mrTd?: BytesLike;
  rtmr0?: BytesLike;
  rtmr1?: BytesLike;
  rtmr2?: BytesLike;
  mrConfigId?: BytesLike;
  mrOwner?: BytesLike;
  mrOwnerConfig?: BytesLike;
}

/** A custom OS: MRTD and RTMR0-2 that are not the fixture's, fixed by `label`. */
export function customOs(label: string): Required<Pick<StandInOs, "mrTd" | "rtmr0" | "rtmr1" | "rtmr2">> {
  const register = (name: string) => hexlify(createHash("sha384").update(`${label} ${name}`).digest());
  return { mrTd: register("MRTD"), rtmr0: register("RTMR0"), rtmr1: register("RTMR1"), rtmr2: register("RTMR2") };
}

export async function loadTdxFixture(): Promise<{ quote: Uint8Array; collateral: QuoteCollateral }> {
  const quote = new Uint8Array(await readFile(new URL("tdx_quote", TDX_FIXTURE_DIR)));
  const collateral = JSON.parse(
    await readFile(new URL("tdx_quote_collateral.json", TDX_FIXTURE_DIR), "utf8"),
  ) as QuoteCollateral;
  return { quote, collateral };
}

/** The fixture quote with `reportData` (and RTMR3, and the registers of `os`, if given) patched in. */
export function standInQuote(
  template: Uint8Array,
  reportData: BytesLike,
  rtmr3?: BytesLike,
  os: StandInOs = {},
): Uint8Array {
  const quote = Uint8Array.from(template);
  quote.set(getBytes(reportData), TDX_V4_REPORT_DATA_OFFSET);
  if (rtmr3 !== undefined) quote.set(getBytes(rtmr3), TDX_V4_RTMR3_OFFSET);
  for (const [register, value] of Object.entries(os) as Array<[keyof StandInOs, BytesLike | undefined]>) {
    if (value === undefined) continue;
    const bytes = getBytes(value);
    if (bytes.length !== 48) throw new Error(`${register} must be 48 bytes, got ${bytes.length}`);
    quote.set(bytes, TDX_V4_REGISTER_OFFSETS[register]);
  }
  return quote;
}

/** The device id dstack's KMS derives for a quote made on the template's platform: `sha256(PPID)`. */
export function standInDeviceId(template: Uint8Array): string {
  return hexlify(createHash("sha256").update(pckPpid(template)).digest());
}

/** What a parseable TDX quote says, as if DCAP verification passed with an up-to-date TCB. Tests only. */
export function standInVerified(quote: BytesLike): VerifiedTdxQuote {
  const td = Quote.parse(getBytes(quote)).report.asTd10();
  if (td === null) throw new Error("not a TDX quote");
  return { ...tdMeasurements(td), tcbStatus: "UpToDate", advisoryIds: [], ppid: pckPpid(quote) };
}

/** Accepts any parseable TDX quote as if DCAP verification passed, with an up-to-date TCB. Tests only. */
export const standInVerifier: QuoteVerifier = (quote) => standInVerified(quote);

/**
 * The stand-in verifier as a whole quote verification (what a replicator takes): no collateral is fetched, the quote
 * is accepted as if Intel DCAP passed at {@link FIXTURE_TIME}. Tests and the demo only.
 */
export async function standInQuoteVerification(): Promise<(quote: BytesLike) => Promise<VerifiedTdxQuote>> {
  const { collateral } = await loadTdxFixture();
  return async (quote) => standInVerifier(quote, collateral, FIXTURE_TIME);
}

/** The OS image hash the stand-in KMS returns and a stand-in CVM measures, unless a test says otherwise. */
export const STAND_IN_OS_IMAGE_HASH = id("stand-in os image");

/** What a stand-in boot measures beyond the app, compose hash and instance. */
export interface StandInBootEvents {
  /** The `os-image-hash` event's payload (the OS image the KMS checked). */
  osImageHash?: string;
  /** The KMS the CVM got its keys from: its CA key is what the `key-provider` event names. */
  kms?: StandInKms;
  /** A `key-provider` payload to measure instead of the KMS's (e.g. a local key provider). */
  keyProviderPayload?: BytesLike;
  /** Events the app emits after `system-ready` (they extend RTMR3 but never count as boot facts). */
  appEvents?: Array<{ event: string; payload: BytesLike }>;
}

/**
 * The RTMR3 events dstack measures at boot, in its order, for an app, a compose hash and an instance: app identity up
 * to `boot-mr-done` (what the KMS sees when it releases the keys), then what the KMS answered (`os-image-hash`) and
 * who it is (`key-provider`), the storage, `system-ready`.
 */
export function standInRuntimeEvents(
  appId: string,
  composeHash: string,
  instanceId: string,
  boot: StandInBootEvents = {},
): DstackEventLogEntry[] {
  return [
    runtimeEvent("system-preparing", "0x"),
    runtimeEvent("app-id", appId),
    runtimeEvent("compose-hash", composeHash),
    runtimeEvent("instance-id", instanceId),
    runtimeEvent("boot-mr-done", "0x"),
    runtimeEvent("os-image-hash", boot.osImageHash ?? STAND_IN_OS_IMAGE_HASH),
    runtimeEvent("key-provider", boot.keyProviderPayload ?? standInKeyProviderPayload(boot.kms ?? STAND_IN_KMS)),
    runtimeEvent("storage-fs", new TextEncoder().encode("zfs")),
    runtimeEvent("system-ready", "0x"),
    ...(boot.appEvents ?? []).map(({ event, payload }) => runtimeEvent(event, payload)),
  ];
}

/** What a booted stand-in node registers. */
export interface BootedNode {
  node: TestNode;
  bootInfo: AppBootInfo;
  quote: string;
  eventLog: string;
  /** dstack's chain for its key, from the KMS it booted with, for the app it was measured as. */
  keyChain: NodeKeyChain;
}

/** How a stand-in node boots: what dstack measures for it. */
export interface StandInBoot extends StandInBootEvents {
  composeHash: string;
  /** The app id measured into RTMR3 (default: the app it registers with); another app's id is a foreign node. */
  appId?: string;
  /** The instance id measured (default: the one it claims, or a fresh one). */
  instanceId?: string;
  /** A custom OS (registers other than the fixture's). */
  os?: StandInOs;
}

/**
 * Boot `node` as dstack would for `appId` with `measured.composeHash` measured into RTMR3, and quote its keys. The
 * boot info it claims is what was measured, in the view the registry stores (what dstack's KMS saw at boot), with the
 * app id it registers with (`appId`) and an up-to-date TCB; its key chain comes from the KMS it booted with, for the
 * app it was measured as. `claim` overrides any field (to model a lying node).
 */
export function bootStandIn(
  template: Uint8Array,
  node: TestNode,
  appId: string,
  measured: StandInBoot,
  claim: Partial<AppBootInfo> & { encryptionPublicKey?: BytesLike } = {},
): BootedNode & { encryptionPublicKey: string; measurement: MeasuredBoot } {
  const { encryptionPublicKey: claimedKey, ...claimedBoot } = claim;
  const instanceId = measured.instanceId ?? claimedBoot.instanceId ?? Wallet.createRandom().address;
  const measuredApp = measured.appId ?? appId;
  const entries = standInRuntimeEvents(measuredApp, measured.composeHash, instanceId, measured);
  const reportData = replicationReportData(node.address, node.encryption.publicKey);
  const quote = standInQuote(template, reportData, replayRtmr(entries), measured.os);
  const measurement = measureBoot(standInVerified(quote), entries);
  const info: AppBootInfo = { ...measuredBootInfo(measurement), appId, ...claimedBoot };
  return {
    node,
    bootInfo: info,
    quote: hexlify(quote),
    eventLog: hexlify(encodeEventLogBytes(JSON.stringify(entries))),
    keyChain: keyChainOf(node, appId, { kms: measured.kms ?? STAND_IN_KMS, chainAppId: measuredApp }),
    encryptionPublicKey: hexlify(claimedKey ?? node.encryption.publicKey),
    measurement,
  };
}

/**
 * A booted node's registration, signed by `signer` (the node itself unless a test says otherwise) for `domain`, with
 * its key chain: the arguments of `registerArguments`, and of a registration file with the chain and registry added.
 */
export async function signBooted(
  booted: BootedNode & { encryptionPublicKey: string },
  domain: TypedDataDomain,
  options: { signer?: TestNode; eventLog?: string } = {},
): Promise<{ registration: Registration; keyChain: NodeKeyChain; signature: string }> {
  const registration: Registration = {
    node: booted.node.address,
    encryptionPublicKey: booted.encryptionPublicKey,
    bootInfo: booted.bootInfo,
    quote: booted.quote,
    eventLog: options.eventLog ?? booted.eventLog,
  };
  const signature = await signRegistration((options.signer ?? booted.node).wallet, domain, registration);
  return { registration, keyChain: booted.keyChain, signature };
}

/** The device id of every stand-in node: the fixture platform's, `sha256(PPID)`. */
export const FIXTURE_DEVICE_ID = standInDeviceId((await loadTdxFixture()).quote);
