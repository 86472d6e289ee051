/**
 * CA-issued certificates for the app's TLS key through ACME (RFC 8555) with `acme-client`: the CSR is made inside
 * the CVM with the derived key (the CA never sees the private key, so the certificate it signs is for the same key
 * every member holds and the quote binds), HTTP-01 challenges are answered by the guest agent (`challenges` below,
 * served at `/.well-known/acme-challenge/<token>`) or DNS-01 challenges through a hook command the operator provides
 * (it sets and clears the TXT record at the domain's DNS provider), and a certificate is renewed once a third of its
 * lifetime is left (Let's Encrypt's advice: 30 of 90 days). Tested against Let's Encrypt's test server, pebble.
 */
import { execFile } from "node:child_process";
import { Agent } from "node:https";

import * as acme from "acme-client";

import { certificateFacts, nameMatches, splitPem } from "./certificate.js";
import type { TlsKey } from "./key.js";

export interface AcmeOptions {
  /** The ACME directory, e.g. https://acme-v02.api.letsencrypt.org/directory. */
  directoryUrl: string;
  /** The names to certify; the first is the subject's CN. */
  domains: string[];
  /** Contact for the CA's notices (optional). */
  email?: string | undefined;
  /** The ACME account key (PEM); one is made when absent, and returned so the caller can keep it. */
  accountKeyPem?: string | undefined;
  /** Extra roots to trust for the directory's own HTTPS (a test CA such as pebble's). */
  directoryCa?: string | undefined;
  /**
   * The port acme-client checks its own HTTP-01 answer on before asking the CA (80 in production, as the CA uses).
   */
  challengePort?: number | undefined;
  /** The challenge to answer: "http-01" (the default, answered by the agent) or "dns-01" (through `dnsHook`). */
  challenge?: "http-01" | "dns-01" | undefined;
  /**
   * For DNS-01: an executable run as `<hook> present <record name> <value>` before the CA checks, and
   * `<hook> cleanup <record name> <value>` after (the record name is `_acme-challenge.<domain>.`), the convention of
   * lego's exec provider. It must exit 0 once the DNS provider serves the TXT record, non-zero when it cannot.
   */
  dnsHook?: string | undefined;
  /** How long one run of the hook may take; default {@link DNS_HOOK_TIMEOUT_MS}. */
  dnsHookTimeoutMs?: number | undefined;
}

/** A DNS provider's API plus its propagation can take a while; longer than this is a hook that hangs. */
export const DNS_HOOK_TIMEOUT_MS = 300_000;

/** The TXT record a DNS-01 challenge for `domain` is answered at (RFC 8555 §8.4), wildcards at their base name. */
export function dnsChallengeRecord(domain: string): string {
  return `_acme-challenge.${domain.replace(/^\*\./, "").replace(/\.$/, "")}.`;
}

/** Runs the DNS hook; throws with its exit and the first line it wrote to stderr when it fails. */
export async function runDnsHook(
  hook: string,
  action: "present" | "cleanup",
  record: string,
  value: string,
  timeoutMs = DNS_HOOK_TIMEOUT_MS,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile(hook, [action, record, value], { timeout: timeoutMs, maxBuffer: 64 * 1024 }, (error, _stdout, stderr) => {
      if (error === null) return resolve();
      const said = String(stderr).trim().split("\n")[0]?.slice(0, 300);
      const how =
        error.killed === true
          ? `did not finish within ${timeoutMs} ms`
          : typeof error.code === "number"
            ? `exited with ${error.code}`
            : `could not run (${error.message})`;
      reject(new Error(`the DNS hook ${hook} ${action} ${record} ${how}${said ? `: ${said}` : ""}`));
    });
  });
}

/** The HTTP-01 answers the agent serves: token → key authorization. */
export type ChallengeAnswers = Map<string, string>;

/** An issued certificate: the chain as PEM, leaf first. */
export interface IssuedCertificate {
  fullchainPem: string;
  accountKeyPem: string;
}

