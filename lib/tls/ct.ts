/**
 * Certificate transparency for the app's domain: read an RFC 6962 log (`get-sth`, `get-entries`), decode each entry
 * (an X.509 certificate or a precertificate's TBSCertificate) with maintained ASN.1 code, and judge it against the
 * app's TLS key. A certificate for the domain whose key is not the app's is URGENT: someone who can pass the CA's
 * domain validation (the domain's owner, its DNS or hosting provider, the gateway) holds a certificate users' browsers
 * accept, for a key no TEE holds. Everything a log returns is hostile input: a response is capped, a malformed entry is
 * refused on its own with its index and reason, and the reader always moves past it.
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, SubjectAlternativeName, TBSCertificate, id_ce_subjectAltName } from "@peculiar/asn1-x509";

import { certificateFacts, nameMatches } from "./certificate.js";
import { spkiSha256 } from "./key.js";

/** Largest response read from a log (a get-entries batch of 256 ordinary certificates is ~1-2 MB). */
export const DEFAULT_MAX_CT_RESPONSE_BYTES = 4_000_000;
export const DEFAULT_CT_BATCH = 256;

export interface SignedTreeHead {
  treeSize: number;
  timestamp: number;
  rootHash: string;
}

/** One log entry, decoded. */
export interface CtCertificate {
  index: number;
  kind: "x509" | "precert";
  /** The leaf's timestamp (ms since the epoch), when the log accepted it. */
  timestamp: number;
  spkiSha256: string;
  dnsNames: string[];
  issuer: string | undefined;
  notBefore: string;
  notAfter: string;
}

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
  ) {
    super(message);
  }
}

/** GETs `url` and parses JSON, reading at most `maxBytes` and waiting at most `timeoutMs`. */
export async function fetchCappedJson(url: string, maxBytes: number, timeoutMs: number): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: "application/json" } });
  } catch (error) {
    throw new CtResponseError(`cannot reach ${url}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new CtResponseError(`${url} answered HTTP ${response.status}`);
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new CtResponseError(`${url} answered ${declared} bytes, more than ${maxBytes}`, true);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
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
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new CtResponseError(`${url} did not answer JSON`);
  }
}

/** An RFC 6962 log at `baseUrl` (the part before `/ct/v1/`). */
export class CtLog {
  constructor(
    readonly baseUrl: string,
    private readonly limits: { maxBytes: number; timeoutMs: number } = {
      maxBytes: DEFAULT_MAX_CT_RESPONSE_BYTES,
      timeoutMs: 10_000,
    },
  ) {}

  private url(path: string): string {
    return `${this.baseUrl.replace(/\/+$/, "")}/ct/v1/${path}`;
  }

  async getSth(): Promise<SignedTreeHead> {
    const body = (await fetchCappedJson(this.url("get-sth"), this.limits.maxBytes, this.limits.timeoutMs)) as Record<
      string,
      unknown
    >;
    const treeSize = body?.["tree_size"];
    if (typeof treeSize !== "number" || !Number.isSafeInteger(treeSize) || treeSize < 0) {
      throw new CtResponseError("get-sth: tree_size is not a non-negative integer");
    }
    return {
      treeSize,
      timestamp: typeof body["timestamp"] === "number" ? body["timestamp"] : 0,
      rootHash: typeof body["sha256_root_hash"] === "string" ? body["sha256_root_hash"] : "",
    };
  }

  /** Entries `start`..`end` (inclusive); a log may return fewer (RFC 6962 §4.6), never none. */
  async getEntries(start: number, end: number): Promise<Array<{ leafInput: unknown }>> {
    const body = (await fetchCappedJson(
      this.url(`get-entries?start=${start}&end=${end}`),
      this.limits.maxBytes,
      this.limits.timeoutMs,
    )) as Record<string, unknown>;
    const entries = body?.["entries"];
    if (!Array.isArray(entries)) throw new CtResponseError("get-entries: entries is not an array");
    if (entries.length === 0) throw new CtResponseError(`get-entries ${start}-${end}: no entries`);
    return entries.slice(0, end - start + 1).map((entry: unknown) => ({
      leafInput: (entry as Record<string, unknown> | null)?.["leaf_input"],
    }));
  }
}

/** Decodes one entry's `leaf_input` (base64 MerkleTreeLeaf, RFC 6962 §3.4); throws with the reason. */
export function decodeLeaf(index: number, leafInput: unknown): CtCertificate {
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
  if (entryType === 0) {
    const facts = certificateFacts(new Uint8Array(u24(12)));
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
    const tbs = AsnConvert.parse(u24(12 + 32), TBSCertificate);
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
