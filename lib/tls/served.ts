/**
 * What a live app serves: the certificate its TLS server presents, and its `/attestation` document, both read over
 * one TLS connection. The certificate is taken whatever its issuer (a self-signed one is the point of an attested
 * key); whether the system's CAs trust it is reported beside it.
 */
import { request } from "node:https";
import type { TLSSocket } from "node:tls";

import { MAX_ATTESTATION_BYTES } from "./attestation.js";

export const DEFAULT_ATTESTATION_PATH = "/attestation";
export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;

export interface ServedApp {
  url: string;
  /** The leaf certificate the server presented, DER. */
  certificate: Uint8Array;
  /** Whether Node's CA store (and `ca`, when given) trusts the chain for the URL's host name. */
  webPkiTrusted: boolean;
  /** Why not, e.g. `DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`. */
  webPkiError: string | undefined;
  /** HTTP status and body of the attestation path (body capped at {@link MAX_ATTESTATION_BYTES}). */
  attestation: { status: number; body: string };
}

/** The app at `url` could not be read (unreachable, not TLS, too slow, too large). */
export class ServedAppError extends Error {
  override name = "ServedAppError";
}

export interface FetchServedOptions {
  attestationPath?: string;
  timeoutMs?: number;
  /** Extra trusted roots (PEM), e.g. a test CA; only for the WebPKI line, never for the attestation checks. */
  ca?: string | undefined;
  maxBytes?: number;
}

/** Reads the certificate and the attestation document of the https app at `url`. */
export function fetchServed(url: string, options: FetchServedOptions = {}): Promise<ServedApp> {
  const base = new URL(url);
  if (base.protocol !== "https:") return Promise.reject(new ServedAppError(`${url} is not an https:// URL`));
  const target = new URL(options.attestationPath ?? DEFAULT_ATTESTATION_PATH, base);
  const timeoutMs = options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? MAX_ATTESTATION_BYTES;
  return new Promise((resolve, reject) => {
    const fail = (message: string) => reject(new ServedAppError(message));
    const req = request(target, {
      method: "GET",
      agent: false,
      // The certificate is judged by the attestation, not by the CA store: read it whatever its issuer.
      rejectUnauthorized: false,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      timeout: timeoutMs,
      headers: { accept: "application/json" },
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (error: NodeJS.ErrnoException) =>
      fail(`cannot read ${target.href}: ${error.code ?? error.message}`),
    );
    req.on("response", (res) => {
      const socket = res.socket as TLSSocket;
      const peer = socket.getPeerCertificate(false);
      if (peer === null || peer.raw === undefined) {
        res.destroy();
        return fail(`${url} presented no certificate`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          res.destroy();
          return fail(`${target.href} answered more than ${maxBytes} bytes`);
        }
        chunks.push(chunk);
      });
      res.on("error", (error) => fail(`cannot read ${target.href}: ${error.message}`));
      res.on("end", () =>
        resolve({
          url,
          certificate: new Uint8Array(peer.raw),
          webPkiTrusted: socket.authorized,
          webPkiError: socket.authorized ? undefined : String(socket.authorizationError),
          attestation: { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") },
        }),
      );
    });
    req.end();
  });
}
