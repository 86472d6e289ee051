/**
 * What went wrong between Hardhat and a network's JSON-RPC endpoint, said in one line that names the network and
 * what to check. The network hook (hooks/network.ts) turns every transport failure of an HTTP network into an
 * {@link RpcEndpointError}; `defineAction` prints it as one line; `openNetwork` adds the chain-id check.
 */
import { STATUS_CODES } from "node:http";

import { HardhatError } from "@nomicfoundation/hardhat-errors";
import type { NetworkConfig } from "hardhat/types/config";

/** Where a network's RPC endpoint is, as far as a message may tell: never the URL's path or query (API keys). */
export interface Endpoint {
  network: string;
  /** What the user sets to change the URL: `BASE_RPC_URL`, or the network's url in hardhat.config.ts. */
  setting: string;
  /** host[:port] of the URL, when it parses. */
  host: string | undefined;
  timeoutMs: number | undefined;
}

/** The endpoint of an HTTP network; undefined for Hardhat's in-process networks. */
export async function endpointOf(networkName: string, config: NetworkConfig): Promise<Endpoint | undefined> {
  if (config.type !== "http") return undefined;
  const url = config.url;
  const setting =
    "name" in url && typeof url.name === "string"
      ? url.name
      : `the url of network "${networkName}" in hardhat.config.ts`;
  let host: string | undefined;
  try {
    host = new URL(await url.get()).host;
  } catch {
    host = undefined;
  }
  return { network: networkName, setting, host, timeoutMs: config.timeout };
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA"]);
const TIMEOUT_CODES = new Set([
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "ETIMEDOUT",
]);
const CONNECTION_CODES = new Set([
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EPIPE",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "EPROTO",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** What a transport failure was, from the error and its causes; undefined when it is not one (e.g. a revert). */
export type TransportFailure =
  | { kind: "dns"; code: string; hostname: string | undefined }
  | { kind: "refused" }
  | { kind: "timeout" }
  | { kind: "http"; status: number }
  | { kind: "not-json-rpc"; answer: string }
  | { kind: "wrong-chain"; expected: number; actual: number }
  | { kind: "connection"; code: string };

export function classifyTransportFailure(error: unknown): TransportFailure | undefined {
  for (const link of causeChain(error)) {
    if (HardhatError.isHardhatError(link, HardhatError.ERRORS.CORE.NETWORK.INVALID_JSON_RESPONSE)) {
      return { kind: "not-json-rpc", answer: String(link.messageArguments.response) };
    }
    if (HardhatError.isHardhatError(link, HardhatError.ERRORS.CORE.NETWORK.INVALID_GLOBAL_CHAIN_ID)) {
      const { configChainId, connectionChainId } = link.messageArguments;
      return { kind: "wrong-chain", expected: Number(configChainId), actual: Number(connectionChainId) };
    }
    if (HardhatError.isHardhatError(link, HardhatError.ERRORS.CORE.NETWORK.CONNECTION_REFUSED)) {
      return { kind: "refused" };
    }
    if (HardhatError.isHardhatError(link, HardhatError.ERRORS.CORE.NETWORK.NETWORK_TIMEOUT)) return { kind: "timeout" };
    const code = propertyOf(link, "code");
    if (typeof code === "string") {
      if (DNS_CODES.has(code)) {
        const hostname = propertyOf(link, "hostname");
        return { kind: "dns", code, hostname: typeof hostname === "string" ? hostname : undefined };
      }
      if (code === "ECONNREFUSED") return { kind: "refused" };
      if (TIMEOUT_CODES.has(code)) return { kind: "timeout" };
      if (CONNECTION_CODES.has(code)) return { kind: "connection", code };
    }
    const status = propertyOf(link, "statusCode");
    if (typeof status === "number" && status >= 400) return { kind: "http", status };
  }
  return undefined;
}

/** The one-line message for a transport failure of `endpoint`. */
export function describeTransportFailure(failure: TransportFailure, endpoint: Endpoint): string {
  const at = endpoint.host === undefined ? "its RPC endpoint" : `its RPC endpoint ${endpoint.host}`;
  const check = `check ${endpoint.setting}`;
  const network = `network "${endpoint.network}"`;
  switch (failure.kind) {
    case "dns":
      return (
        `cannot reach ${network}: the host name ${failure.hostname ?? endpoint.host ?? ""} does not resolve ` +
        `(DNS ${failure.code}); ${check}, and that this machine is online`
      );
    case "refused":
      return `cannot reach ${network}: ${at} refused the connection; ${check} (host and port), and that the node is running`;
    case "timeout": {
      const within = endpoint.timeoutMs === undefined ? "" : ` within ${endpoint.timeoutMs / 1000} s`;
      return `cannot reach ${network}: ${at} did not answer${within}; ${check}, or try another RPC provider`;
    }
    case "http": {
      const status = `HTTP ${failure.status}${STATUS_CODES[failure.status] === undefined ? "" : ` ${STATUS_CODES[failure.status]}`}`;
      const hint =
        failure.status === 401 || failure.status === 403
          ? " (its API key: missing, wrong, or not enabled for this chain)"
          : failure.status === 429
            ? " (its rate limit: wait, or use a plan or provider with a higher one)"
            : ", or try another RPC provider";
      return `cannot use ${network}: ${at} answered ${status}; ${check}${hint}`;
    }
    case "not-json-rpc":
      return (
        `cannot use ${network}: ${at} answered something that is not JSON-RPC (${excerpt(failure.answer)}); ` +
        `${check}: it must be a JSON-RPC endpoint of the chain`
      );
    case "wrong-chain":
      return wrongChainMessage(endpoint, failure.expected, failure.actual);
    case "connection":
      return `cannot reach ${network}: the connection to ${at} failed (${failure.code}); ${check}, and that this machine is online`;
  }
}

export function wrongChainMessage(endpoint: Endpoint, expected: number | bigint, actual: number | bigint): string {
  const at = endpoint.host === undefined ? "its RPC endpoint" : `its RPC endpoint ${endpoint.host}`;
  return (
    `network "${endpoint.network}" is chain ${expected}, but ${at} is chain ${actual}; ` +
    `check ${endpoint.setting}: it must point at the network's own chain`
  );
}

function excerpt(answer: string): string {
  const oneLine = answer.replace(/\s+/g, " ").trim();
  if (oneLine === "") return "an empty answer";
  return JSON.stringify(oneLine.length > 60 ? `${oneLine.slice(0, 60)}…` : oneLine);
}

/** The error, then its causes (bounded: a cause chain can loop). */
export function* causeChain(error: unknown): Generator<unknown> {
  let link = error;
  for (let depth = 0; depth < 10 && link !== undefined && link !== null; depth++) {
    yield link;
    link = propertyOf(link, "cause");
  }
}

function propertyOf(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}
