/**
 * Compose hashes. dstack measures `sha256` of the EXACT BYTES of `app-compose.json` into RTMR3, and that is what
 * the CVM reports and what the KMS checks against the contract. The dstack SDK's `getComposeHash()` instead hashes
 * a re-serialization (keys sorted recursively, compact, a few fields dropped); the two agree only when the file is
 * already written in that canonical form. So we hash the bytes, and report the SDK's value when it differs.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

/** `0x`-prefixed lower-case sha256 of the bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function sortKeysRecursively(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeysRecursively);
  if (value !== null && typeof value === "object") {
    const sorted: { [key: string]: Json } = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeysRecursively(value[key]!);
    return sorted;
  }
  return value;
}

/** The fields the SDK drops before hashing (a script the runner does not use, an empty pre-launch script). */
function dropFieldsLikeTheSdk(compose: { [key: string]: Json }): {
  compose: { [key: string]: Json };
  dropped: string[];
} {
  const copy = { ...compose };
  const dropped: string[] = [];
  if (copy["runner"] === "bash" && "docker_compose_file" in copy) {
    delete copy["docker_compose_file"];
    dropped.push("docker_compose_file (runner is bash)");
  } else if (copy["runner"] === "docker-compose" && "bash_script" in copy) {
    delete copy["bash_script"];
    dropped.push("bash_script (runner is docker-compose)");
  }
  if ("pre_launch_script" in copy && !copy["pre_launch_script"]) {
    delete copy["pre_launch_script"];
    dropped.push("pre_launch_script (empty)");
  }
  return { compose: copy, dropped };
}

/** The dstack SDK's canonical serialization of an app-compose object: preprocessed, keys sorted, compact. */
export function sdkCanonicalJson(compose: { [key: string]: Json }): string {
  return JSON.stringify(sortKeysRecursively(dropFieldsLikeTheSdk(compose).compose));
}

export interface ComposeHashReport {
  /** sha256 of the exact bytes: what the CVM measures and reports when these bytes are deployed. */
  bytesHash: string;
  byteLength: number;
  /** Whether the bytes are exactly the SDK's canonical serialization (then both hashes agree). */
  canonical: boolean;
  /** The SDK's `getComposeHash()` value (`0x`-prefixed), or undefined when the file is not a JSON object. */
  sdkHash: string | undefined;
  /** Why the file is not canonical, for the person who has to fix it; empty when it is. */
  differences: string[];
}

/** Hashes app-compose bytes and compares them with the SDK's canonical form. */
export function composeHashOfBytes(bytes: Uint8Array): ComposeHashReport {
  const bytesHash = sha256Hex(bytes);
  const base = { bytesHash, byteLength: bytes.length };
  let text: string;
  let parsed: unknown;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    parsed = JSON.parse(text);
  } catch {
    return { ...base, canonical: false, sdkHash: undefined, differences: ["it is not valid UTF-8 JSON"] };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return { ...base, canonical: false, sdkHash: undefined, differences: ["it is JSON but not an object"] };
  }
  const compose = parsed as { [key: string]: Json };
  const canonicalText = sdkCanonicalJson(compose);
  const sdkHash = sha256Hex(new TextEncoder().encode(canonicalText));
  if (text === canonicalText) return { ...base, canonical: true, sdkHash, differences: [] };
  return { ...base, canonical: false, sdkHash, differences: explainDifferences(text, compose) };
}

/** Reads a file and hashes its bytes (see {@link composeHashOfBytes}). */
export async function composeHashOfFile(path: string): Promise<ComposeHashReport> {
  return composeHashOfBytes(await readFile(path));
}

function explainDifferences(text: string, compose: { [key: string]: Json }): string[] {
  const reasons: string[] = [];
  const { dropped } = dropFieldsLikeTheSdk(compose);
  if (dropped.length > 0) reasons.push(`the SDK drops ${dropped.join(", ")}`);
  const compactAsWritten = JSON.stringify(compose);
  if (text.startsWith("\uFEFF")) reasons.push("it starts with a byte-order mark");
  if (text !== compactAsWritten) {
    if (text.trimEnd() === compactAsWritten) reasons.push("it ends with a newline or other whitespace");
    else if (text.replace(/\s+/g, "") !== compactAsWritten.replace(/\s+/g, "")) {
      reasons.push("numbers or string escapes are written differently from JSON.stringify");
    } else reasons.push("it has whitespace or indentation between tokens");
  }
  if (JSON.stringify(sortKeysRecursively(compose)) !== compactAsWritten) reasons.push("its keys are not sorted");
  return reasons;
}
