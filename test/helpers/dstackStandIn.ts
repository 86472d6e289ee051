/**
 * A local stand-in for dstack's guest API: HTTP over a unix socket, `POST /<Method>` with a JSON body, as the CVM's
 * guest agent serves it at /var/run/dstack.sock. It lets the real `@phala/dstack-sdk` client run on a machine
 * without dstack. It answers `Info`, `GetKey`, `GetQuote` and `Version`, and records every call.
 *
 * - `GetKey` derives a key from the stand-in's app key and the path (HMAC-SHA256, not dstack's own KDF) and returns
 *   a signature chain with dstack's shape (see the design's upstream facts): `sig0` = app key signs
 *   keccak256(purpose + ":" + hex(compressed derived public key)); `kmsSig` = KMS root signs
 *   keccak256("dstack-kms-issued:" ‖ appId (20 bytes) ‖ compressed app public key); 65 bytes r‖s‖v, v in {0,1}.
 *   So code that checks a chain can be tested against keys the test knows ({@link DstackStandIn.appKey}, ...).
 * - `GetQuote` returns a TDX-quote-shaped byte string (v4 header, TD report with `report_data` at its offset) that is
 *   NOT signed: enough to test parsing and report_data binding, never a verifiable quote.
 */
import { createHmac } from "node:crypto";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";

import { concat, getBytes, hexlify, keccak256, SigningKey, toUtf8Bytes, type Signature } from "ethers";

export interface DstackStandInOptions {
  /** Socket path; default a fresh one in the temporary directory. */
  socketPath?: string;
  appId?: string;
  instanceId?: string;
  /** The compose hash dstack would report as measured at boot (hex, no 0x). */
  composeHash?: string;
  deviceId?: string;
  osImageHash?: string;
  appName?: string;
  appCompose?: string;
}

export interface DstackCall {
  method: string;
  body: unknown;
}

const strip0x = (hex: string) => hex.replace(/^0x/, "");

/** 65 bytes r‖s‖v with v in {0,1}, as dstack encodes signatures. */
function rsv(signature: Signature): string {
  return strip0x(signature.r) + strip0x(signature.s) + (signature.yParity === 1 ? "01" : "00");
}

export class DstackStandIn {
  readonly socketPath: string;
  readonly calls: DstackCall[] = [];
  readonly appKey = new SigningKey(keccak256(toUtf8Bytes("dstack stand-in app key")));
  readonly kmsRootKey = new SigningKey(keccak256(toUtf8Bytes("dstack stand-in KMS root key")));
  readonly info: Record<string, string>;
  private server: Server | undefined;

  constructor(options: DstackStandInOptions = {}) {
    this.socketPath =
      options.socketPath ??
      path.join(tmpdir(), `dstack-standin-${process.pid}-${Math.random().toString(16).slice(2, 10)}.sock`);
    const appId = strip0x(options.appId ?? "5fbdb2315678afecb367f032d93f642f64180aa3");
    const composeHash = strip0x(options.composeHash ?? "ab".repeat(32));
    const tcbInfo = {
      mrtd: "00".repeat(48),
      rtmr0: "00".repeat(48),
      rtmr1: "00".repeat(48),
      rtmr2: "00".repeat(48),
      rtmr3: "00".repeat(48),
      mr_aggregated: "00".repeat(32),
      os_image_hash: strip0x(options.osImageHash ?? "cd".repeat(32)),
      compose_hash: composeHash,
      device_id: strip0x(options.deviceId ?? "a1".repeat(32)),
      app_compose: options.appCompose ?? "{}",
      event_log: [],
    };
    this.info = {
      app_id: appId,
      instance_id: strip0x(options.instanceId ?? "1234567890abcdef1234567890abcdef12345678"),
      app_cert: "",
      tcb_info: JSON.stringify(tcbInfo),
      app_name: options.appName ?? "devproof-agent",
      device_id: tcbInfo.device_id,
      mr_aggregated: tcbInfo.mr_aggregated,
      os_image_hash: tcbInfo.os_image_hash,
      key_provider_info: "",
      compose_hash: composeHash,
      vm_config: "",
    };
  }

  async start(): Promise<this> {
    await rm(this.socketPath, { force: true });
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const method = (req.url ?? "/").replace(/^\//, "").split("?")[0] ?? "";
        let body: unknown = {};
        try {
          const text = Buffer.concat(chunks).toString("utf8");
          body = text === "" ? {} : JSON.parse(text);
        } catch {
          return reply(400, { error: "invalid JSON" });
        }
        this.calls.push({ method, body });
        try {
          const result = this.handle(method, body as Record<string, unknown>);
          if (result === undefined) return reply(404, { error: `unknown method ${method}` });
          reply(200, result);
        } catch (error) {
          reply(400, { error: error instanceof Error ? error.message : String(error) });
        }
      });
      function reply(status: number, value: unknown): void {
        const text = JSON.stringify(value);
        res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.end(text);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await rm(this.socketPath, { force: true });
  }

  /** The compressed public key of the key `GetKey` returns for `path`. */
  derivedKey(keyPath: string): SigningKey {
    return new SigningKey(createHmac("sha256", getBytes(this.appKey.privateKey)).update(keyPath).digest());
  }

  private handle(method: string, body: Record<string, unknown>): unknown {
    switch (method) {
      case "Info":
        return this.info;
      case "Version":
        return { version: "0.5.8-standin", rev: "standin" };
      case "GetKey": {
        const keyPath = String(body["path"] ?? "");
        const purpose = String(body["purpose"] ?? "");
        const derived = this.derivedKey(keyPath);
        const derivedPublic = strip0x(SigningKey.computePublicKey(derived.publicKey, true));
        const sig0 = this.appKey.sign(keccak256(toUtf8Bytes(`${purpose}:${derivedPublic}`)));
        const kmsSig = this.kmsRootKey.sign(
          keccak256(
            concat([
              toUtf8Bytes("dstack-kms-issued:"),
              getBytes(`0x${this.info["app_id"]}`),
              getBytes(SigningKey.computePublicKey(this.appKey.publicKey, true)),
            ]),
          ),
        );
        return { key: strip0x(derived.privateKey), signature_chain: [rsv(sig0), rsv(kmsSig)] };
      }
      case "GetQuote": {
        const reportData = strip0x(String(body["report_data"] ?? ""));
        if (!/^[0-9a-fA-F]*$/.test(reportData) || reportData.length > 128) {
          throw new Error("report_data must be at most 64 bytes of hex");
        }
        // TDX quote v4: 48-byte header (version 4, attestation key type 2, TEE type 0x81), then the 584-byte TD
        // report whose last 64 bytes are report_data. No signature: the stand-in cannot sign as Intel.
        const header = new Uint8Array(48);
        header.set([4, 0, 2, 0, 0x81, 0, 0, 0]);
        const body584 = new Uint8Array(584);
        body584.set(getBytes(`0x${reportData.padEnd(128, "0")}`), 520);
        return {
          quote: strip0x(hexlify(concat([header, body584]))),
          event_log: "[]",
          report_data: reportData.padEnd(128, "0"),
          vm_config: "",
        };
      }
      default:
        return undefined;
    }
  }
}
