import { expect } from "chai";
import { AbiCoder, ZeroAddress, hexlify, id, keccak256, randomBytes } from "ethers";

import {
  REPORT_DATA_TAG,
  ReplicationVerificationError,
  TDX_V4_REPORT_DATA_OFFSET,
  checkComposeHash,
  checkQuoteBinding,
  checkReportDataBinding,
  decryptSecret,
  encodeEventLogBytes,
  encryptSecret,
  encryptionKeyPairFromPrivateKey,
  generateEncryptionKeyPair,
  measuredComposeHash,
  parseEventLog,
  replayRtmr,
  replicationReportData,
  reportDataFromQuote,
  runtimeEvent,
  runtimeEventDigest,
  verifyRegistration,
  verifyTdxQuote,
} from "../lib/replication/index.js";
import type { ReplicationErrorCode } from "../lib/replication/index.js";
import { COMPOSE_A, COMPOSE_B, testNode } from "./helpers/replication.js";
import {
  FIXTURE_TIME,
  TDX_V4_RTMR3_OFFSET,
  bootStandIn,
  loadTdxFixture,
  standInQuote,
  standInVerifier,
} from "./helpers/tee-stand-in.js";

const { quote: fixtureQuote, collateral } = await loadTdxFixture();
const A = testNode("A");
const B = testNode("B");
const APP_ID = "0x000000000000000000000000000000000000a11d";

