/**
 * Why a source verification (hardhat-verify's `verifyContract`) failed, in one line, and whether trying again later
 * can help. An explorer that has not indexed a contract deployed seconds ago succeeds a little later; a machine that
 * cannot resolve the explorer's host, or an API key the explorer refuses, never does.
 */
import { HardhatError } from "@nomicfoundation/hardhat-errors";

import { DevproofPluginError } from "./plugin-errors.js";
import { causeChain } from "./rpc.js";

export interface VerificationFailure {
  reason: string;
  /** Whether another attempt after a pause can succeed. */
  retry: boolean;
}

/**
 * hardhat-verify reports a request that never reached the explorer (EXPLORER_REQUEST_FAILED) with the low-level
 * message only ("getaddrinfo ENOTFOUND api.etherscan.io"), not the error: these are its markers.
 */
const UNREACHABLE: Array<[RegExp, (code: string) => string]> = [
  [/\b(ENOTFOUND|EAI_AGAIN|EAI_NONAME|EAI_FAIL)\b/, (code) => `its host name does not resolve (DNS ${code})`],
  [/\b(ECONNREFUSED)\b/, () => "it refused the connection"],
  [/\b(ENETUNREACH|EHOSTUNREACH|ENETDOWN)\b/, (code) => `there is no route to it (${code})`],
  [/\b(ETIMEDOUT)\b|Timeout Error/i, () => "it did not answer (timeout)"],
  [
    /\b(CERT_\w+|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\b/,
    (code) => `its TLS certificate was refused (${code})`,
  ],
];

export function verificationFailure(error: unknown): VerificationFailure {
  for (const link of causeChain(error)) {
    // A failing RPC endpoint, a keystore without a terminal: already one line, and a pause changes nothing.
    if (link instanceof DevproofPluginError) return { reason: link.message, retry: false };
    if (HardhatError.isHardhatError(link, HardhatError.ERRORS.CORE.GENERAL.ENV_VAR_NOT_FOUND)) {
      return { reason: `the configuration variable ${link.messageArguments.name} is not set`, retry: false };
    }
  }
  if (HardhatError.isHardhatError(error, HardhatError.ERRORS.HARDHAT_VERIFY.GENERAL.EXPLORER_REQUEST_FAILED)) {
    const { name, url, errorMessage } = error.messageArguments;
    const host = hostOf(String(url));
    for (const [pattern, what] of UNREACHABLE) {
      const match = pattern.exec(String(errorMessage));
      if (match === null) continue;
      return {
        reason:
          `this machine cannot reach ${name} at ${host}: ${what(match[1] ?? "")}; ` +
          "check its internet connection (and proxy settings)",
        retry: false,
      };
    }
    return { reason: `the request to ${name} at ${host} failed: ${String(errorMessage)}`, retry: true };
  }
  const message = firstLine(error);
  if (/api[\s_-]?key/i.test(message)) {
    return {
      reason: `the explorer refused the API key (${message}): check ETHERSCAN_API_KEY, an Etherscan v2 key (it covers Basescan)`,
      retry: false,
    };
  }
  return { reason: message, retry: true };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n").find((line) => line.trim() !== "") ?? "";
}
