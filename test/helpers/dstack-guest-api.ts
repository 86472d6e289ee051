/**
 * The one stand-in for dstack's guest API, for tests, the demo and the benchmarks (no dstack runs on a dev machine):
 * an HTTP server on a unix socket that answers `POST /Info`, `/GetKey`, `/GetQuote` and `/Version` with the JSON the
 * CVM's guest agent sends at /var/run/dstack.sock and `@phala/dstack-sdk` reads: byte strings as hex without `0x`,
 * `tcb_info` as a JSON string, the event log as a JSON string of `{imr, event_type, digest, event, event_payload}`.
 *
 * It models one CVM: an app, an instance, and the compose hash, OS and key provider measured at its boot (every field
 * has a default, so a test that only needs `Info` passes nothing).
 * - Keys: `GetKey(path)` derives as dstack does from the app key that the CVM's KMS (kms-stand-in.ts) derives for its
 *   app id, with dstack's signature chain `[sig0, kmsSig]` up to that KMS's root key.
 * - Quotes: `GetQuote(report_data)` is the real fixture quote with `report_data` and RTMR3 patched in (and MRTD,
 *   RTMR0-2 for a custom OS; see tee-stand-in.ts), and the event log of a dstack boot (`app-id`, `compose-hash`,
 *   `instance-id`, `boot-mr-done`, `os-image-hash`, `key-provider`, …, `system-ready`), so a quote binds what the
 *   caller asked and its log replays to its RTMR3. Its Intel signature no longer holds: only the stand-in verifier
 *   accepts it, never Intel DCAP.
 * - `Info` reports what that quote and log measure (lib/replication/measured-boot.ts), the device id as the KMS
 *   derives it, unless the test sets `deviceId`.
 * - Knobs that tell nodes apart: `appId` (a foreign app), `os` (a custom OS: other MRTD/RTMR0-2), `kms` (keys and
 *   key-provider event from a rogue KMS), `keyProviderPayload` (another key provider, keys still from `kms`).
 * - Faults: a method named in {@link DstackGuestApiStandIn.failures} answers HTTP 500 with that message.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";

import { SigningKey, getBytes, hexlify, toUtf8String } from "ethers";
import type { BytesLike } from "ethers";

import { measureBoot, replayRtmr } from "../../lib/replication/index.js";
import type { DstackEventLogEntry } from "../../lib/replication/index.js";
import { STAND_IN_KMS, standInAppKey, standInDerivedKey, standInGetKey } from "./kms-stand-in.js";
import type { StandInKms } from "./kms-stand-in.js";
import {
  STAND_IN_OS_IMAGE_HASH,
  loadTdxFixture,
  standInDeviceId,
  standInQuote,
  standInRuntimeEvents,
  standInVerified,
} from "./tee-stand-in.js";
import type { StandInOs } from "./tee-stand-in.js";

export { ROGUE_KMS, STAND_IN_KMS, STAND_IN_KMS_ROOT, standInAppKey, standInDerivedKey } from "./kms-stand-in.js";

/** One CVM as the stand-in reports it. Hex values are 0x-prefixed here; the API sends them without. */
export interface StandInCvm {
  appId: string;
  instanceId: string;
  composeHash: string;
  /** What `Info` reports as the device id; by default the one the KMS derives for the fixture's platform. */
  deviceId?: string;
  /** The OS image the KMS returned, measured as the `os-image-hash` event. */
  osImageHash: string;
  appName: string;
  /** The `app_compose` text `Info` reports in `tcb_info`. */
  appCompose: string;
  /** A custom OS: MRTD and RTMR0-2 other than the fixture's. */
  os?: StandInOs;
  /** The KMS the CVM got its keys from (default: the stand-in world's). */
  kms?: StandInKms;
  /** A `key-provider` payload other than `kms`'s (a rogue or local key provider). */
  keyProviderPayload?: BytesLike;
}

