/**
 * Certificate transparency for the app's domain: read an RFC 6962 log (`get-sth`, `get-entries`), check what it
 * signs and proves (a tree head's signature with the log's key, `get-sth-consistency`, `get-proof-by-hash`; the
 * Merkle verifiers are in merkle.ts), decode each entry (an X.509 certificate or a precertificate's TBSCertificate)
 * with maintained ASN.1 code, and judge it against the app's TLS key. A certificate for the domain whose key is not the app's is URGENT: someone who can pass the CA's
 * domain validation (the domain's owner, its DNS or hosting provider, the gateway) holds a certificate users' browsers
 * accept, for a key no TEE holds. Everything a log returns is hostile input: a response is capped, a malformed entry is
 * refused on its own with its index and reason, and the reader always moves past it.
 */
import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";

import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, SubjectAlternativeName, TBSCertificate, id_ce_subjectAltName } from "@peculiar/asn1-x509";

import { certificateFacts, nameMatches } from "./certificate.js";
import type { CtCertificate } from "./ct-types.js";
import { spkiSha256 } from "./key.js";
import { HASH_BYTES, consistencyProofProblem, inclusionProofProblem, leafHash } from "./merkle.js";

/** Largest response read from a log (a get-entries batch of 256 ordinary certificates is ~1-2 MB). */
export const DEFAULT_MAX_CT_RESPONSE_BYTES = 4_000_000;
export const DEFAULT_CT_BATCH = 256;

/** A tree head whose signature verified with the log's key. */
export interface SignedTreeHead {
  treeSize: number;
  /** When the log signed it, ms since the epoch. */
  timestamp: number;
  /** The Merkle tree's root, 32 bytes. */
  rootHash: Buffer;
}

/** A consistency proof has at most ~2·log2(size) nodes, an audit path at most log2(size): 128 covers 2^63 entries. */
const MAX_PROOF_NODES = 128;

export type { CtCertificate } from "./ct-types.js";

/** An entry the reader refused: its index and why. */
export interface CtRefusal {
  index: number;
  reason: string;
}

export class CtResponseError extends Error {
  override name = "CtResponseError";

  constructor(
    message: string,
    readonly tooLarge = false,
    /** The source could not be reached or broke off: worth asking again, unlike an answer that is wrong. */
    readonly transient = false,
  ) {
    super(message);
  }
}

/**
 * The log's data fails a cryptographic check: a tree head its key did not sign (`signature`: forged, or not this
 * log), or a signed tree that is not an extension of the last verified one (`consistency`: the log rewrote or forked
 * its history, which a log's own signature makes evidence of), or an entry it does not prove it holds (`inclusion`).
 */
export class CtVerificationError extends Error {
  override name = "CtVerificationError";

  constructor(
    message: string,
    readonly check: "signature" | "consistency" | "inclusion",
  ) {
    super(message);
  }
}

