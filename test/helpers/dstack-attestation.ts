/**
 * Reads dstack's legacy attestation encoding (SCALE `VersionedAttestation::V0` of a TDX boot), as dstack's simulator
 * serves it (test/fixtures/dstack/). Tests only: just enough SCALE for this one shape.
 *
 *   0x00 (V0) ‖ 0x00 (AttestationQuote::DstackTdx) ‖ quote: Vec<u8> ‖ event_log: Vec<TdxEvent> ‖
 *   runtime_events: Vec<RuntimeEvent> ‖ report_data: [u8; 64] ‖ config: String
 *   TdxEvent = imr: u32 ‖ event_type: u32 ‖ digest: Vec<u8> ‖ event: String ‖ event_payload: Vec<u8>
 *   RuntimeEvent = event: String ‖ payload: Vec<u8>
 */
import { readFile } from "node:fs/promises";

import type { DstackEventLogEntry } from "../../lib/replication/index.js";

/** A TDX attestation as dstack encodes it. */
export interface DstackTdxAttestation {
  quote: Uint8Array;
  /** The event log, as `GetQuote` would return it (hex without 0x). */
  eventLog: DstackEventLogEntry[];
  runtimeEvents: Array<{ event: string; payload: Uint8Array }>;
  reportData: Uint8Array;
  config: string;
}

export const DSTACK_FIXTURE_DIR = new URL("../fixtures/dstack/", import.meta.url);

export function decodeDstackAttestation(bytes: Uint8Array): DstackTdxAttestation {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  const byte = () => bytes[offset++]!;
  const u32 = () => {
    const value = view.getUint32(offset, true);
    offset += 4;
    return value;
  };
  const compact = (): number => {
    const mode = bytes[offset]! & 3;
    if (mode === 0) return byte() >> 2;
    if (mode === 1) {
      const value = view.getUint16(offset, true) >> 2;
      offset += 2;
      return value;
    }
    if (mode === 2) return u32() >>> 2;
    throw new Error("big-integer SCALE lengths are not expected here");
  };
  const vec = (): Uint8Array => {
    const length = compact();
    const value = bytes.slice(offset, offset + length);
    if (value.length !== length) throw new Error("truncated attestation");
    offset += length;
    return value;
  };
  const hex = (value: Uint8Array) => Buffer.from(value).toString("hex");
  const text = () => new TextDecoder("utf-8", { fatal: true }).decode(vec());

  if (byte() !== 0) throw new Error("not a V0 (SCALE) attestation");
  if (byte() !== 0) throw new Error("not a TDX attestation");
  const quote = vec();
  const eventLog = Array.from({ length: compact() }, () => {
    const imr = u32();
    const eventType = u32();
    const digest = hex(vec());
    const event = text();
    return { imr, event_type: eventType, digest, event, event_payload: hex(vec()) };
  });
  const runtimeEvents = Array.from({ length: compact() }, () => ({ event: text(), payload: vec() }));
  const reportData = bytes.slice(offset, offset + 64);
  offset += 64;
  const config = text();
  if (offset !== bytes.length) throw new Error(`${bytes.length - offset} bytes after the attestation`);
  return { quote, eventLog, runtimeEvents, reportData, config };
}

/** dstack's simulator attestation and keys (see test/fixtures/dstack/README.md). */
export async function loadDstackSimulator(): Promise<{
  attestation: DstackTdxAttestation;
  appKeys: { k256_key: string; k256_signature: string; ca_cert: string };
}> {
  const attestation = decodeDstackAttestation(
    new Uint8Array(await readFile(new URL("simulator-attestation.bin", DSTACK_FIXTURE_DIR))),
  );
  const appKeys = JSON.parse(await readFile(new URL("simulator-appkeys.json", DSTACK_FIXTURE_DIR), "utf8")) as {
    k256_key: string;
    k256_signature: string;
    ca_cert: string;
  };
  return { attestation, appKeys };
}
