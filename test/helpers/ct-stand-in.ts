/**
 * A local certificate-transparency log that speaks RFC 6962 over HTTP: `get-sth` (signed with the stand-in's own
 * ECDSA P-256 key, as a real log signs), `get-entries`, `get-sth-consistency` and `get-proof-by-hash`. Its Merkle
 * tree, proofs and audit paths follow RFC 6962 §2.1's recursive definitions (MTH, PATH, PROOF/SUBPROOF) directly, so
 * they are an independent check of lib/tls/merkle.ts's verifiers. It serves real MerkleTreeLeaf entries
 * (lib/tls/ct.ts `encodeLeaf`) of certificates a test issues, and whatever hostile data a test adds: entries of any
 * shape, a tree head signed with another key, a rewritten history. Like real logs, it returns at most
 * `maxPerRequest` entries per request.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { generateKeyPairSync, sign } from "node:crypto";

import * as x509 from "@peculiar/x509";

import {
  encodeLeaf,
  leafHash,
  nodeHash,
  selfSignedCertificate,
  tbsOf,
  treeHeadSignedData,
  type TlsKey,
} from "../../lib/tls/index.js";

/** A self-signed certificate (DER) for `domains` with `key`: what a CA's log entry carries, minus the CA. */
export async function certificateDer(key: TlsKey, domains: string[]): Promise<Uint8Array> {
  return new Uint8Array(new x509.X509Certificate(await selfSignedCertificate(key, domains)).rawData);
}

/** The largest power of two smaller than n (RFC 6962 §2.1's k). */
const split = (n: number) => 2 ** Math.floor(Math.log2(n - 1));

/** MTH(D[n]) of RFC 6962 §2.1. */
export function merkleRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0)
    return Buffer.from("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "hex");
  if (leaves.length === 1) return leafHash(leaves[0]!);
  const k = split(leaves.length);
  return nodeHash(merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)));
}

/** PATH(m, D[n]) of RFC 6962 §2.1.1. */
export function auditPath(m: number, leaves: readonly Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...auditPath(m, leaves.slice(0, k)), merkleRoot(leaves.slice(k))]
    : [...auditPath(m - k, leaves.slice(k)), merkleRoot(leaves.slice(0, k))];
}

/** PROOF(m, D[n]) of RFC 6962 §2.1.2. */
export function consistencyProof(m: number, leaves: readonly Buffer[]): Buffer[] {
  const subproof = (m: number, d: readonly Buffer[], complete: boolean): Buffer[] => {
    if (m === d.length) return complete ? [] : [merkleRoot(d)];
    const k = split(d.length);
    return m <= k
      ? [...subproof(m, d.slice(0, k), complete), merkleRoot(d.slice(k))]
      : [...subproof(m - k, d.slice(k), false), merkleRoot(d.slice(0, k))];
  };
  return m === 0 || m === leaves.length ? [] : subproof(m, leaves, true);
}

export interface CtStandIn {
  url: string;
  /** The log's public key as log lists publish it: base64 DER SubjectPublicKeyInfo. */
  publicKey: string;
  /** Appends a certificate (DER) as an x509 entry, or its TBSCertificate as a precert entry. */
  addCertificate(der: Uint8Array, kind?: "x509" | "precert", timestamp?: number): void;
  /** Appends an entry exactly as given (hostile data: any JSON value). */
  addRaw(entry: unknown): void;
  /** Replaces entry `index` (a log rewriting its history: its new tree heads are not consistent with the old ones). */
  rewrite(index: number, der: Uint8Array): void;
  /** Sign tree heads with another key from now on (a forged tree head), or with the log's own again. */
  forgeTreeHeads(forged: boolean): void;
  /** Serve audit paths that prove nothing (a log that serves entries outside its tree). */
  breakInclusionProofs(broken: boolean): void;
  /** get-entries requests served so far. */
  requests(): number;
  /** Requests served so far, by path (get-sth, get-entries, …). */
  requestsByPath(): Record<string, number>;
  /** Bytes of response bodies served so far. */
  bytesServed(): number;
  close(): Promise<void>;
}

