import { createPublicKey, createSign, createVerify } from "node:crypto";

import { expect } from "chai";
import { hexlify } from "ethers";

import {
  TLS_KEY_INFO,
  certificateFacts,
  deriveTlsKey,
  deriveTlsScalar,
  nameMatches,
  quoteBindsTlsKey,
  selfSignedCertificate,
  tlsBinding,
  tlsReportData,
} from "../../lib/tls/index.js";
import { replicationReportData } from "../../lib/replication/index.js";
import { loadTdxFixture, standInQuote } from "../helpers/tee-stand-in.js";

const SECRET = new Uint8Array(32).fill(0x42);
const OTHER_SECRET = new Uint8Array(32).fill(0x43);

describe("TLS key from the replicated secret", function () {
  it("is the same key on every member that holds the secret (a copy of the secret, derived apart)", function () {
    const memberA = deriveTlsKey(Uint8Array.from(SECRET));
    const memberB = deriveTlsKey(Uint8Array.from(SECRET));
    expect(memberA.spkiSha256).to.equal(memberB.spkiSha256);
    expect(memberA.privateKeyPem).to.equal(memberB.privateKeyPem);
    // What one member signs, the other's public key verifies.
    const signature = createSign("sha256").update("hello").sign(memberA.privateKey);
    expect(createVerify("sha256").update("hello").verify(memberB.publicKey, signature)).to.equal(true);
  });

  it("is another key for another secret", function () {
    expect(deriveTlsKey(OTHER_SECRET).spkiSha256).to.not.equal(deriveTlsKey(SECRET).spkiSha256);
  });

  it("matches its known answer, so a change of label, salt or reduction cannot pass unnoticed", function () {
    expect(TLS_KEY_INFO).to.equal("dstack-devproof/tls/v1/p256");
    expect(hexlify(deriveTlsScalar(SECRET))).to.equal(KNOWN_SCALAR);
    expect(deriveTlsKey(SECRET).spkiSha256).to.equal(KNOWN_SPKI_SHA256);
  });

  it("refuses a secret shorter than 32 bytes", function () {
    expect(() => deriveTlsKey(new Uint8Array(31))).to.throw("at least 32");
  });

  it("is a P-256 key whose SPKI hash is the one a certificate for it carries", async function () {
    const key = deriveTlsKey(SECRET);
    expect(createPublicKey(key.privateKey).asymmetricKeyDetails).to.deep.equal({ namedCurve: "prime256v1" });
    const pem = await selfSignedCertificate(key, ["app.example", "www.app.example"], new Date(1_800_000_000_000));
    const facts = certificateFacts(pem);
    expect(facts.spkiSha256).to.equal(key.spkiSha256);
    expect(facts.dnsNames).to.deep.equal(["app.example", "www.app.example"]);
    expect(facts.subject).to.equal("CN=app.example");
    expect(facts.notAfter.getTime() - 1_800_000_000_000).to.equal(90 * 86_400_000);
  });
});

describe("TLS report_data binding", function () {
  const key = deriveTlsKey(SECRET);

  it("binds the key's SPKI hash under its own tag, with 32 zero bytes after", function () {
    const reportData = tlsReportData(key.spkiSha256);
    expect(reportData.length).to.equal(64);
    expect(hexlify(reportData.subarray(32))).to.equal(`0x${"00".repeat(32)}`);
    expect(hexlify(reportData)).to.equal(KNOWN_REPORT_DATA);
    expect(tlsBinding(reportData, key.spkiSha256).bound).to.equal(true);
  });

  it("does not bind another key, or a replication report_data", function () {
    const other = deriveTlsKey(OTHER_SECRET);
    expect(tlsBinding(tlsReportData(other.spkiSha256), key.spkiSha256).bound).to.equal(false);
    const replication = replicationReportData(`0x${"11".repeat(20)}`, key.spkiSha256);
    expect(tlsBinding(replication, key.spkiSha256).bound).to.equal(false);
  });

  it("is read from the quote: a quote with it binds the key, the real fixture quote does not", async function () {
    const { quote } = await loadTdxFixture();
    expect(quoteBindsTlsKey(quote, key.spkiSha256)).to.equal(false);
    expect(quoteBindsTlsKey(standInQuote(quote, tlsReportData(key.spkiSha256)), key.spkiSha256)).to.equal(true);
  });

  it("refuses an SPKI hash that is not 32 bytes", function () {
    expect(() => tlsReportData("0x1234")).to.throw("32 bytes");
  });
});

describe("certificate names", function () {
  it("matches exact names and one-label wildcards only", function () {
    expect(nameMatches("app.example", "APP.example.")).to.equal(true);
    expect(nameMatches("*.app.example", "a.app.example")).to.equal(true);
    expect(nameMatches("*.app.example", "a.b.app.example")).to.equal(false);
    expect(nameMatches("*.app.example", "app.example")).to.equal(false);
  });
});

// Cross-checked outside this code: the scalar with `openssl kdf HKDF` and `bc` (mod n - 1, plus 1), the SPKI hash
// with Python's `cryptography` (derive_private_key on SECP256R1, DER SubjectPublicKeyInfo, sha256).
const KNOWN_SCALAR = "0x063da238c18e90a2c8a5d14393bd845cf5735f1a02be4d236af0d6f61f0ed400";
const KNOWN_SPKI_SHA256 = "0xabfbfd093037ceee112fa1d10faa58daf82e213a77db25f5a7ad6e3a02749893";
const KNOWN_REPORT_DATA = "0xc30a1f4409c60329c53d8d9b4baa55cbfcb51fb4cb3374aa4079b414ac2a6b94" + "00".repeat(32);
