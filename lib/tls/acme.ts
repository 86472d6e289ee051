/**
 * CA-issued certificates for the app's TLS key through ACME (RFC 8555) with `acme-client`: the CSR is made inside
 * the CVM with the derived key (the CA never sees the private key, so the certificate it signs is for the same key
 * every member holds and the quote binds), HTTP-01 challenges are answered by the guest agent (`challenges` below,
 * served at `/.well-known/acme-challenge/<token>`), and a certificate is renewed once a third of its lifetime is
 * left (Let's Encrypt's advice: 30 of 90 days). Tested against Let's Encrypt's test server, pebble.
 */
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
  const fullchainPem = await client.auto({
    csr,
    ...(options.email === undefined ? {} : { email: options.email }),
    termsOfServiceAgreed: true,
    challengePriority: ["http-01"],
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
      if (challenge.type !== "http-01") throw new Error(`challenge ${challenge.type} is not answered here`);
      answers.set(challenge.token, keyAuthorization);
    },
    challengeRemoveFn: async (_authz, challenge) => {
      answers.delete(challenge.token);
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
