/**
 * What `propose-hash` checks before it publishes a compose hash and its URI for good: that the file is an
 * app-compose.json dstack can run, that the URI is one guest agents and auditors can use, and that the bytes at the
 * URI are the bytes whose hash is proposed. Free of Hardhat: the task prints, warns and refuses.
 */
import { sha256Hex } from "./composeHash.js";
import { ComposeFetchError, FETCHABLE_SCHEMES, fetchComposeUri, type FetchLimits } from "./composeUri.js";
import { parseAppCompose } from "./devproof-report.js";
import { InvalidOptionError, UserError } from "./errors.js";

/**
 * Why dstack could not run these bytes as an app-compose.json, in words; empty when it could (as far as can be told
 * without booting it): UTF-8 JSON, an object, and a `docker_compose_file` that is a YAML mapping (required with the
 * `docker-compose` runner).
 */
export function composeFileProblems(bytes: Uint8Array): string[] {
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so that JSON.parse refuses it as strict parsers do.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return ["not UTF-8 text"];
  }
  if (text.startsWith("\uFEFF")) return ["it starts with a byte-order mark, which strict JSON parsers refuse"];
  const parsed = parseAppCompose(text);
  if (parsed.appCompose === undefined) return parsed.errors;
  const problems = [...parsed.errors];
  const dockerCompose = parsed.appCompose["docker_compose_file"];
  if (
    parsed.appCompose["runner"] === "docker-compose" &&
    (typeof dockerCompose !== "string" || dockerCompose.trim() === "")
  ) {
    problems.push('runner is "docker-compose" but docker_compose_file is missing or empty');
  }
  return problems;
}

/** A compose URI, parsed, with what to tell the owner about it before proposing. */
export interface ComposeUriAssessment {
  url: URL;
  /** Whether guest agents fetch this scheme (http, https, file), so it can be checked from here too. */
  fetchable: boolean;
  /** Problems that do not stop the proposal but that the owner should know of, one sentence each. */
  warnings: string[];
}

/**
 * Checks the form of a compose URI: an absolute URL without credentials (it is published for good); warns about a
 * scheme guest agents do not fetch, a file: URI (readable only where the file is), and a host that only this machine
 * or its network can reach.
 * @param option the option that gave it, for messages (e.g. "uri").
 */
export function assessComposeUri(option: string, uri: string): ComposeUriAssessment {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InvalidOptionError(
      option,
      uri,
      "an absolute URL where guest agents and auditors can fetch the compose file, e.g. https://example.org/app-compose.json",
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new UserError(
      `--${option} ${url.protocol}//${url.username}:…@${url.host}…: it holds credentials, and the URI is published on ` +
        "chain for anyone to read, for good: give a URL that needs none",
    );
  }
  const warnings: string[] = [];
  const fetchable = FETCHABLE_SCHEMES.includes(url.protocol);
  if (!fetchable) {
    warnings.push(
      `${uri} uses ${url.protocol}, which guest agents cannot fetch (they fetch ${FETCHABLE_SCHEMES.map((s) => s.slice(0, -1)).join(", ")}): ` +
        "they will not be able to run this release from it, and it is not checked here",
    );
  } else if (url.protocol === "file:") {
    warnings.push(
      `${uri} is a file: URI: each reader opens that path on its own machine (a guest agent, inside its CVM); ` +
        "auditors cannot fetch it from you: publish the file over https too",
    );
  } else if (isLocalHost(url.hostname)) {
    warnings.push(
      `${uri} names ${url.hostname}, which only this machine or its local network can reach: guest agents and ` +
        "auditors elsewhere cannot fetch it",
    );
  }
  return { url, fetchable, warnings };
}

/** localhost, loopback, private and link-local addresses, and mDNS names. */
function isLocalHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost") || host.endsWith(".local") || host === "0.0.0.0") return true;
  if (
    /^(127|10)\.\d+\.\d+\.\d+$/.test(host) ||
    /^192\.168\.\d+\.\d+$/.test(host) ||
    /^169\.254\.\d+\.\d+$/.test(host)
  ) {
    return true;
  }
  const private172 = /^172\.(\d+)\.\d+\.\d+$/.exec(host);
  if (private172 !== null && Number(private172[1]) >= 16 && Number(private172[1]) <= 31) return true;
  return host === "::1" || /^f[cd][0-9a-f]{2}:/.test(host) || /^fe80:/.test(host);
}

/** What was found at a compose URI, compared with the compose hash being proposed. */
export type PublishedCompose =
  | { found: "match"; bytes: Uint8Array }
  | { found: "mismatch"; bytes: Uint8Array; sha256: string }
  | { found: "unreachable"; reason: string };

/** Fetches a compose URI as guest agents do and compares its bytes' sha256 with `composeHash`. */
export async function checkPublishedCompose(
  uri: string,
  composeHash: string,
  limits: FetchLimits,
): Promise<PublishedCompose> {
  let bytes: Uint8Array;
  try {
    bytes = await fetchComposeUri(uri, limits);
  } catch (error) {
    if (error instanceof ComposeFetchError) return { found: "unreachable", reason: error.message };
    throw error;
  }
  const sha256 = sha256Hex(bytes);
  return sha256 === composeHash.toLowerCase() ? { found: "match", bytes } : { found: "mismatch", bytes, sha256 };
}

/**
 * How published bytes differ from the local file, when it is one of the usual accidents of uploading: line endings
 * rewritten, a final newline or whitespace added or lost, a byte-order mark. Undefined otherwise.
 */
export function howBytesDiffer(local: Uint8Array, published: Uint8Array): string | undefined {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const a = decoder.decode(local);
  const b = decoder.decode(published);
  if (a === b) return undefined;
  if (a.replace(/\r\n/g, "\n") === b.replace(/\r\n/g, "\n")) return "only in line endings (CRLF and LF)";
  if (a.replace(/^\uFEFF/, "") === b.replace(/^\uFEFF/, "")) return "only in a byte-order mark";
  if (a.trimEnd() === b.trimEnd()) return "only in whitespace at the end (a final newline?)";
  return undefined;
}