/** What a CVM is unless a test says otherwise. */
export const DEFAULT_CVM: StandInCvm = {
  appId: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
  instanceId: "0x1234567890abcdef1234567890abcdef12345678",
  composeHash: `0x${"ab".repeat(32)}`,
  osImageHash: STAND_IN_OS_IMAGE_HASH,
  appName: "devproof-agent",
  appCompose: JSON.stringify({ name: "devproof-agent", runner: "docker-compose" }),
};

export type GuestMethod = "Info" | "GetKey" | "GetQuote" | "Version";

const noPrefix = (hex: string): string => hex.replace(/^0x/, "");

export class DstackGuestApiStandIn {
  /** Every request received, in order. */
  readonly requests: Array<{ method: string; body: Record<string, unknown> }> = [];
  /** A method listed here answers HTTP 500 `{"error": message}`; delete the entry to heal it. */
  readonly failures: Partial<Record<GuestMethod, string>> = {};
  /** This app's key (what `sig0` of every signature chain is made with). */
  readonly appKey: SigningKey;
  /** The KMS the CVM's keys come from. */
  readonly kms: StandInKms;
  /** The answer to `Info`, as sent. */
  readonly info: Record<string, string>;

  private readonly runtime: DstackEventLogEntry[];
  private readonly rtmr3: Uint8Array;
  private server: Server | undefined;

  private constructor(
    /** The unix socket path, for `DstackClient(endpoint)` or `--dstack-endpoint`. */
    readonly endpoint: string,
    readonly cvm: StandInCvm & { deviceId: string },
    private readonly template: Uint8Array,
    private readonly dir: string | undefined,
  ) {
    this.kms = cvm.kms ?? STAND_IN_KMS;
    this.appKey = standInAppKey(cvm.appId, this.kms);
    this.runtime = [
      // A boot-time entry of RTMR0, as in a real log: registrations publish only the RTMR3 entries.
      { imr: 0, event_type: 1, digest: noPrefix(hexlify(new Uint8Array(48).fill(7))), event: "", event_payload: "" },
      ...standInRuntimeEvents(cvm.appId, cvm.composeHash, cvm.instanceId, {
        osImageHash: cvm.osImageHash,
        kms: this.kms,
        ...(cvm.keyProviderPayload === undefined ? {} : { keyProviderPayload: cvm.keyProviderPayload }),
      }),
    ];
    this.rtmr3 = replayRtmr(this.runtime);
    // What dstack's guest agent reports is decoded from its own quote and log: the same as a verifier measures.
    const quote = standInQuote(template, new Uint8Array(64), this.rtmr3, cvm.os);
    const td = standInVerified(quote);
    const measured = measureBoot(td, this.runtime);
    const hex = (value: BytesLike) => noPrefix(hexlify(value)).toLowerCase();
    this.info = {
      app_id: hex(cvm.appId),
      instance_id: hex(cvm.instanceId),
      app_cert: "",
      tcb_info: JSON.stringify({
        mrtd: hex(td.mrTd),
        rtmr0: hex(td.rtmr0),
        rtmr1: hex(td.rtmr1),
        rtmr2: hex(td.rtmr2),
        rtmr3: hex(td.rtmr3),
        mr_aggregated: hex(measured.runtime.mrAggregated),
        os_image_hash: hex(cvm.osImageHash),
        compose_hash: hex(cvm.composeHash),
        device_id: hex(cvm.deviceId),
        event_log: this.runtime,
        app_compose: cvm.appCompose,
      }),
      app_name: cvm.appName,
      device_id: hex(cvm.deviceId),
      mr_aggregated: hex(measured.runtime.mrAggregated),
      os_image_hash: hex(cvm.osImageHash),
      key_provider_info: toUtf8String(getBytes(measured.keyProviderPayload ?? "0x")),
      compose_hash: hex(cvm.composeHash),
      vm_config: JSON.stringify({ os_image_hash: hex(cvm.osImageHash) }),
    };
  }

