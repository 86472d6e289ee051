/**
 * Fetching a release's app-compose.json from the URI its proposal published: the one implementation that guest agents
 * run (guest/src/appCompose.ts) and that `propose-hash` runs before proposing, so the owner checks exactly what the
 * agents will do. http, https and file URIs, with a size limit and a timeout. Node only (node:fs).
 */
import { open } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { UserError } from "./errors.js";

/** The URI schemes guest agents fetch a compose file from. */
export const FETCHABLE_SCHEMES: readonly string[] = ["http:", "https:", "file:"];

/** Why the bytes at a URI could not be had: not a URL, a scheme agents do not fetch, an HTTP error, a timeout, ... */
export class ComposeFetchError extends UserError {
  override name = "ComposeFetchError";
}

export interface FetchLimits {
  timeoutMs: number;
  maxBytes: number;
}

/** Fetches the bytes at `uri` (http, https or file), refusing more than `maxBytes` and anything slower than the timeout. */
export async function fetchComposeUri(uri: string, limits: FetchLimits): Promise<Uint8Array> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ComposeFetchError(`the compose URI ${JSON.stringify(uri)} is not a URL`);
  }
  switch (url.protocol) {
    case "http:":
    case "https:":
      return fetchHttp(url, limits);
    case "file:":
      return readLocalFile(url, limits);
    default:
      throw new ComposeFetchError(
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
    throw new ComposeFetchError(`could not fetch ${url.href}: ${describeFetchError(error, timeoutMs)}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new ComposeFetchError(`fetching ${url.href} answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new ComposeFetchError(`${url.href} is ${declared} bytes, more than the limit of ${maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body ?? []) {
      total += chunk.length;
      // Leaving the loop by throwing cancels the body's stream.
      if (total > maxBytes) throw new ComposeFetchError(`${url.href} is more than the limit of ${maxBytes} bytes`);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof ComposeFetchError) throw error;
    throw new ComposeFetchError(`could not read ${url.href}: ${describeFetchError(error, timeoutMs)}`);
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
    throw new ComposeFetchError(`could not open ${file}: ${(error as Error).message}`);
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new ComposeFetchError(`${file} is ${size} bytes, more than the limit of ${maxBytes}`);
    // Read one byte more than allowed, in case the file grew since stat.
    const buffer = Buffer.alloc(maxBytes + 1);
    const { bytesRead } = await handle.read(buffer, 0, maxBytes + 1, 0);
    if (bytesRead > maxBytes) throw new ComposeFetchError(`${file} is more than the limit of ${maxBytes} bytes`);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
