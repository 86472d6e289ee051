/**
 * Getting a release's app-compose.json and turning it into what `docker compose` runs.
 *
 * The bytes are fetched from the URI the contract gives (http, https or file), with a size limit and a timeout, and
 * are used only if `sha256(bytes)` equals the on-chain compose hash — the same value dstack measures into RTMR3 for
 * these bytes. dstack's app-compose.json carries the docker-compose YAML as a string in `docker_compose_file`; the
 * agent writes that string, unchanged, to `docker-compose.yml` next to the verified app-compose.json and gives that
 * file to `docker compose -f`.
 */
import { sha256Hex } from "../../lib/composeHash.js";
import { ComposeFetchError, fetchComposeUri, type FetchLimits } from "../../lib/composeUri.js";
import { UserError } from "../../lib/errors.js";

export type { FetchLimits };

/** A release the agent will not run, with the reason in words. Retried later: the URI's content may be fixed. */
export class ReleaseRefusedError extends UserError {
  override name = "ReleaseRefusedError";
}

/**
 * Fetches the bytes at `uri` (http, https or file), refusing more than `maxBytes` and anything slower than the
 * timeout (lib/composeUri.ts; `propose-hash` checks a URI with the same code).
 */
export async function fetchComposeBytes(uri: string, limits: FetchLimits): Promise<Uint8Array> {
  try {
    return await fetchComposeUri(uri, limits);
  } catch (error) {
    if (error instanceof ComposeFetchError) throw new ReleaseRefusedError(error.message);
    throw error;
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