/** GETs `url`, reading at most `maxBytes` and waiting at most `timeoutMs`. */
export async function fetchCapped(url: string, maxBytes: number, timeoutMs: number, accept: string): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept } });
  } catch (error) {
    throw new CtResponseError(`cannot reach ${url}: ${(error as Error).message}`, false, true);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new CtResponseError(`${url} answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new CtResponseError(`${url} answered ${declared} bytes, more than ${maxBytes}`, true);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  try {
    while (reader !== undefined) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await reader.cancel();
        throw new CtResponseError(`${url} answered more than ${maxBytes} bytes`, true);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof CtResponseError) throw error;
    throw new CtResponseError(`${url}: the answer broke off: ${(error as Error).message}`, false, true);
  }
  return Buffer.concat(chunks);
}

/** GETs `url` and parses JSON, reading at most `maxBytes` and waiting at most `timeoutMs`. */
export async function fetchCappedJson(url: string, maxBytes: number, timeoutMs: number): Promise<unknown> {
  const body = await fetchCapped(url, maxBytes, timeoutMs, "application/json");
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new CtResponseError(`${url} did not answer JSON`);
  }
}

/** Base64 (standard alphabet, padded) of exactly `bytes` bytes, or undefined. */
function base64Of(value: unknown, bytes?: number): Buffer | undefined {
  if (typeof value !== "string" || value.length > 1_000_000 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return undefined;
  const decoded = Buffer.from(value, "base64");
  return bytes === undefined || decoded.length === bytes ? decoded : undefined;
}

/**
 * The log's public key as logs publish it (the base64 DER SubjectPublicKeyInfo of a log list's `key`, or PEM);
 * throws when it is not an ECDSA P-256 or RSA key, the kinds RFC 6962 §2.1.4 allows.
 */
export function parseLogKey(text: string): KeyObject {
  let key: KeyObject;
  try {
    key = text.includes("-----BEGIN")
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text.trim(), "base64"), format: "der", type: "spki" });
  } catch {
    throw new Error("not a public key (base64 DER SubjectPublicKeyInfo, or PEM)");
  }
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return key;
  if (key.asymmetricKeyType === "rsa") return key;
  throw new Error(`a ${key.asymmetricKeyType} key: RFC 6962 logs sign with ECDSA P-256 or RSA`);
}

/** The log's ID (RFC 6962 §3.2): SHA-256 of its DER public key, base64. */
export function logIdOf(key: KeyObject): string {
  return createHash("sha256")
    .update(key.export({ type: "spki", format: "der" }))
    .digest("base64");
}

/** The bytes a tree head signature covers (RFC 6962 §3.5: TreeHeadSignature, v1, tree_hash). */
export function treeHeadSignedData(treeSize: number, timestamp: number, rootHash: Uint8Array): Buffer {
  const data = Buffer.alloc(2 + 8 + 8 + HASH_BYTES);
  data.writeUInt8(0, 0); // v1
  data.writeUInt8(1, 1); // tree_hash
  data.writeBigUInt64BE(BigInt(timestamp), 2);
  data.writeBigUInt64BE(BigInt(treeSize), 10);
  Buffer.from(rootHash).copy(data, 18);
  return data;
}

/** Whether a DigitallySigned struct (RFC 5246 §4.7: hash, signature algorithm, opaque<0..2^16-1>) over `data` verifies with `key`. */
export function verifyDigitallySigned(key: KeyObject, data: Uint8Array, signed: Uint8Array): string | undefined {
  if (signed.length < 4) return "the signature is too short";
  const [hash, algorithm] = [signed[0], signed[1]];
  const length = Buffer.from(signed).readUInt16BE(2);
  if (signed.length !== 4 + length) return "the signature's length does not match its bytes";
  if (hash !== 4) return `hash algorithm ${hash} is not SHA-256 (4)`;
  const expected = key.asymmetricKeyType === "ec" ? 3 : 1;
  if (algorithm !== expected) return `signature algorithm ${algorithm} is not the log key's (${expected})`;
  let valid = false;
  try {
    valid = verify("sha256", data, key, signed.subarray(4));
  } catch {
    valid = false;
  }
  return valid ? undefined : "the signature does not verify with the log's key";
}

/**
 * An RFC 6962 log at `baseUrl` (the part before `/ct/v1/`) with its public key: every tree head it returns is
 * checked against the key, every consistency proof and audit path against the tree heads. What it returns is hostile
 * input, capped in size and time.
 */
export class CtLog {
  constructor(
    readonly baseUrl: string,
    readonly publicKey: KeyObject,
    private readonly limits: { maxBytes: number; timeoutMs: number } = {
      maxBytes: DEFAULT_MAX_CT_RESPONSE_BYTES,
      timeoutMs: 10_000,
    },
  ) {}

  private url(path: string): string {
    return `${this.baseUrl.replace(/\/+$/, "")}/ct/v1/${path}`;
  }

  private async get(path: string): Promise<Record<string, unknown>> {
    const body = await fetchCappedJson(this.url(path), this.limits.maxBytes, this.limits.timeoutMs);
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new CtResponseError(`${path.split("?")[0]}: the answer is not a JSON object`);
    }
    return body as Record<string, unknown>;
  }

  /** The log's current tree head, its signature verified (throws {@link CtVerificationError} when it is not). */
  async getSth(): Promise<SignedTreeHead> {
    const body = await this.get("get-sth");
    const treeSize = body["tree_size"];
    const timestamp = body["timestamp"];
    if (typeof treeSize !== "number" || !Number.isSafeInteger(treeSize) || treeSize < 0) {
      throw new CtResponseError("get-sth: tree_size is not a non-negative integer");
    }
    if (typeof timestamp !== "number" || !Number.isSafeInteger(timestamp) || timestamp < 0) {
      throw new CtResponseError("get-sth: timestamp is not a non-negative integer");
    }
    const rootHash = base64Of(body["sha256_root_hash"], HASH_BYTES);
    if (rootHash === undefined) throw new CtResponseError("get-sth: sha256_root_hash is not 32 bytes of base64");
    const signature = base64Of(body["tree_head_signature"]);
    if (signature === undefined) throw new CtResponseError("get-sth: tree_head_signature is not base64");
    const problem = verifyDigitallySigned(this.publicKey, treeHeadSignedData(treeSize, timestamp, rootHash), signature);
    if (problem !== undefined) {
      throw new CtVerificationError(`the tree head of ${treeSize} entries is not the log's: ${problem}`, "signature");
    }
    return { treeSize, timestamp, rootHash };
  }

  /**
   * Checks that `next` extends `verified` (get-sth-consistency, RFC 6962 §4.4); throws {@link CtVerificationError}
   * when it does not.
   */
  async checkConsistency(verified: SignedTreeHead, next: SignedTreeHead): Promise<void> {
    let proof: Buffer[] = [];
    if (verified.treeSize > 0 && verified.treeSize < next.treeSize) {
      const body = await this.get(`get-sth-consistency?first=${verified.treeSize}&second=${next.treeSize}`);
      proof = hashList(body["consistency"], "get-sth-consistency: consistency");
    }
    const problem = consistencyProofProblem(verified.treeSize, next.treeSize, verified.rootHash, next.rootHash, proof);
    if (problem !== undefined) {
      throw new CtVerificationError(
        `the tree head of ${next.treeSize} entries is not consistent with the verified one of ${verified.treeSize}: ${problem}`,
        "consistency",
      );
    }
  }

  /**
   * Checks that `leafInput` is entry `index` of the tree `sth` signs (get-proof-by-hash, RFC 6962 §4.5); throws
   * {@link CtVerificationError} when the log does not prove it.
   */
  async checkInclusion(index: number, leafInput: Buffer, sth: SignedTreeHead): Promise<void> {
    const hash = leafHash(leafInput);
    const body = await this.get(
      `get-proof-by-hash?hash=${encodeURIComponent(hash.toString("base64"))}&tree_size=${sth.treeSize}`,
    );
    const leafIndex = body["leaf_index"];
    const path = hashList(body["audit_path"], "get-proof-by-hash: audit_path");
    const problem =
      leafIndex !== index
        ? `the log places this entry at ${typeof leafIndex === "number" ? leafIndex : "no index"}, not ${index}`
        : inclusionProofProblem(index, sth.treeSize, hash, path, sth.rootHash);
    if (problem !== undefined) {
      throw new CtVerificationError(`entry ${index} is not proven to be in the signed tree: ${problem}`, "inclusion");
    }
  }

  /** Entries `start`..`end` (inclusive); a log may return fewer (RFC 6962 §4.6), never none. */
  async getEntries(start: number, end: number): Promise<Array<{ leafInput: unknown }>> {
    const body = await this.get(`get-entries?start=${start}&end=${end}`);
    const entries = body["entries"];
    if (!Array.isArray(entries)) throw new CtResponseError("get-entries: entries is not an array");
    if (entries.length === 0) throw new CtResponseError(`get-entries ${start}-${end}: no entries`);
    return entries.slice(0, end - start + 1).map((entry: unknown) => ({
      leafInput: (entry as Record<string, unknown> | null)?.["leaf_input"],
    }));
  }
}