  /**
   * Starts the guest API of a CVM (defaults from {@link DEFAULT_CVM}) on a fresh unix socket, or on `socketPath`.
   * `template` is the quote patched for `GetQuote` (default: the TDX fixture quote).
   */
  static async start(
    cvm: Partial<StandInCvm> = {},
    options: { template?: Uint8Array; socketPath?: string } = {},
  ): Promise<DstackGuestApiStandIn> {
    const template = options.template ?? (await loadTdxFixture()).quote;
    const dir = options.socketPath === undefined ? await mkdtemp(path.join(tmpdir(), "dstack-")) : undefined;
    const endpoint = options.socketPath ?? path.join(dir!, "dstack.sock");
    const deviceId = cvm.deviceId ?? standInDeviceId(template);
    const api = new DstackGuestApiStandIn(endpoint, { ...DEFAULT_CVM, ...cvm, deviceId }, template, dir);
    await api.listen();
    return api;
  }

  /** The key `GetKey(path)` answers, as a signing key. */
  derivedKey(keyPath: string): SigningKey {
    return new SigningKey(standInDerivedKey(this.cvm.appId, keyPath, this.kms));
  }

  /** The methods called so far, in order. */
  get methods(): string[] {
    return this.requests.map((request) => request.method);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (this.dir !== undefined) await rm(this.dir, { recursive: true, force: true });
    else await rm(this.endpoint, { force: true });
  }

  private async listen(): Promise<void> {
    if (this.dir === undefined) await rm(this.endpoint, { force: true });
    const server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const reply = (status: number, payload: unknown) => {
          const text = JSON.stringify(payload);
          response.writeHead(status, {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(text),
          });
          response.end(text);
        };
        const method = (request.url ?? "/").replace(/^\//, "").split("?")[0] ?? "";
        let body: Record<string, unknown>;
        try {
          const text = Buffer.concat(chunks).toString("utf8");
          body = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
        } catch {
          return reply(400, { error: "invalid JSON" });
        }
        this.requests.push({ method, body });
        const [status, payload] = this.answer(method, body);
        reply(status, payload);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.endpoint, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
  }

  private answer(method: string, body: Record<string, unknown>): [number, unknown] {
    const failure = this.failures[method as GuestMethod];
    if (failure !== undefined) return [500, { error: failure }];
    switch (method) {
      case "Info":
        return [200, this.info];
      case "Version":
        return [200, { version: "0.5.8-stand-in", rev: "stand-in" }];
      case "GetKey": {
        const keyPath = String(body["path"] ?? "");
        const purpose = String(body["purpose"] ?? "");
        const { key, signatureChain } = standInGetKey(this.cvm.appId, keyPath, purpose, this.kms);
        return [
          200,
          { key: noPrefix(hexlify(key)), signature_chain: signatureChain.map((sig) => noPrefix(hexlify(sig))) },
        ];
      }
      case "GetQuote": {
        const reportData = noPrefix(String(body["report_data"] ?? ""));
        if (!/^([0-9a-fA-F]{2}){0,64}$/.test(reportData)) {
          return [400, { error: "report_data must be at most 64 bytes of hex" }];
        }
        const padded = new Uint8Array(64);
        padded.set(getBytes(`0x${reportData}`));
        return [
          200,
          {
            quote: noPrefix(hexlify(standInQuote(this.template, padded, this.rtmr3, this.cvm.os))),
            event_log: JSON.stringify(this.runtime),
            report_data: noPrefix(hexlify(padded)),
            vm_config: this.info["vm_config"],
          },
        ];
      }
      default:
        return [404, { error: `no such method: ${method}` }];
    }
  }
}

/** Starts the stand-in guest API of `cvm` (see {@link DstackGuestApiStandIn.start}). */
export function startDstackGuestApi(
  cvm: Partial<StandInCvm> = {},
  options: { template?: Uint8Array; socketPath?: string } = {},
): Promise<DstackGuestApiStandIn> {
  return DstackGuestApiStandIn.start(cvm, options);
}
