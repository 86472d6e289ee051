/**
 * X.509 for the app's TLS key, with `@peculiar/x509` over Node's WebCrypto: the self-signed certificate a member
 * serves before (or instead of) a CA-issued one, and reading the key out of any certificate (served, issued, or
 * logged in certificate transparency).
 */
import { X509Certificate as NodeX509Certificate, randomBytes, webcrypto } from "node:crypto";

import * as x509 from "@peculiar/x509";

import { spkiSha256 } from "./key.js";
import type { TlsKey } from "./key.js";

x509.cryptoProvider.set(webcrypto as never);

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** Validity of a self-signed certificate (renewed by the agent long before it ends). */
export const SELF_SIGNED_VALIDITY_DAYS = 90;

/** The key pair as WebCrypto keys, for signing with @peculiar/x509. */
export async function webCryptoKeys(key: TlsKey): Promise<webcrypto.CryptoKeyPair> {
  const pkcs8 = key.privateKey.export({ type: "pkcs8", format: "der" });
  const privateKey = await webcrypto.subtle.importKey("pkcs8", pkcs8, ECDSA_P256, false, ["sign"]);
  const publicKey = await webcrypto.subtle.importKey("spki", key.spki, ECDSA_P256, true, ["verify"]);
  return { privateKey, publicKey } as webcrypto.CryptoKeyPair;
}

/** A self-signed certificate for `domains` (the first is the subject's CN) with the app's TLS key, as PEM. */
export async function selfSignedCertificate(
  key: TlsKey,
  domains: readonly string[],
  now = new Date(),
  validityDays = SELF_SIGNED_VALIDITY_DAYS,
): Promise<string> {
  if (domains.length === 0) throw new Error("a certificate needs at least one domain name");
  const keys = await webCryptoKeys(key);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    // A positive 16-byte serial: high bit cleared.
    serialNumber: Buffer.from(randomBytes(16).map((byte, i) => (i === 0 ? byte & 0x7f : byte))).toString("hex"),
    name: `CN=${domains[0]}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + validityDays * 86_400_000),
    keys,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(domains.map((value) => ({ type: "dns" as const, value }))),
    ],
  });
  return certificate.toString("pem");
}

/** What a certificate says about the key and names it carries. */
export interface CertificateFacts {
  spkiSha256: string;
  subject: string;
  issuer: string;
  /** DNS names: the subjectAltName's, else the subject's CN. */
  dnsNames: string[];
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  /** sha256 of the DER certificate, `0x`-hex. */
  sha256: string;
}

/** The facts of a DER or PEM certificate. Throws on anything that is not one. */
export function certificateFacts(certificate: Uint8Array | string): CertificateFacts {
  const cert = new x509.X509Certificate(certificate as Uint8Array);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const dnsNames = san?.names.items.filter((name) => name.type === "dns").map((name) => name.value) ?? [];
  const cn = cert.subjectName.getField("CN");
  return {
    spkiSha256: spkiSha256(new Uint8Array(cert.publicKey.rawData)),
    subject: cert.subject,
    issuer: cert.issuer,
    dnsNames: dnsNames.length > 0 ? dnsNames : cn,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serialNumber: cert.serialNumber,
    sha256: `0x${new NodeX509Certificate(Buffer.from(cert.rawData)).fingerprint256.replaceAll(":", "").toLowerCase()}`,
  };
}

/** The certificates of a PEM bundle (leaf first, as a server sends its chain), each as PEM. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Whether `name` (a DNS name) is covered by `pattern` (a name, or a `*.` wildcard for one label). */
export function nameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, "");
  const n = name.toLowerCase().replace(/\.$/, "");
  if (p === n) return true;
  if (!p.startsWith("*.")) return false;
  const rest = n.slice(n.indexOf(".") + 1);
  return n.includes(".") && rest === p.slice(2);
}