function hashList(value: unknown, what: string): Buffer[] {
  if (!Array.isArray(value)) throw new CtResponseError(`${what} is not an array`);
  if (value.length > MAX_PROOF_NODES) throw new CtResponseError(`${what} has more than ${MAX_PROOF_NODES} nodes`);
  return value.map((item, i) => {
    const hash = base64Of(item, HASH_BYTES);
    if (hash === undefined) throw new CtResponseError(`${what}[${i}] is not 32 bytes of base64`);
    return hash;
  });
}

/** Decodes one entry's `leaf_input` (base64 MerkleTreeLeaf, RFC 6962 §3.4); throws with the reason. */
export function decodeLeaf(index: number, leafInput: unknown): CtCertificate;
export function decodeLeaf(index: number, leafInput: unknown, mentioning: string): CtCertificate | undefined;
/**
 * With `mentioning` (a lowercase DNS name), an entry whose certificate bytes contain neither that name nor the
 * wildcard one level up (`*.parent`, which covers it) in any case is not parsed (undefined): it cannot name the
 * domain, and X.509 parsing is most of a watcher's work (about 4 ms an entry). Its framing is still checked.
 */
export function decodeLeaf(index: number, leafInput: unknown, mentioning?: string): CtCertificate | undefined {
  if (typeof leafInput !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(leafInput)) {
    throw new Error("leaf_input is not base64");
  }
  const leaf = Buffer.from(leafInput, "base64");
  if (leaf.length < 15) throw new Error("the leaf is too short");
  if (leaf[0] !== 0 || leaf[1] !== 0) throw new Error(`unknown leaf version ${leaf[0]} or type ${leaf[1]}`);
  const timestamp = Number(leaf.readBigUInt64BE(2));
  const entryType = leaf.readUInt16BE(10);
  const u24 = (at: number) => {
    if (at + 3 > leaf.length) throw new Error("the leaf ends inside a length");
    const length = leaf.readUIntBE(at, 3);
    if (at + 3 + length > leaf.length) throw new Error("a length runs past the leaf's end");
    return leaf.subarray(at + 3, at + 3 + length);
  };
  // Every name that covers the domain contains it (itself, a name under it) or is the wildcard of its parent.
  const needles = mentioning === undefined ? [] : [mentioning, `*.${mentioning.slice(mentioning.indexOf(".") + 1)}`];
  const unrelated = (bytes: Buffer) => {
    if (mentioning === undefined) return false;
    const text = bytes.toString("latin1").toLowerCase();
    return !needles.some((needle) => text.includes(needle));
  };
  if (entryType === 0) {
    const der = u24(12);
    if (unrelated(der)) return undefined;
    const facts = certificateFacts(new Uint8Array(der));
    return {
      index,
      kind: "x509",
      timestamp,
      spkiSha256: facts.spkiSha256,
      dnsNames: facts.dnsNames,
      issuer: facts.issuer,
      notBefore: facts.notBefore.toISOString(),
      notAfter: facts.notAfter.toISOString(),
    };
  }
  if (entryType === 1) {
    if (leaf.length < 12 + 32 + 3) throw new Error("the precert entry is too short");
    const tbsBytes = u24(12 + 32);
    if (unrelated(tbsBytes)) return undefined;
    const tbs = AsnConvert.parse(tbsBytes, TBSCertificate);
    const spki = new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo));
    const san = tbs.extensions?.find((extension) => extension.extnID === id_ce_subjectAltName);
    const names = san === undefined ? [] : AsnConvert.parse(san.extnValue, SubjectAlternativeName);
    return {
      index,
      kind: "precert",
      timestamp,
      spkiSha256: spkiSha256(spki),
      dnsNames: names.filter((name) => name.dNSName !== undefined).map((name) => name.dNSName!),
      issuer: undefined,
      notBefore: tbs.validity.notBefore.getTime().toISOString(),
      notAfter: tbs.validity.notAfter.getTime().toISOString(),
    };
  }
  throw new Error(`unknown entry type ${entryType}`);
}