/** Orders a certificate for `key` and `options.domains`, answering HTTP-01 through `answers`. */
export async function issueCertificate(
  key: TlsKey,
  options: AcmeOptions,
  answers: ChallengeAnswers,
): Promise<IssuedCertificate> {
  if (options.domains.length === 0) throw new Error("ACME needs at least one domain name");
  if (options.directoryCa !== undefined) {
    acme.axios.defaults.httpsAgent = new Agent({ ca: options.directoryCa });
  }
  if (options.challengePort !== undefined) {
    (acme.axios.defaults as unknown as { acmeSettings: { httpChallengePort: number } }).acmeSettings.httpChallengePort =
      options.challengePort;
  }
  const accountKeyPem = options.accountKeyPem ?? (await acme.crypto.createPrivateEcdsaKey()).toString();
  const client = new acme.Client({ directoryUrl: options.directoryUrl, accountKey: accountKeyPem });
  const [, csr] = await acme.crypto.createCsr(
    { commonName: options.domains[0]!, altNames: options.domains },
    key.privateKeyPem,
  );
  const challenge = options.challenge ?? "http-01";
  const hook = options.dnsHook;
  if (challenge === "dns-01" && hook === undefined) throw new Error("DNS-01 needs a DNS hook command");
  const fullchainPem = await client.auto({
    csr,
    ...(options.email === undefined ? {} : { email: options.email }),
    termsOfServiceAgreed: true,
    challengePriority: [challenge],
    // For DNS-01 the hook vouches that the record is served (the CVM's own resolver may cache an old answer).
    skipChallengeVerification: challenge === "dns-01",
    challengeCreateFn: async (authz, ch, keyAuthorization) => {
      if (ch.type !== challenge) throw new Error(`challenge ${ch.type} is not answered here`);
      if (ch.type === "http-01") answers.set(ch.token, keyAuthorization);
      else
        await runDnsHook(
          hook!,
          "present",
          dnsChallengeRecord(authz.identifier.value),
          keyAuthorization,
          options.dnsHookTimeoutMs,
        );
    },
    challengeRemoveFn: async (authz, ch, keyAuthorization) => {
      if (ch.type === "http-01") answers.delete(ch.token);
      else
        await runDnsHook(
          hook!,
          "cleanup",
          dnsChallengeRecord(authz.identifier.value),
          keyAuthorization,
          options.dnsHookTimeoutMs,
        );
    },
  });
  const leaf = splitPem(fullchainPem)[0];
  if (leaf === undefined) throw new Error("the CA returned no certificate");
  if (certificateFacts(leaf).spkiSha256 !== key.spkiSha256) {
    throw new Error("the CA returned a certificate for another key than the CSR's");
  }
  return { fullchainPem, accountKeyPem };
}

/**
 * Why a certificate must be (re)issued for `key` and `domains` at `now`, or undefined when it can stay: none yet,
 * another key, a name it does not cover, or less than a third of its lifetime left.
 */
export function renewalReason(
  certificatePem: string | undefined,
  key: TlsKey,
  domains: readonly string[],
  now: Date,
): string | undefined {
  const leaf = certificatePem === undefined ? undefined : splitPem(certificatePem)[0];
  if (leaf === undefined) return "no certificate yet";
  let facts;
  try {
    facts = certificateFacts(leaf);
  } catch {
    return "the stored certificate cannot be parsed";
  }
  if (facts.spkiSha256 !== key.spkiSha256) return "the certificate is for another key";
  const missing = domains.find((domain) => !facts.dnsNames.some((name) => nameMatches(name, domain)));
  if (missing !== undefined) return `the certificate does not cover ${missing}`;
  const lifetime = facts.notAfter.getTime() - facts.notBefore.getTime();
  const left = facts.notAfter.getTime() - now.getTime();
  if (left < lifetime / 3) return `a third of its lifetime is left (expires ${facts.notAfter.toISOString()})`;
  return undefined;
}
