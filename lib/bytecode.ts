/**
 * Runtime bytecode as an auditor compares it: the executable code, then solc's CBOR-encoded metadata trailer, whose
 * `ipfs` entry is the hash of the contract's metadata JSON (compiler version, settings, and the keccak256 of every
 * source file). Equal trailers mean the same sources compiled with the same compiler and settings.
 */
import { createHash } from "node:crypto";

import { encodeBase58, getBytes, hexlify, toUtf8Bytes } from "ethers";

/** The decoded metadata trailer at the end of solc's runtime bytecode. */
export interface MetadataTrailer {
  /** The IPFS multihash of the metadata JSON (`0x1220` + sha256), when solc used `bytecodeHash: "ipfs"`. */
  ipfs?: string;
  /** The same, as the CIDv0 (`Qm…`) under which the metadata is published on IPFS. */
  ipfsCid?: string;
  /** The compiler version, e.g. "0.8.28" (solc writes it for release builds). */
  solc?: string;
  /** Whether the contract was compiled with experimental features. */
  experimental?: boolean;
  /** Bytes of the trailer, including its 2-byte length. */
  byteLength: number;
}

export interface SplitBytecode {
  /** The executable part, without the trailer (hex with 0x). */
  executable: string;
  /** Undefined when the bytecode ends in no trailer solc would write. */
  trailer: MetadataTrailer | undefined;
}

/** Splits runtime bytecode into its executable part and solc's metadata trailer. */
export function splitRuntimeBytecode(bytecode: string): SplitBytecode {
  const bytes = getBytes(bytecode.startsWith("0x") ? bytecode : `0x${bytecode}`);
  if (bytes.length < 2) return { executable: hexlify(bytes), trailer: undefined };
  const cborLength = (bytes[bytes.length - 2]! << 8) | bytes[bytes.length - 1]!;
  const start = bytes.length - 2 - cborLength;
  if (cborLength === 0 || start < 0) return { executable: hexlify(bytes), trailer: undefined };
  const entries = decodeCborMap(bytes.subarray(start, bytes.length - 2));
  if (entries === undefined) return { executable: hexlify(bytes), trailer: undefined };
  const trailer: MetadataTrailer = { byteLength: cborLength + 2 };
  const ipfs = entries.get("ipfs");
  if (ipfs instanceof Uint8Array) {
    trailer.ipfs = hexlify(ipfs);
    trailer.ipfsCid = encodeBase58(ipfs);
  }
  const solc = entries.get("solc");
  if (solc instanceof Uint8Array && solc.length === 3) trailer.solc = Array.from(solc).join(".");
  if (typeof entries.get("experimental") === "boolean") trailer.experimental = entries.get("experimental") as boolean;
  return { executable: hexlify(bytes.subarray(0, start)), trailer };
}

/**
 * The IPFS multihash solc puts in the trailer for a metadata JSON: sha256 of the file as a single-chunk UnixFS
 * node (solc's `libsolutil/IpfsHash.cpp`; metadata files are far below the 256 KiB chunk size).
 */
export function ipfsMultihashOf(content: string): string {
  const data = toUtf8Bytes(content);
  if (data.length >= 256 * 1024) throw new Error("content larger than one IPFS chunk");
  const length = varint(data.length);
  const unixFs = concat([Uint8Array.of(0x08, 0x02), Uint8Array.of(0x12), length, data, Uint8Array.of(0x18), length]);
  const node = concat([Uint8Array.of(0x0a), varint(unixFs.length), unixFs]);
  return `0x1220${createHash("sha256").update(node).digest("hex")}`;
}

export type BytecodeComparison =
  | { match: true; trailer: MetadataTrailer | undefined }
  | { match: false; reason: "code" | "metadata"; expected: SplitBytecode; actual: SplitBytecode };

/**
 * Compares runtime bytecode built from source with code read from a chain. `metadata`: the executable parts agree but
 * the metadata hashes differ (other source names, comments, settings or compiler); `code`: the code itself differs.
 */
export function compareRuntimeBytecode(built: string, onChain: string): BytecodeComparison {
  const expected = splitRuntimeBytecode(built);
  const actual = splitRuntimeBytecode(onChain);
  if (expected.executable.toLowerCase() !== actual.executable.toLowerCase()) {
    return { match: false, reason: "code", expected, actual };
  }
  if (JSON.stringify(expected.trailer) !== JSON.stringify(actual.trailer)) {
    return { match: false, reason: "metadata", expected, actual };
  }
  return { match: true, trailer: expected.trailer };
}

function varint(value: number): Uint8Array {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  out.push(rest);
  return Uint8Array.from(out);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

type CborValue = Uint8Array | string | boolean | number;

/** Decodes the one CBOR shape solc writes: a map from text keys to byte strings, text, booleans or small ints. */
function decodeCborMap(bytes: Uint8Array): Map<string, CborValue> | undefined {
  let offset = 0;
  const head = (): { major: number; value: number } | undefined => {
    const byte = bytes[offset++];
    if (byte === undefined) return undefined;
    const major = byte >> 5;
    const info = byte & 0x1f;
    if (info < 24) return { major, value: info };
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0;
    if (size === 0 || offset + size > bytes.length) return undefined;
    let value = 0;
    for (let i = 0; i < size; i++) value = value * 256 + bytes[offset++]!;
    return { major, value };
  };
  const map = head();
  if (map?.major !== 5) return undefined;
  const entries = new Map<string, CborValue>();
  for (let i = 0; i < map.value; i++) {
    const key = head();
    if (key?.major !== 3 || offset + key.value > bytes.length) return undefined;
    const name = new TextDecoder().decode(bytes.subarray(offset, offset + key.value));
    offset += key.value;
    const value = head();
    if (value === undefined) return undefined;
    if (value.major === 2 || value.major === 3) {
      if (offset + value.value > bytes.length) return undefined;
      const raw = bytes.subarray(offset, offset + value.value);
      offset += value.value;
      entries.set(name, value.major === 2 ? raw : new TextDecoder().decode(raw));
    } else if (value.major === 7 && (value.value === 20 || value.value === 21)) {
      entries.set(name, value.value === 21);
    } else if (value.major === 0) {
      entries.set(name, value.value);
    } else {
      return undefined;
    }
  }
  return offset === bytes.length ? entries : undefined;
}
