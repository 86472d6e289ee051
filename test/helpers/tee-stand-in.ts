/**
 * A stand-in for a TDX node, for tests that have no TDX hardware: it "boots" with a dstack-shaped RTMR3 event log
 * and "quotes" by patching `report_data` and RTMR3 into the real fixture quote. Such a quote parses like a real
 * one but its Intel signature no longer verifies, so only {@link standInVerifier} accepts it, never
 * `verifyTdxQuote` (a test checks this).
 */
import { readFile } from "node:fs/promises";

import { Quote } from "@phala/dcap-qvl";
import { getBytes, hexlify, id } from "ethers";
import type { BytesLike } from "ethers";

import {
  TDX_V4_REPORT_DATA_OFFSET,
  encodeEventLogBytes,
  replayRtmr,
  replicationReportData,
  runtimeEvent,
} from "../../lib/replication/index.js";
import type {
  AppBootInfo,
  DstackEventLogEntry,
  QuoteCollateral,
  QuoteVerifier,
  VerifiedTdxQuote,
} from "../../lib/replication/index.js";
import { bootInfo } from "./replication.js";
import type { TestNode } from "./replication.js";

/** The TDX fixture: a real quote and its collateral (test/fixtures/tdx/README.md says where they come from). */
export const TDX_FIXTURE_DIR = new URL("../fixtures/tdx/", import.meta.url);

/** A time inside the fixture collateral's validity window (2025-06-25T00:00:00Z). */
export const FIXTURE_TIME = 1750809600;

/** Byte offset of RTMR3 in a TDX v4 quote: 48-byte header + 472 bytes of TD report before it. */
export const TDX_V4_RTMR3_OFFSET = 520;

export async function loadTdxFixture(): Promise<{ quote: Uint8Array; collateral: QuoteCollateral }> {
  const quote = new Uint8Array(await readFile(new URL("tdx_quote", TDX_FIXTURE_DIR)));
  const collateral = JSON.parse(
    await readFile(new URL("tdx_quote_collateral.json", TDX_FIXTURE_DIR), "utf8"),
  ) as QuoteCollateral;
  return { quote, collateral };
}

/** The fixture quote with `reportData` (and RTMR3, if given) patched in. */
export function standInQuote(template: Uint8Array, reportData: BytesLike, rtmr3?: BytesLike): Uint8Array {
  const quote = Uint8Array.from(template);
  quote.set(getBytes(reportData), TDX_V4_REPORT_DATA_OFFSET);
  if (rtmr3 !== undefined) quote.set(getBytes(rtmr3), TDX_V4_RTMR3_OFFSET);
  return quote;
}

/** Accepts any parseable TDX quote as if DCAP verification passed, with an up-to-date TCB. Tests only. */
export const standInVerifier: QuoteVerifier = (quote) => {
  const td = Quote.parse(getBytes(quote)).report.asTd10();
  if (td === null) throw new Error("not a TDX quote");
  return {
    tcbStatus: "UpToDate",
    advisoryIds: [],
    reportData: Uint8Array.from(td.reportData),
    mrTd: Uint8Array.from(td.mrTd),
    rtmr0: Uint8Array.from(td.rtMr0),
    rtmr1: Uint8Array.from(td.rtMr1),
    rtmr2: Uint8Array.from(td.rtMr2),
    rtmr3: Uint8Array.from(td.rtMr3),
  };
};

/**
 * The stand-in verifier as a whole quote verification (what a replicator takes): no collateral is fetched, the quote
 * is accepted as if Intel DCAP passed at {@link FIXTURE_TIME}. Tests and the demo only.
 */
export async function standInQuoteVerification(): Promise<(quote: BytesLike) => Promise<VerifiedTdxQuote>> {
  const { collateral } = await loadTdxFixture();
  return async (quote) => standInVerifier(quote, collateral, FIXTURE_TIME);
}

/** The RTMR3 events dstack measures at boot, in its order, for an app, a compose hash and an instance. */
export function standInRuntimeEvents(appId: string, composeHash: string, instanceId: string): DstackEventLogEntry[] {
  return [
    runtimeEvent("system-preparing", "0x"),
    runtimeEvent("app-id", appId),
    runtimeEvent("compose-hash", composeHash),
    runtimeEvent("instance-id", instanceId),
    runtimeEvent("boot-mr-done", "0x"),
    runtimeEvent("key-provider", id("kms")),
    runtimeEvent("system-ready", "0x"),
  ];
}

/** What a booted stand-in node registers. */
export interface BootedNode {
  node: TestNode;
  bootInfo: AppBootInfo;
  quote: string;
  eventLog: string;
}

/**
 * Boot `node` as dstack would for `appId` with `composeHash` measured into RTMR3, and quote its keys.
 * `claim` overrides what the node claims in its boot info (to model a lying node).
 */
export function bootStandIn(
  template: Uint8Array,
  node: TestNode,
  appId: string,
  measured: { composeHash: string; deviceId?: string },
  claim: Partial<AppBootInfo> & { encryptionPublicKey?: BytesLike } = {},
): BootedNode & { encryptionPublicKey: string } {
  const { encryptionPublicKey: claimedKey, ...claimedBoot } = claim;
  const info = bootInfo(appId, {
    composeHash: measured.composeHash,
    advisoryIds: [],
    ...(measured.deviceId === undefined ? {} : { deviceId: measured.deviceId }),
    ...claimedBoot,
  });
  const entries = standInRuntimeEvents(appId, measured.composeHash, info.instanceId);
  const reportData = replicationReportData(node.address, node.encryption.publicKey);
  const quote = standInQuote(template, reportData, replayRtmr(entries));
  return {
    node,
    bootInfo: info,
    quote: hexlify(quote),
    eventLog: hexlify(encodeEventLogBytes(JSON.stringify(entries))),
    encryptionPublicKey: hexlify(claimedKey ?? node.encryption.publicKey),
  };
}
