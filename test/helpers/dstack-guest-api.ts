/**
 * The one stand-in for dstack's guest API, for tests, the demo and the benchmarks (no dstack runs on a dev machine):
 * an HTTP server on a unix socket that answers `POST /Info`, `/GetKey`, `/GetQuote` and `/Version` with the JSON the
 * CVM's guest agent sends at /var/run/dstack.sock and `@phala/dstack-sdk` reads: byte strings as hex without `0x`,
 * `tcb_info` as a JSON string, the event log as a JSON string of `{imr, event_type, digest, event, event_payload}`.
 *
 * It models one CVM: an app, an instance, and the compose hash and device measured at its boot (every field has a
 * default, so a test that only needs `Info` passes nothing).
 * - Keys: `GetKey(path)` is `HKDF-SHA256(appKey, path)`, where the stand-in app key is the same for every instance
 *   of an app (as the KMS's is), with dstack's signature chain: `sig0` = the app key signs
 *   `keccak256(purpose + ":" + hex(compressed derived public key))`, `kmsSig` = the KMS root signs
 *   `keccak256("dstack-kms-issued:" ‖ appId (20 bytes) ‖ compressed app public key)`; 65 bytes `r‖s‖v`, v in {0,1}.
 *   Tests check chains against {@link DstackGuestApiStandIn.appKey} and {@link STAND_IN_KMS_ROOT}.
 * - Quotes: `GetQuote(report_data)` is the real fixture quote with `report_data` and RTMR3 patched in (see
 *   tee-stand-in.ts), and the event log of a dstack boot (RTMR3 measures the app id, the compose hash, the instance
 *   id, the key provider), so a quote binds what the caller asked and its log replays to its RTMR3. Its Intel
 *   signature no longer holds: only the stand-in verifier accepts it, never Intel DCAP.
 * - Faults: a method named in {@link DstackGuestApiStandIn.failures} answers HTTP 500 with that message.
 */
import { hkdfSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";

import { Quote } from "@phala/dcap-qvl";
import { SigningKey, concat, getBytes, hexlify, id, keccak256, sha256, toUtf8Bytes } from "ethers";

import { replayRtmr } from "../../lib/replication/index.js";
import type { DstackEventLogEntry } from "../../lib/replication/index.js";
import { loadTdxFixture, standInQuote, standInRuntimeEvents } from "./tee-stand-in.js";

/** One CVM as the stand-in reports it. Hex values are 0x-prefixed here; the API sends them without. */
export interface StandInCvm {
  appId: string;
  instanceId: string;
  composeHash: string;
  deviceId: string;
  osImageHash: string;
  appName: string;
  /** The `app_compose` text `Info` reports in `tcb_info`. */
  appCompose: string;
}

/** What a CVM is unless a test says otherwise. */
export const DEFAULT_CVM: StandInCvm = {
  appId: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
  instanceId: "0x1234567890abcdef1234567890abcdef12345678",
  composeHash: `0x${"ab".repeat(32)}`,
  deviceId: `0x${"a1".repeat(32)}`,
  osImageHash: id("stand-in os image"),
  appName: "devproof-agent",
  appCompose: JSON.stringify({ name: "devproof-agent", runner: "docker-compose" }),
};

export type GuestMethod = "Info" | "GetKey" | "GetQuote" | "Version";

/** The KMS root key of the stand-in world (signs every app key). */
export const STAND_IN_KMS_ROOT = new SigningKey(id("stand-in dstack KMS root key"));

/** The stand-in app key: one per app id, shared by all its instances. */
export function standInAppKey(appId: string): SigningKey {
  return new SigningKey(id(`stand-in dstack app key of ${appId.toLowerCase()}`));
}

/** The 32-byte key `GetKey(path)` derives for an app. */
export function standInDerivedKey(appId: string, keyPath: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", getBytes(standInAppKey(appId).privateKey), new Uint8Array(), keyPath, 32));
}

const noPrefix = (hex: string): string => hex.replace(/^0x/, "");

/** 65-byte `r ‖ s ‖ v` with v in {0, 1} over a raw keccak256 digest (no EIP-191 prefix), as dstack signs. */
function dstackSign(key: SigningKey, message: Uint8Array): string {
  const signature = key.sign(keccak256(message));
  return noPrefix(concat([signature.r, signature.s, new Uint8Array([signature.yParity])]));
}

export class DstackGuestApiStandIn {
  /** Every request received, in order. */
  readonly requests: Array<{ method: string; body: Record<string, unknown> }> = [];
  /** A method listed here answers HTTP 500 `{"error": message}`; delete the entry to heal it. */
  readonly failures: Partial<Record<GuestMethod, string>> = {};
  /** This app's key (what `sig0` of every signature chain is made with). */
  readonly appKey: SigningKey;
  /** The answer to `Info`, as sent. */
  readonly info: Record<string, string>;

  private readonly runtime: DstackEventLogEntry[];
  private readonly rtmr3: Uint8Array;
  private server: Server | undefined;

  private constructor(
    /** The unix socket path, for `DstackClient(endpoint)` or `--dstack-endpoint`. */
    readonly endpoint: string,
    readonly cvm: StandInCvm,
    private readonly template: Uint8Array,
    private readonly dir: string | undefined,
  ) {
    this.appKey = standInAppKey(cvm.appId);
    this.runtime = [
      // A boot-time entry of RTMR0, as in a real log: registrations publish only the RTMR3 entries.
      { imr: 0, event_type: 1, digest: noPrefix(hexlify(new Uint8Array(48).fill(7))), event: "", event_payload: "" },
      ...standInRuntimeEvents(cvm.appId, cvm.composeHash, cvm.instanceId),
    ];
    this.rtmr3 = replayRtmr(this.runtime);
    const mrTd = Quote.parse(template).report.asTd10()?.mrTd;
    if (mrTd === undefined) throw new Error("the template is not a TDX quote");
    // A stand-in aggregate: real dstack hashes MRTD, RTMR0-3 (and the config ids when set); nothing checks it here.
    const mrAggregated = noPrefix(sha256(concat([mrTd, this.rtmr3])));
    const hex = (value: string) => noPrefix(value).toLowerCase();
    this.info = {
      app_id: hex(cvm.appId),
      instance_id: hex(cvm.instanceId),
      app_cert: "",
      tcb_info: JSON.stringify({
        mrtd: noPrefix(hexlify(mrTd)),
        rtmr3: noPrefix(hexlify(this.rtmr3)),
        mr_aggregated: mrAggregated,
        os_image_hash: hex(cvm.osImageHash),
        compose_hash: hex(cvm.composeHash),
        device_id: hex(cvm.deviceId),
        app_compose: cvm.appCompose,
        event_log: this.runtime,
      }),
      app_name: cvm.appName,
      device_id: hex(cvm.deviceId),
      mr_aggregated: mrAggregated,
      os_image_hash: hex(cvm.osImageHash),
      key_provider_info: JSON.stringify({ name: "kms", id: "stand-in" }),
      compose_hash: hex(cvm.composeHash),
      vm_config: "{}",
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
    const api = new DstackGuestApiStandIn(endpoint, { ...DEFAULT_CVM, ...cvm }, template, dir);
    await api.listen();
    return api;
  }

  /** The key `GetKey(path)` answers, as a signing key. */
  derivedKey(keyPath: string): SigningKey {
    return new SigningKey(standInDerivedKey(this.cvm.appId, keyPath));
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
        const derived = this.derivedKey(keyPath);
        return [
          200,
          {
            key: noPrefix(derived.privateKey),
            signature_chain: [
              dstackSign(this.appKey, toUtf8Bytes(`${purpose}:${noPrefix(derived.compressedPublicKey)}`)),
              dstackSign(
                STAND_IN_KMS_ROOT,
                getBytes(concat([toUtf8Bytes("dstack-kms-issued:"), this.cvm.appId, this.appKey.compressedPublicKey])),
              ),
            ],
          },
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
            quote: noPrefix(hexlify(standInQuote(this.template, padded, this.rtmr3))),
            event_log: JSON.stringify(this.runtime),
            report_data: noPrefix(hexlify(padded)),
            vm_config: "{}",
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
