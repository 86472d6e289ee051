/**
 * The app's TLS identity inside the CVM: a {@link Loop} beside the reconciler and the replicator. Once the node holds
 * the app's replicated secret it derives the TLS key (lib/tls/key.ts: the same on every member), writes the key and a
 * certificate into a directory on the CVM's encrypted storage that the app's compose mounts read-only (the app's
 * own TLS server loads them; docs/tls.md says why the agent does not terminate TLS itself), asks dstack for a quote
 * binding the key's SPKI hash, and serves it at `/attestation`. With ACME configured it orders a CA certificate for
 * the same key (the CSR is made here; HTTP-01 is answered at `/.well-known/acme-challenge/<token>`) and renews it
 * once a third of its lifetime is left; without, it keeps a self-signed certificate current.
 *
 * The secret comes in through {@link SecretSource}, a function that returns its bytes once the node has them (today:
 * the replicator's secret file, {@link secretFromFile}), so the loop does not depend on how replication works.
 */
import { readFile } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import path from "node:path";

import type { Logger } from "pino";

import type { DstackGuestApi } from "../../lib/replication/dstack-node.js";
import {
  deriveTlsKey,
  issueCertificate,
  renewalReason,
  selfSignedCertificate,
  tlsAttestation,
  tlsReportData,
} from "../../lib/tls/index.js";
import type { AcmeOptions, ChallengeAnswers, TlsAttestation, TlsKey } from "../../lib/tls/index.js";
import type { Loop } from "./service.js";
import { writeFileAtomic } from "./store.js";

/** Returns the app's replicated secret once this node holds it, undefined before. */
export type SecretSource = () => Promise<Uint8Array | undefined>;

/** The secret as the replicator stores it: a file (mode 0600) that exists once the node holds it. */
export function secretFromFile(file: string): SecretSource {
  return async () => {
    try {
      const bytes = new Uint8Array(await readFile(file));
      return bytes.length > 0 ? bytes : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  };
}

/** The files the app's compose mounts (read-only) from {@link TlsLoopOptions.dir}. */
export const TLS_FILES = { key: "key.pem", fullchain: "fullchain.pem", attestation: "attestation.json" } as const;

export const ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

export interface TlsLoopOptions {
  /** Directory on the CVM's encrypted storage for key.pem and fullchain.pem (mode 0700; key 0600). */
  dir: string;
  /** Names the certificate is for. */
  domains: string[];
  /** ACME, when a CA certificate is wanted; self-signed without. */
  acme?: AcmeOptions | undefined;
  intervalMs: number;
  /** The clock (tests move it to reach a renewal). */
  now?: () => Date;
}

export interface TlsLoopDependencies {
  secret: SecretSource;
  /** `GetQuote` (and `Info`, for the app-compose.json served beside the quote). */
  guest: Pick<DstackGuestApi, "getQuote"> & { appCompose?: () => Promise<string | undefined> };
  logger: Logger;
}

export class TlsLoop implements Loop {
  readonly name = "tls";
  readonly intervalMs: number;
  readonly maxPassMs = 5 * 60_000;
  private key: TlsKey | undefined;
  private attestation: TlsAttestation | undefined;
  private certificatePem: string | undefined;
  private readonly answers: ChallengeAnswers = new Map();
  private lastIssue: { at: string; kind: "self-signed" | "acme"; reason: string } | undefined;

  constructor(
    private readonly options: TlsLoopOptions,
    private readonly deps: TlsLoopDependencies,
  ) {
    this.intervalMs = options.intervalMs;
  }

  async init(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    try {
      this.certificatePem = await readFile(path.join(this.options.dir, TLS_FILES.fullchain), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }

  async pass(): Promise<void> {
    const key = await this.ensureKey();
    if (key === undefined) return;
    if (this.attestation === undefined) {
      const quoted = await this.deps.guest.getQuote(tlsReportData(key.spkiSha256));
      const appCompose = await this.deps.guest.appCompose?.();
      this.attestation = tlsAttestation({
        spkiSha256: key.spkiSha256,
        quote: quoted.quote,
        eventLog: quoted.event_log,
        appCompose,
      });
      await writeFileAtomic(
        path.join(this.options.dir, TLS_FILES.attestation),
        `${JSON.stringify(this.attestation, null, 2)}\n`,
      );
      this.deps.logger.info(
        { event: "tls-attested", spkiSha256: key.spkiSha256 },
        `quoted the app's TLS key ${key.spkiSha256}; served at /attestation`,
      );
    }
    const now = this.options.now?.() ?? new Date();
    const reason = renewalReason(this.certificatePem, key, this.options.domains, now);
    if (reason === undefined) return;
    const acme = this.options.acme;
    const fullchain =
      acme === undefined
        ? await selfSignedCertificate(key, this.options.domains, now)
        : (await issueCertificate(key, acme, this.answers)).fullchainPem;
    await writeFileAtomic(path.join(this.options.dir, TLS_FILES.fullchain), fullchain);
    this.certificatePem = fullchain;
    this.lastIssue = { at: now.toISOString(), kind: acme === undefined ? "self-signed" : "acme", reason };
    this.deps.logger.info(
      { event: "tls-certificate", kind: this.lastIssue.kind, reason, domains: this.options.domains },
      `${acme === undefined ? "made a self-signed" : "obtained a CA"} certificate for ${this.options.domains.join(", ")} ` +
        `with the app's TLS key (${reason})`,
    );
  }

  /** Derives the key once the secret is there and writes it (0600) when the file does not hold it already. */
  private async ensureKey(): Promise<TlsKey | undefined> {
    if (this.key !== undefined) return this.key;
    const secret = await this.deps.secret();
    if (secret === undefined) return undefined;
    const key = deriveTlsKey(secret);
    const file = path.join(this.options.dir, TLS_FILES.key);
    const stored = await readFile(file, "utf8").catch(() => undefined);
    if (stored !== key.privateKeyPem) await writeFileAtomic(file, key.privateKeyPem, { mode: 0o600 });
    this.key = key;
    this.deps.logger.info(
      { event: "tls-key", spkiSha256: key.spkiSha256 },
      `derived the app's TLS key from the replicated secret: ${key.spkiSha256}`,
    );
    return key;
  }

  status(): Record<string, unknown> {
    return {
      spkiSha256: this.key?.spkiSha256 ?? null,
      state: this.key === undefined ? "waiting for the replicated secret" : "serving",
      domains: this.options.domains,
      certificate: this.lastIssue ?? null,
      acme: this.options.acme?.directoryUrl ?? null,
    };
  }

  async serve(requestPath: string): Promise<{ contentType: string; body: string } | undefined> {
    if (requestPath === "/attestation") {
      if (this.attestation === undefined) return undefined;
      return { contentType: "application/json", body: `${JSON.stringify(this.attestation)}\n` };
    }
    if (requestPath.startsWith(ACME_CHALLENGE_PREFIX)) {
      const answer = this.answers.get(requestPath.slice(ACME_CHALLENGE_PREFIX.length));
      return answer === undefined ? undefined : { contentType: "text/plain", body: answer };
    }
    return undefined;
  }
}