/** Asserts that `fn` throws a ReplicationVerificationError with `code` (and a message matching `message`). */
function expectRejected(fn: () => unknown, code: ReplicationErrorCode, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a ${code} rejection`).to.be.instanceOf(ReplicationVerificationError);
  const error = caught as ReplicationVerificationError;
  expect(error.code).to.equal(code);
  if (message !== undefined) expect(error.message).to.match(message);
}

function flipByte(bytes: Uint8Array, offset: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[offset] = (copy[offset] ?? 0) ^ 0xff;
  return copy;
}

describe("Replication off-chain library", function () {
  describe("verifyTdxQuote (dcap-qvl)", function () {
    it("verifies the real TDX quote with its collateral at 2025-06-25: UpToDate, no advisories", function () {
      const verified = verifyTdxQuote(fixtureQuote, collateral, FIXTURE_TIME);
      expect(verified.tcbStatus).to.equal("UpToDate");
      expect(verified.advisoryIds).to.deep.equal([]);
      expect(hexlify(verified.reportData)).to.equal(
        hexlify(fixtureQuote.subarray(TDX_V4_REPORT_DATA_OFFSET, TDX_V4_REPORT_DATA_OFFSET + 64)),
      );
      expect(hexlify(verified.rtmr3)).to.equal(
        hexlify(fixtureQuote.subarray(TDX_V4_RTMR3_OFFSET, TDX_V4_RTMR3_OFFSET + 48)),
      );
      expect(verified.mrTd).to.have.length(48);
    });

    it("rejects the quote with one byte flipped", function () {
      expectRejected(
        () => verifyTdxQuote(flipByte(fixtureQuote, 700), collateral, FIXTURE_TIME),
        "quote-invalid",
        /QE report hash mismatch/,
      );
    });

    it("rejects the quote with a byte of its report_data flipped (the signature covers it)", function () {
      expectRejected(
        () => verifyTdxQuote(flipByte(fixtureQuote, TDX_V4_REPORT_DATA_OFFSET), collateral, FIXTURE_TIME),
        "quote-invalid",
      );
    });

    it("rejects expired collateral (today's clock) and collateral not yet issued", function () {
      expectRejected(
        () => verifyTdxQuote(fixtureQuote, collateral, Math.floor(Date.now() / 1000)),
        "quote-invalid",
        /TCBInfo expired/,
      );
      expectRejected(
        () => verifyTdxQuote(fixtureQuote, collateral, Date.UTC(2025, 5, 1) / 1000),
        "quote-invalid",
        /issue date is in the future/,
      );
    });

    it("rejects collateral whose TCB info was tampered with", function () {
      const tampered = { ...collateral, tcb_info: collateral.tcb_info.replace('"UpToDate"', '"OutOfDate"') };
      expect(tampered.tcb_info).to.not.equal(collateral.tcb_info);
      expectRejected(() => verifyTdxQuote(fixtureQuote, tampered, FIXTURE_TIME), "quote-invalid", /tcb_info/);
    });

    it("rejects bytes that are not a quote", function () {
      expectRejected(() => verifyTdxQuote(randomBytes(100), collateral, FIXTURE_TIME), "quote-invalid");
    });
  });

  describe("report_data binding", function () {
    it("is keccak256(abi.encode(tag, node, key)) followed by 32 zero bytes", function () {
      const key = hexlify(A.encryption.publicKey);
      const reportData = replicationReportData(A.address, key);
      expect(reportData).to.have.length(64);
      const expected = keccak256(
        AbiCoder.defaultAbiCoder().encode(["string", "address", "bytes"], [REPORT_DATA_TAG, A.address, key]),
      );
      expect(hexlify(reportData.subarray(0, 32))).to.equal(expected);
      expect(reportData.subarray(32).every((byte) => byte === 0)).to.equal(true);
      expect(REPORT_DATA_TAG).to.equal("dstack-devproof/replication/v1");
    });

    it("matches a fixed known answer (also checked against Solidity's abi.encode)", function () {
      expect(
        hexlify(replicationReportData("0x1111111111111111111111111111111111111111", `0x02${"22".repeat(32)}`)),
      ).to.equal("0x65c0bf5aa47dcca17d3cad6eb5a5664dfc246668ca06934770194556ae5819a4" + "00".repeat(32));
    });

    it("accepts report_data that binds the node's address and key", function () {
      checkReportDataBinding(
        replicationReportData(A.address, A.encryption.publicKey),
        A.address,
        A.encryption.publicKey,
      );
      // Addresses are compared as addresses, whatever their case.
      checkReportDataBinding(
        replicationReportData(A.address.toLowerCase(), A.encryption.publicKey),
        A.address,
        A.encryption.publicKey,
      );
    });

    it("rejects report_data made for another node, another key, with a non-zero tail or truncated", function () {
      const good = replicationReportData(A.address, A.encryption.publicKey);
      expectRejected(() => checkReportDataBinding(good, B.address, A.encryption.publicKey), "report-data-mismatch");
      expectRejected(() => checkReportDataBinding(good, A.address, B.encryption.publicKey), "report-data-mismatch");
      expectRejected(
        () => checkReportDataBinding(flipByte(good, 63), A.address, A.encryption.publicKey),
        "report-data-mismatch",
      );
      expectRejected(
        () => checkReportDataBinding(good.subarray(0, 32), A.address, A.encryption.publicKey),
        "report-data-mismatch",
      );
    });

    it("reads report_data from a TDX v4 quote at its fixed offset (568) as dcap-qvl parses it", function () {
      const reportData = replicationReportData(A.address, A.encryption.publicKey);
      const quote = standInQuote(fixtureQuote, reportData);
      expect(hexlify(reportDataFromQuote(quote))).to.equal(hexlify(reportData));
      expect(hexlify(quote.subarray(568, 632))).to.equal(hexlify(reportData));
      checkQuoteBinding(quote, A.address, A.encryption.publicKey);
      expectRejected(() => checkQuoteBinding(quote, B.address, B.encryption.publicKey), "report-data-mismatch");
    });

    it("cannot be patched into a real quote: the patched quote no longer verifies", function () {
      const quote = standInQuote(fixtureQuote, replicationReportData(A.address, A.encryption.publicKey));
      expectRejected(() => verifyTdxQuote(quote, collateral, FIXTURE_TIME), "quote-invalid");
    });

    it("does not match the real fixture quote, whose report_data was made for something else", function () {
      expectRejected(() => checkQuoteBinding(fixtureQuote, A.address, A.encryption.publicKey), "report-data-mismatch");
    });

    it("rejects a quote that cannot be parsed", function () {
      expectRejected(() => reportDataFromQuote("0x0400"), "quote-invalid");
    });
  });

  describe("event log and compose hash", function () {
    const log = [
      { imr: 0, event_type: 1, digest: "00".repeat(48), event: "", event_payload: "" }, // boot-time, not RTMR3
      runtimeEvent("system-preparing", "0x"),
      runtimeEvent("compose-hash", COMPOSE_A),
      runtimeEvent("system-ready", "0x"),
    ];
    const rtmr3 = replayRtmr(log);

    it("computes dstack's runtime event digest: sha384(le32(0x08000001) ‖ ':' ‖ name ‖ ':' ‖ payload)", function () {
      expect(hexlify(runtimeEventDigest("compose-hash", `0x${"ab".repeat(32)}`))).to.equal(
        "0x2851989bdb17f204310f1c0ef0ed4bf8ffbd3ed455af43ce0f438e94356c858b8746a15516c7c0102a58bb71d67f51e2",
      );
    });

    it("replays RTMR3 from 48 zero bytes over the RTMR3 entries only", function () {
      expect(hexlify(replayRtmr([]))).to.equal(`0x${"00".repeat(48)}`);
      expect(hexlify(replayRtmr(log.slice(1)))).to.equal(hexlify(rtmr3));
    });

    it("reads the measured compose hash from a log that replays to the quote's RTMR3", function () {
      expect(measuredComposeHash(JSON.stringify(log), rtmr3)).to.equal(COMPOSE_A);
      expect(measuredComposeHash(encodeEventLogBytes(JSON.stringify(log)), rtmr3)).to.equal(COMPOSE_A);
      checkComposeHash(log, rtmr3, COMPOSE_A);
    });

    it("rejects a claimed compose hash other than the measured one", function () {
      expectRejected(() => checkComposeHash(log, rtmr3, COMPOSE_B), "compose-hash-mismatch");
    });

    it("rejects a log that does not replay to the quote's RTMR3", function () {
      expectRejected(() => measuredComposeHash(log, flipByte(rtmr3, 0)), "rtmr-mismatch");
      expectRejected(() => measuredComposeHash(log.slice(0, 3), rtmr3), "rtmr-mismatch");
    });

    it("rejects an entry whose payload was swapped but whose digest was kept", function () {
      const forged = log.map((entry) =>
        entry.event === "compose-hash" ? { ...entry, event_payload: COMPOSE_B.slice(2) } : entry,
      );
      expectRejected(() => measuredComposeHash(forged, rtmr3), "event-log-invalid", /does not match its payload/);
    });

    it("takes the first compose-hash event: one an app extends later cannot override it", function () {
      const extended = [...log, runtimeEvent("compose-hash", COMPOSE_B)];
      expect(measuredComposeHash(extended, replayRtmr(extended))).to.equal(COMPOSE_A);
    });

    it("rejects a log without a compose-hash event (the real fixture quote's RTMR3 is all zeros)", function () {
      const verified = verifyTdxQuote(fixtureQuote, collateral, FIXTURE_TIME);
      expectRejected(() => measuredComposeHash("[]", verified.rtmr3), "compose-hash-missing");
    });

    it("rejects malformed logs", function () {
      expectRejected(() => parseEventLog("not json"), "event-log-invalid");
      expectRejected(() => parseEventLog("{}"), "event-log-invalid");
      expectRejected(() => parseEventLog([{ imr: 3 }]), "event-log-invalid");
      expectRejected(() => replayRtmr([{ ...runtimeEvent("x", "0x"), digest: "zz" }]), "event-log-invalid");
      expectRejected(() => replayRtmr([{ ...runtimeEvent("x", "0x"), digest: "00" }]), "event-log-invalid");
      const shortPayload = [runtimeEvent("compose-hash", "0x1234")];
      expectRejected(() => measuredComposeHash(shortPayload, replayRtmr(shortPayload)), "event-log-invalid");
    });
  });

  describe("secret encryption (ECIES, eciesjs)", function () {
    it("round-trips a secret to a node's 33-byte compressed key", function () {
      const keys = generateEncryptionKeyPair();
      expect(keys.publicKey).to.have.length(33);
      const secret = randomBytes(32);
      const ciphertext = encryptSecret(keys.publicKey, secret);
      expect(hexlify(decryptSecret(keys.privateKey, ciphertext))).to.equal(hexlify(secret));
    });

    it("uses a fresh ephemeral key each time", function () {
      const keys = generateEncryptionKeyPair();
      const secret = randomBytes(32);
      expect(hexlify(encryptSecret(keys.publicKey, secret))).to.not.equal(
        hexlify(encryptSecret(keys.publicKey, secret)),
      );
    });

    it("derives the same key pair from the same private key", function () {
      const privateKey = id("a key derived in the TEE");
      const a = encryptionKeyPairFromPrivateKey(privateKey);
      const b = encryptionKeyPairFromPrivateKey(privateKey);
      expect(hexlify(a.publicKey)).to.equal(hexlify(b.publicKey));
      expect(hexlify(a.privateKey)).to.equal(privateKey);
    });

    it("cannot be decrypted with another key, nor once altered", function () {
      const keys = generateEncryptionKeyPair();
      const ciphertext = encryptSecret(keys.publicKey, randomBytes(32));
      expect(() => decryptSecret(generateEncryptionKeyPair().privateKey, ciphertext)).to.throw();
      expect(() => decryptSecret(keys.privateKey, flipByte(ciphertext, ciphertext.length - 1))).to.throw();
    });
  });

  describe("verifyRegistration", function () {
    const booted = bootStandIn(fixtureQuote, A, APP_ID, { composeHash: COMPOSE_A });
    const evidence = {
      node: A.address,
      encryptionPublicKey: booted.encryptionPublicKey,
      bootInfo: booted.bootInfo,
      quote: booted.quote,
      eventLog: booted.eventLog,
    };
    const options = { collateral, nowSeconds: FIXTURE_TIME, verifier: standInVerifier };

    it("accepts a node whose quote binds its keys and whose log measures its claimed compose hash", function () {
      const result = verifyRegistration(evidence, options);
      expect(result.measuredComposeHash).to.equal(COMPOSE_A);
      expect(result.quote.tcbStatus).to.equal("UpToDate");
    });

    it("verifies with dcap-qvl by default, which refuses a stand-in quote", function () {
      expectRejected(() => verifyRegistration(evidence, { collateral, nowSeconds: FIXTURE_TIME }), "quote-invalid");
    });

    it("runs DCAP, TCB and advisory checks on the real quote, then refuses its foreign report_data", function () {
      const real = { ...evidence, quote: hexlify(fixtureQuote) };
      const dcap = { collateral, nowSeconds: FIXTURE_TIME };
      expectRejected(
        () => verifyRegistration({ ...real, bootInfo: { ...real.bootInfo, tcbStatus: "OutOfDate" } }, dcap),
        "tcb-status-mismatch",
      );
      expectRejected(
        () => verifyRegistration({ ...real, bootInfo: { ...real.bootInfo, advisoryIds: ["INTEL-SA-00837"] } }, dcap),
        "advisory-ids-mismatch",
      );
      expectRejected(() => verifyRegistration(real, dcap), "report-data-mismatch");
    });

    it("rejects a registration whose key is not the one its quote binds", function () {
      expectRejected(
        () => verifyRegistration({ ...evidence, encryptionPublicKey: hexlify(B.encryption.publicKey) }, options),
        "report-data-mismatch",
      );
      expectRejected(() => verifyRegistration({ ...evidence, node: B.address }, options), "report-data-mismatch");
    });

    it("rejects a node that claims another compose hash than it measured", function () {
      expectRejected(
        () => verifyRegistration({ ...evidence, bootInfo: { ...evidence.bootInfo, composeHash: COMPOSE_B } }, options),
        "compose-hash-mismatch",
      );
    });

    it("rejects a registration without an event log unless told the log is checked elsewhere", function () {
      expectRejected(() => verifyRegistration({ ...evidence, eventLog: "0x" }, options), "event-log-missing");
      const result = verifyRegistration({ ...evidence, eventLog: "0x" }, { ...options, requireEventLog: false });
      expect(result.measuredComposeHash).to.equal(undefined);
    });

    it("rejects an event log from another boot (it does not replay to this quote's RTMR3)", function () {
      const other = bootStandIn(fixtureQuote, B, APP_ID, { composeHash: COMPOSE_A });
      expectRejected(() => verifyRegistration({ ...evidence, eventLog: other.eventLog }, options), "rtmr-mismatch");
    });

    it("does not check the app id, which the registry enforces on-chain against its policy", function () {
      const otherApp = { ...evidence, bootInfo: { ...evidence.bootInfo, appId: ZeroAddress } };
      expect(verifyRegistration(otherApp, options).measuredComposeHash).to.equal(COMPOSE_A);
    });
  });
});