export async function startCtStandIn(options: { maxPerRequest?: number } = {}): Promise<CtStandIn> {
  const entries: unknown[] = [];
  const maxPerRequest = options.maxPerRequest ?? 32;
  const logKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
  let forged = false;
  let brokenInclusion = false;
  const counts: Record<string, number> = {};
  let bytes = 0;
  // The leaf bytes the tree hashes: an entry's decoded leaf_input (hostile entries hash as whatever they carry).
  const leafBytes = (entry: unknown) => {
    const input = (entry as Record<string, unknown> | null)?.["leaf_input"];
    return Buffer.from(typeof input === "string" ? input : JSON.stringify(entry ?? null), "base64");
  };
  const leaves = () => entries.map(leafBytes);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://ct.invalid");
    const name = url.pathname.replace("/ct/v1/", "");
    counts[name] = (counts[name] ?? 0) + 1;
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      bytes += Buffer.byteLength(text);
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    const size = (key: string) => Number(url.searchParams.get(key));
    if (name === "get-sth") {
      const timestamp = Date.now();
      const root = merkleRoot(leaves());
      const signed = sign("sha256", treeHeadSignedData(entries.length, timestamp, root), {
        key: (forged ? otherKey : logKey).privateKey,
      });
      const digitallySigned = Buffer.concat([Buffer.from([4, 3, signed.length >> 8, signed.length & 0xff]), signed]);
      return send(200, {
        tree_size: entries.length,
        timestamp,
        sha256_root_hash: root.toString("base64"),
        tree_head_signature: digitallySigned.toString("base64"),
      });
    }
    if (name === "get-entries") {
      const start = size("start");
      const end = Math.min(size("end"), start + maxPerRequest - 1, entries.length - 1);
      if (!(start >= 0) || !(end >= start)) return send(400, { error: "bad range" });
      return send(200, { entries: entries.slice(start, end + 1) });
    }
    if (name === "get-sth-consistency") {
      const [first, second] = [size("first"), size("second")];
      if (!(first >= 0 && first <= second && second <= entries.length)) return send(400, { error: "bad range" });
      return send(200, {
        consistency: consistencyProof(first, leaves().slice(0, second)).map((h) => h.toString("base64")),
      });
    }
    if (name === "get-proof-by-hash") {
      const treeSize = size("tree_size");
      const hash = url.searchParams.get("hash");
      const tree = leaves().slice(0, treeSize);
      const index = tree.findIndex((leaf) => leafHash(leaf).toString("base64") === hash);
      if (index < 0) return send(404, { error: "no such leaf" });
      const path = auditPath(index, tree).map((h) => (brokenInclusion ? Buffer.alloc(32, 7) : h).toString("base64"));
      return send(200, { leaf_index: index, audit_path: path });
    }
    send(404, { error: "not found" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const leafOf = (der: Uint8Array, kind: "x509" | "precert", timestamp: number) => ({
    leaf_input:
      kind === "x509" ? encodeLeaf({ kind, der }, timestamp) : encodeLeaf({ kind, tbs: tbsOf(der) }, timestamp),
    extra_data: "",
  });
  return {
    url: `http://127.0.0.1:${port}`,
    publicKey: logKey.publicKey.export({ type: "spki", format: "der" }).toString("base64"),
    addCertificate(der, kind = "x509", timestamp = Date.now()) {
      entries.push(leafOf(der, kind, timestamp));
    },
    addRaw(entry) {
      entries.push(entry);
    },
    rewrite(index, der) {
      entries[index] = leafOf(der, "x509", Date.now());
    },
    forgeTreeHeads(value) {
      forged = value;
    },
    breakInclusionProofs(value) {
      brokenInclusion = value;
    },
    requests: () => counts["get-entries"] ?? 0,
    requestsByPath: () => ({ ...counts }),
    bytesServed: () => bytes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface CrtshStandIn {
  url: string;
  /** Lists a certificate under the names it carries (or `listedAs`, a search index's claim) and serves it at ?d=id. */
  addCertificate(der: Uint8Array, listedAs: string[], loggedAt?: number): number;
  /** Lists a row exactly as given (hostile data), served for every search; a certificate body for its id if given. */
  addRaw(row: unknown, body?: string | Uint8Array): void;
  /** Requests served so far. */
  requests(): number;
  close(): Promise<void>;
}

/**
 * A crt.sh-style search API: `?q=<name>&output=json` lists rows (`id`, `entry_timestamp`, `name_value`, …) whose
 * names equal the name, or end with it after a `%.` prefix, as crt.sh's identity search does; `?d=<id>` serves the
 * certificate as PEM. Ids grow from 1000 like a real index's.
 */
export async function startCrtshStandIn(): Promise<CrtshStandIn> {
  const rows: Array<{ row: unknown; names: string[] | undefined }> = [];
  const bodies = new Map<string, string | Uint8Array>();
  let nextId = 1000;
  let requests = 0;
  const server = createServer((req, res) => {
    requests += 1;
    const url = new URL(req.url ?? "/", "http://crtsh.invalid");
    const q = url.searchParams.get("q");
    const d = url.searchParams.get("d");
    if (q !== null && url.searchParams.get("output") === "json") {
      const wildcard = q.startsWith("%.");
      const name = wildcard ? q.slice(2) : q;
      const listed = rows
        .filter(
          ({ names }) =>
            names === undefined ||
            names.some((n) => (wildcard ? n.endsWith(`.${name}`) : n === name || n === `*.${name}`)),
        )
        .map(({ row }) => row);
      const text = JSON.stringify(listed);
      res.writeHead(200, { "content-type": "application/json" }); // no length: a streamed answer, as crt.sh's
      return res.end(text);
    }
    if (d !== null && bodies.has(d)) {
      res.writeHead(200, { "content-type": "application/x-pem-file" });
      return res.end(bodies.get(d));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    addCertificate(der, listedAs, loggedAt = Date.now()) {
      const id = nextId++;
      const cert = new x509.X509Certificate(der);
      rows.push({
        names: listedAs,
        row: {
          issuer_ca_id: 1,
          issuer_name: cert.issuer,
          common_name: listedAs[0],
          name_value: listedAs.join("\n"),
          id,
          entry_timestamp: new Date(loggedAt).toISOString().replace("Z", ""),
          not_before: cert.notBefore.toISOString().replace(/\.\d+Z$/, ""),
          not_after: cert.notAfter.toISOString().replace(/\.\d+Z$/, ""),
          serial_number: cert.serialNumber,
        },
      });
      bodies.set(String(id), cert.toString("pem"));
      return id;
    },
    addRaw(row, body) {
      rows.push({ row, names: undefined });
      const id = (row as Record<string, unknown> | null)?.["id"];
      if (body !== undefined) bodies.set(String(id), body);
    },
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
