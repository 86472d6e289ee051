/**
 * Getting a release's app-compose.json and turning it into what `docker compose` runs.
 *
 * The bytes are fetched from the URI the contract gives (http, https or file), with a size limit and a timeout, and
 * are used only if `sha256(bytes)` equals the on-chain compose hash — the same value dstack measures into RTMR3 for
 * these bytes. dstack's app-compose.json carries the docker-compose YAML as a string in `docker_compose_file`; the
 * agent writes that string, unchanged, to `docker-compose.yml` next to the verified app-compose.json and gives that
 * file to `docker compose -f`.
 */
import { open } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { sha256Hex } from "../../lib/composeHash.js";
import { UserError } from "../../lib/errors.js";

/** A release the agent will not run, with the reason in words. Retried later: the URI's content may be fixed. */
export class ReleaseRefusedError extends UserError {
  override name = "ReleaseRefusedError";
}

export interface FetchLimits {
  timeoutMs: number;
  maxBytes: number;
}

/** Fetches the bytes at `uri` (http, https or file), refusing more than `maxBytes` and anything slower than the timeout. */
export async function fetchComposeBytes(uri: string, limits: FetchLimits): Promise<Uint8Array> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ReleaseRefusedError(`the compose URI ${JSON.stringify(uri)} is not a URL`);
  }
  switch (url.protocol) {
    case "http:":
    case "https:":
      return fetchHttp(url, limits);
    case "file:":
      return readLocalFile(url, limits);
    default:
      throw new ReleaseRefusedError(
        `the compose URI ${uri} uses ${url.protocol}, which the agent cannot fetch (http, https, file)`,
      );
  }
}

async function fetchHttp(url: URL, { timeoutMs, maxBytes }: FetchLimits): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: "follow" });
  } catch (error) {
    throw new ReleaseRefusedError(`could not fetch ${url.href}: ${describeFetchError(error, timeoutMs)}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new ReleaseRefusedError(`fetching ${url.href} answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new ReleaseRefusedError(`${url.href} is ${declared} bytes, more than the limit of ${maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body ?? []) {
      total += chunk.length;
      // Leaving the loop by throwing cancels the body's stream.
      if (total > maxBytes) throw new ReleaseRefusedError(`${url.href} is more than the limit of ${maxBytes} bytes`);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof ReleaseRefusedError) throw error;
    throw new ReleaseRefusedError(`could not read ${url.href}: ${describeFetchError(error, timeoutMs)}`);
  }
  return Buffer.concat(chunks);
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error instanceof Error ? error.message : String(error)}${cause}`;
}

async function readLocalFile(url: URL, { maxBytes }: FetchLimits): Promise<Uint8Array> {
  const file = fileURLToPath(url);
  let handle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    throw new ReleaseRefusedError(`could not open ${file}: ${(error as Error).message}`);
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new ReleaseRefusedError(`${file} is ${size} bytes, more than the limit of ${maxBytes}`);
    // Read one byte more than allowed, in case the file grew since stat.
    const buffer = Buffer.alloc(maxBytes + 1);
    const { bytesRead } = await handle.read(buffer, 0, maxBytes + 1, 0);
    if (bytesRead > maxBytes) throw new ReleaseRefusedError(`${file} is more than the limit of ${maxBytes} bytes`);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Refuses bytes whose sha256 is not the on-chain compose hash. */
export function verifyComposeBytes(bytes: Uint8Array, composeHash: string, uri: string): void {
  const actual = sha256Hex(bytes);
  if (actual !== composeHash.toLowerCase()) {
    throw new ReleaseRefusedError(
      `the bytes at ${uri} hash to ${actual}, not to the on-chain compose hash ${composeHash.toLowerCase()}: refusing them`,
    );
  }
}

/**
 * The docker-compose YAML of a verified app-compose.json. Only the `docker-compose` runner is supported; a release
 * with a pre-launch script is refused, because the agent would not run what dstack runs.
 */
export function dockerComposeOf(bytes: Uint8Array, composeHash: string): string {
  let compose: unknown;
  try {
    compose = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new ReleaseRefusedError(`release ${composeHash} is not a UTF-8 JSON app-compose.json`);
  }
  if (compose === null || typeof compose !== "object" || Array.isArray(compose)) {
    throw new ReleaseRefusedError(`release ${composeHash} is JSON but not an app-compose object`);
  }
  const fields = compose as Record<string, unknown>;
  if (fields["runner"] !== "docker-compose") {
    throw new ReleaseRefusedError(
      `release ${composeHash} has runner ${JSON.stringify(fields["runner"])}; the agent runs only "docker-compose"`,
    );
  }
  const yaml = fields["docker_compose_file"];
  if (typeof yaml !== "string" || yaml.trim() === "") {
    throw new ReleaseRefusedError(`release ${composeHash} has no docker_compose_file`);
  }
  const preLaunch = fields["pre_launch_script"];
  if (typeof preLaunch === "string" && preLaunch.trim() !== "") {
    throw new ReleaseRefusedError(`release ${composeHash} has a pre_launch_script, which the agent does not run`);
  }
  return yaml;
}
