/**
 * A local certificate-transparency log that speaks RFC 6962's `get-sth` and `get-entries` over HTTP, serving real
 * MerkleTreeLeaf entries (lib/tls/ct.ts `encodeLeaf`) of certificates a test issues, and whatever hostile entries a
 * test adds. Like real logs, it returns at most `maxPerRequest` entries per request. It signs nothing: the watcher
 * does not check tree-head signatures (docs/tls.md).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

import * as x509 from "@peculiar/x509";

import { encodeLeaf, selfSignedCertificate, tbsOf, type TlsKey } from "../../lib/tls/index.js";

/** A self-signed certificate (DER) for `domains` with `key`: what a CA's log entry carries, minus the CA. */
export async function certificateDer(key: TlsKey, domains: string[]): Promise<Uint8Array> {
  return new Uint8Array(new x509.X509Certificate(await selfSignedCertificate(key, domains)).rawData);
}

export interface CtStandIn {
  url: string;
  /** Appends a certificate (DER) as an x509 entry, or its TBSCertificate as a precert entry. */
  addCertificate(der: Uint8Array, kind?: "x509" | "precert"): void;
  /** Appends an entry exactly as given (hostile data: any JSON value). */
  addRaw(entry: unknown): void;
  /** get-entries requests served so far. */
  requests(): number;
  close(): Promise<void>;
}

export async function startCtStandIn(options: { maxPerRequest?: number } = {}): Promise<CtStandIn> {
  const entries: unknown[] = [];
  const maxPerRequest = options.maxPerRequest ?? 32;
  let requests = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://ct.invalid");
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    if (url.pathname === "/ct/v1/get-sth") {
      return send(200, {
        tree_size: entries.length,
        timestamp: Date.now(),
        sha256_root_hash: Buffer.alloc(32).toString("base64"),
        tree_head_signature: "",
      });
    }
    if (url.pathname === "/ct/v1/get-entries") {
      requests += 1;
      const start = Number(url.searchParams.get("start"));
      const end = Math.min(Number(url.searchParams.get("end")), start + maxPerRequest - 1, entries.length - 1);
      if (!(start >= 0) || !(end >= start)) return send(400, { error: "bad range" });
      return send(200, { entries: entries.slice(start, end + 1) });
    }
    send(404, { error: "not found" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    addCertificate(der, kind = "x509") {
      const leaf =
        kind === "x509" ? encodeLeaf({ kind, der }, Date.now()) : encodeLeaf({ kind, tbs: tbsOf(der) }, Date.now());
      entries.push({ leaf_input: leaf, extra_data: "" });
    },
    addRaw(entry) {
      entries.push(entry);
    },
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
