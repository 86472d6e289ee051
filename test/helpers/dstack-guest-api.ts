/**
 * A stand-in for dstack's guest API, for tests and the demo (no dstack runs on a dev machine): an HTTP server on a
 * unix socket that answers `POST /Info`, `/GetKey` and `/GetQuote` with the JSON the real guest agent sends and
 * `@phala/dstack-sdk` reads: byte strings as hex without `0x`, `tcb_info` as a JSON string, the event log as a JSON
 * string of `{imr, event_type, digest, event, event_payload}` entries.
 *
 * It models one CVM: an app, an instance, and the compose hash and device measured at its boot.
 * - Keys: `HKDF-SHA256(appKey, path)`, where the stand-in app key is the same for every instance of an app (as the
 *   KMS's is), with dstack's signature chain `[appKey signs purpose:pubkey, KMS root signs the app key]`.
 * - Quotes: the fixture quote with `report_data` and RTMR3 patched in (see tee-stand-in.ts), so they parse like real
 *   ones but only the stand-in verifier accepts them.
 */
import { hkdfSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";

import { Quote } from "@phala/dcap-qvl";
import { SigningKey, concat, getBytes, hexlify, id, keccak256, sha256, toUtf8Bytes } from "ethers";

import { replayRtmr } from "../../lib/replication/index.js";
import { loadTdxFixture, standInQuote, standInRuntimeEvents } from "./tee-stand-in.js";

/** One CVM as the stand-in reports it. Hex values are 0x-prefixed here; the API sends them without. */
export interface StandInCvm {
  appId: string;
  instanceId: string;
  composeHash: string;
  deviceId: string;
  osImageHash?: string;
  appName?: string;
}

export type GuestMethod = "Info" | "GetKey" | "GetQuote";

export interface DstackGuestApiStandIn {
  /** The unix socket path, for `DstackClient(endpoint)` or `--dstack-endpoint`. */
  endpoint: string;
  cvm: StandInCvm;
  /** Every request received, in order. */
  requests: Array<{ method: string; body: Record<string, unknown> }>;
  /** A method listed here answers HTTP 500 `{"error": message}`; delete the entry to heal it. */
  failures: Partial<Record<GuestMethod, string>>;
  close(): Promise<void>;
}

/** The KMS root key of the stand-in world. */
const KMS_ROOT = new SigningKey(id("stand-in dstack KMS root key"));

/** The stand-in app key: one per app id, shared by all its instances. */
export function standInAppKey(appId: string): SigningKey {
  return new SigningKey(id(`stand-in dstack app key of ${appId.toLowerCase()}`));
}

/** The key `GetKey(path)` derives for an app. */
export function standInDerivedKey(appId: string, keyPath: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", getBytes(standInAppKey(appId).privateKey), new Uint8Array(), keyPath, 32));
}

const noPrefix = (hex: string): string => hex.replace(/^0x/, "");

/** 65-byte `r ‖ s ‖ v` with v in {0, 1} over a raw keccak256 digest, as dstack signs. */
function dstackSign(key: SigningKey, message: Uint8Array): string {
  const signature = key.sign(keccak256(message));
  return noPrefix(concat([signature.r, signature.s, new Uint8Array([signature.yParity])]));
}

/** Starts the stand-in guest API of `cvm` on a fresh unix socket. */
export async function startDstackGuestApi(
  cvm: StandInCvm,
  options: { template?: Uint8Array } = {},
): Promise<DstackGuestApiStandIn> {
  const template = options.template ?? (await loadTdxFixture()).quote;
  const runtime = [
    // A boot-time entry of RTMR0, as in a real log: registrations publish only the RTMR3 entries.
    { imr: 0, event_type: 1, digest: noPrefix(hexlify(new Uint8Array(48).fill(7))), event: "", event_payload: "" },
    ...standInRuntimeEvents(cvm.appId, cvm.composeHash, cvm.instanceId),
  ];
  const rtmr3 = replayRtmr(runtime);
  const appCompose = JSON.stringify({ name: cvm.appName ?? "stand-in app", runner: "docker-compose" });
  const osImageHash = cvm.osImageHash ?? id("stand-in os image");
  const mrTd = Quote.parse(template).report.asTd10()?.mrTd;
  if (mrTd === undefined) throw new Error("the template is not a TDX quote");
  // A stand-in aggregate: real dstack hashes MRTD, RTMR0-3 (and the config ids when set); nothing checks it here.
  const mrAggregated = sha256(concat([mrTd, rtmr3]));

  const dir = await mkdtemp(path.join(tmpdir(), "dstack-"));
  const endpoint = path.join(dir, "dstack.sock");
  const api: DstackGuestApiStandIn = { endpoint, cvm, requests: [], failures: {}, close: async () => {} };

  const answer = (method: string, body: Record<string, unknown>): [number, unknown] => {
    const failure = api.failures[method as GuestMethod];
    if (failure !== undefined) return [500, { error: failure }];
    switch (method) {
      case "Info":
        return [
          200,
          {
            app_id: noPrefix(cvm.appId).toLowerCase(),
            instance_id: noPrefix(cvm.instanceId).toLowerCase(),
            app_cert: "",
            tcb_info: JSON.stringify({
              mrtd: noPrefix(hexlify(mrTd)),
              rtmr3: noPrefix(hexlify(rtmr3)),
              mr_aggregated: noPrefix(mrAggregated),
              os_image_hash: noPrefix(osImageHash),
              compose_hash: noPrefix(cvm.composeHash),
              device_id: noPrefix(cvm.deviceId),
              app_compose: appCompose,
              event_log: runtime,
            }),
            app_name: cvm.appName ?? "stand-in app",
            device_id: noPrefix(cvm.deviceId),
            mr_aggregated: noPrefix(mrAggregated),
            os_image_hash: noPrefix(osImageHash),
            key_provider_info: JSON.stringify({ name: "kms", id: "stand-in" }),
            compose_hash: noPrefix(cvm.composeHash),
            vm_config: "{}",
          },
        ];
      case "GetKey": {
        const keyPath = String(body["path"] ?? "");
        const purpose = String(body["purpose"] ?? "");
        const derived = new SigningKey(standInDerivedKey(cvm.appId, keyPath));
        const appKey = standInAppKey(cvm.appId);
        return [
          200,
          {
            key: noPrefix(derived.privateKey),
            signature_chain: [
              dstackSign(appKey, toUtf8Bytes(`${purpose}:${noPrefix(derived.compressedPublicKey)}`)),
              dstackSign(
                KMS_ROOT,
                getBytes(concat([toUtf8Bytes("dstack-kms-issued:"), cvm.appId, appKey.compressedPublicKey])),
              ),
            ],
          },
        ];
      }
      case "GetQuote": {
        const reportData = String(body["report_data"] ?? "");
        if (!/^([0-9a-fA-F]{2}){0,64}$/.test(reportData)) return [400, { error: "report_data must be ≤ 64 bytes" }];
        const padded = new Uint8Array(64);
        padded.set(getBytes(`0x${reportData}`));
        return [
          200,
          {
            quote: noPrefix(hexlify(standInQuote(template, padded, rtmr3))),
            event_log: JSON.stringify(runtime),
            report_data: noPrefix(hexlify(padded)),
            vm_config: "{}",
          },
        ];
      }
      default:
        return [404, { error: `no such method: ${method}` }];
    }
  };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const method = (request.url ?? "").replace(/^\//, "");
      let body: Record<string, unknown> = {};
      try {
        const text = Buffer.concat(chunks).toString("utf8");
        body = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
      } catch {
        // answered below as a bad request
      }
      api.requests.push({ method, body });
      const [status, payload] = answer(method, body);
      const text = JSON.stringify(payload);
      response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      response.end(text);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(endpoint, resolve);
  });
  api.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  };
  return api;
}