/** Whether a certificate names `domain` or a name under it (`*.domain`, `a.domain`). */
export function coversDomain(dnsNames: readonly string[], domain: string): boolean {
  const d = domain.toLowerCase().replace(/\.$/, "");
  return dnsNames.some((name) => {
    const n = name.toLowerCase().replace(/\.$/, "");
    return nameMatches(n, d) || n === d || n.endsWith(`.${d}`);
  });
}

/** The TBSCertificate of a DER certificate (tests build precert entries from it). */
export function tbsOf(der: Uint8Array): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(AsnConvert.parse(der, Certificate).tbsCertificate));
}

/** A MerkleTreeLeaf for a certificate or a precertificate (tests and the CT stand-in). */
export function encodeLeaf(
  entry: { kind: "x509"; der: Uint8Array } | { kind: "precert"; tbs: Uint8Array },
  timestamp: number,
): string {
  const u24 = (bytes: Uint8Array) => {
    const length = Buffer.alloc(3);
    length.writeUIntBE(bytes.length, 0, 3);
    return Buffer.concat([length, bytes]);
  };
  const head = Buffer.alloc(12);
  head.writeBigUInt64BE(BigInt(timestamp), 2);
  head.writeUInt16BE(entry.kind === "x509" ? 0 : 1, 10);
  const body = entry.kind === "x509" ? u24(entry.der) : Buffer.concat([Buffer.alloc(32, 0x11), u24(entry.tbs)]);
  return Buffer.concat([head, body, Buffer.alloc(2)]).toString("base64");
}
