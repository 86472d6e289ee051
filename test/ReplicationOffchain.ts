import { expect } from "chai";
import { AbiCoder, computeAddress, hexlify, id, keccak256, randomBytes } from "ethers";

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
  NODE_KEY_PURPOSE,
  checkKmsRoot,
  checkNodeEvidence,
  checkNodeEvidenceConsistency,
  describeCheckedEvidence,
  describeVerificationFailure,
  verifyNodeEvidence,
  verifyTdxQuote,
} from "../lib/replication/index.js";
import { kmsKeyProviderPayload } from "../lib/dstack/index.js";
import type { ReplicationErrorCode } from "../lib/replication/index.js";
import { COMPOSE_A, COMPOSE_B, testNode } from "./helpers/replication.js";
import { ROGUE_KMS, STAND_IN_KMS } from "./helpers/kms-stand-in.js";
import {
  FIXTURE_DEVICE_ID,
  FIXTURE_TIME,
  TDX_V4_RTMR3_OFFSET,
  bootStandIn,
  customOs,
  loadTdxFixture,
  standInQuote,
  standInVerifier,
} from "./helpers/tee-stand-in.js";

const { quote: fixtureQuote, collateral } = await loadTdxFixture();
const A = testNode("A");
const B = testNode("B");
const APP_ID = "0x000000000000000000000000000000000000a11d";
const FOREIGN_APP_ID = "0x000000000000000000000000000000000000f0e1";

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

  describe("checkNodeEvidence: measured, never claimed", function () {
    const context = {
      appId: APP_ID,
      kms: { k256Pubkey: STAND_IN_KMS.root.compressedPublicKey, caPubkey: STAND_IN_KMS.caPublicKey },
    };
    const evidenceOf = (booted: ReturnType<typeof bootStandIn>) => ({
      node: booted.node.address,
      encryptionPublicKey: booted.encryptionPublicKey,
      bootInfo: booted.bootInfo,
      quote: booted.quote,
      eventLog: booted.eventLog,
      keyChain: booted.keyChain,
    });
    const booted = bootStandIn(fixtureQuote, A, APP_ID, { composeHash: COMPOSE_A });
    const evidence = evidenceOf(booted);
    const check = (e: typeof evidence, c: Parameters<typeof checkNodeEvidence>[2] = context) =>
      checkNodeEvidence(e, standInVerifier(e.quote, collateral, FIXTURE_TIME), c);
    const line = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        if (error instanceof ReplicationVerificationError) return describeVerificationFailure(error);
        throw error;
      }
      return "accepted";
    };

    it("accepts a node whose claim is its measurement, whose key provider and key chain lead to the KMS", function () {
      const checked = check(evidence);
      expect(checked.measured.composeHash).to.equal(COMPOSE_A);
      expect(checked.measured.deviceId).to.equal(FIXTURE_DEVICE_ID);
      expect(checked.keyChain.derivedAddress).to.equal(A.address);
      expect(checked.kmsRoot.address).to.equal(computeAddress(STAND_IN_KMS.root.publicKey));
      // The registry stores what dstack's KMS saw at boot: no key provider in mrSystem, RTMR3 up to boot-mr-done.
      expect(evidence.bootInfo.mrSystem).to.equal(checked.measured.boot.mrSystem);
      expect(evidence.bootInfo.mrAggregated).to.equal(checked.measured.boot.mrAggregated);
      expect(describeCheckedEvidence(checked, APP_ID).map(([label]) => label)).to.deep.equal([
        "report_data",
        "measured",
        "OS",
        "key provider",
        "key chain",
        "TCB",
      ]);
    });

    it("verifies with Intel DCAP through verifyNodeEvidence, which refuses a stand-in quote", async function () {
      let code: string | undefined;
      await verifyNodeEvidence(evidence, {
        ...context,
        verifyQuote: async (quote) => verifyTdxQuote(quote, collateral, FIXTURE_TIME),
      }).catch((error: ReplicationVerificationError) => (code = error.code));
      expect(code).to.equal("quote-invalid");
    });

    it("refuses a key the quote does not bind, naming report_data", function () {
      expect(line(() => check({ ...evidence, encryptionPublicKey: hexlify(B.encryption.publicKey) }))).to.match(
        /^its quote's report_data does not bind its address and registered encryption key: report_data 0x/,
      );
    });

    it("refuses an event log of another boot, and none at all", function () {
      const other = bootStandIn(fixtureQuote, B, APP_ID, { composeHash: COMPOSE_A });
      expect(line(() => check({ ...evidence, eventLog: other.eventLog }))).to.match(
        /^its event log does not replay to its quote's RTMR3: the event log replays RTMR3 to 0x/,
      );
      expect(line(() => check({ ...evidence, eventLog: "0x" }))).to.equal(
        "its registration carries no event log, so its compose hash cannot be checked: the attestation carries no event log",
      );
    });

    it("custom OS: a node on other MRTD/RTMR0-2 that claims the genuine mrSystem is refused on mrSystem", function () {
      const custom = bootStandIn(
        fixtureQuote,
        A,
        APP_ID,
        { composeHash: COMPOSE_A, os: customOs("backdoored") },
        { mrSystem: booted.bootInfo.mrSystem, mrAggregated: booted.bootInfo.mrAggregated },
      );
      expect(line(() => check(evidenceOf(custom)))).to.equal(
        "the boot info it claims is not what its quote and event log measure: " +
          `mrAggregated claimed ${booted.bootInfo.mrAggregated} but the quote measures ${custom.measurement.boot.mrAggregated}; ` +
          `mrSystem claimed ${booted.bootInfo.mrSystem} but the quote measures ${custom.measurement.boot.mrSystem}`,
      );
    });

    it("rogue KMS: a node whose key-provider event names another CA, and whose key chain ends in another root", function () {
      const rogue = bootStandIn(fixtureQuote, A, APP_ID, { composeHash: COMPOSE_A, kms: ROGUE_KMS });
      expect(line(() => check(evidenceOf(rogue)))).to.equal(
        "its key-provider event does not name the KMS's CA key (kmsInfo().caPubkey): the key provider is the KMS with " +
          `CA key ${ROGUE_KMS.caPublicKey}, not the KMS root CA key ${STAND_IN_KMS.caPublicKey}`,
      );
      // Even with the genuine CA named, the keys it holds lead to the rogue root.
      const namesGenuine = bootStandIn(fixtureQuote, A, APP_ID, {
        composeHash: COMPOSE_A,
        kms: ROGUE_KMS,
        keyProviderPayload: kmsKeyProviderPayload(STAND_IN_KMS.caPublicKey),
      });
      expect(line(() => check(evidenceOf(namesGenuine)))).to.match(
        new RegExp(
          "^its key is not one dstack's KMS issued to this app \\(signature chain to kmsInfo\\(\\).k256Pubkey\\): the " +
            `signature chain of 0x[0-9a-f]{66} for app ${APP_ID} and purpose "${NODE_KEY_PURPOSE}" leads to ` +
            `${hexlify(ROGUE_KMS.root.compressedPublicKey)}, not to the KMS root ${hexlify(STAND_IN_KMS.root.compressedPublicKey)}$`,
        ),
      );
    });

    it("a local key provider is refused as not dstack's KMS", function () {
      const local = bootStandIn(fixtureQuote, A, APP_ID, {
        composeHash: COMPOSE_A,
        keyProviderPayload: new TextEncoder().encode('{"name":"local-sgx","id":"abcd"}'),
      });
      expect(line(() => check(evidenceOf(local)))).to.match(/the key provider is "local-sgx", not dstack's KMS$/);
    });

    it("foreign app: a node measured as another app that claims this one is refused on appId", function () {
      const foreign = bootStandIn(fixtureQuote, A, APP_ID, { composeHash: COMPOSE_A, appId: FOREIGN_APP_ID });
      expect(line(() => check(evidenceOf(foreign)))).to.equal(
        "the boot info it claims is not what its quote and event log measure: " +
          `appId claimed ${APP_ID} but the quote measures ${FOREIGN_APP_ID.toLowerCase()}`,
      );
      // Its genuine chain is for its own app: held to this app's id, it leads nowhere.
      const honestForeign = { ...evidenceOf(foreign), bootInfo: { ...foreign.bootInfo, appId: FOREIGN_APP_ID } };
      expect(line(() => check(honestForeign))).to.equal(
        "the boot info it claims is not what its quote and event log measure: " +
          `appId claimed ${FOREIGN_APP_ID} but this registry serves app ${APP_ID}`,
      );
    });

    it("claimed identity: an instance or device other than measured is refused, naming the field", function () {
      const instance = { ...evidence, bootInfo: { ...evidence.bootInfo, instanceId: B.address } };
      expect(line(() => check(instance))).to.equal(
        "the boot info it claims is not what its quote and event log measure: " +
          `instanceId claimed ${B.address} but the quote measures ${booted.measurement.instanceId}`,
      );
      const device = { ...evidence, bootInfo: { ...evidence.bootInfo, deviceId: id("device 1") } };
      expect(line(() => check(device))).to.equal(
        "the boot info it claims is not what its quote and event log measure: " +
          `deviceId claimed ${id("device 1")} but the quote measures ${FIXTURE_DEVICE_ID}`,
      );
    });

    it("a node that claims another compose hash than it measured is refused on the compose hash", function () {
      expect(line(() => check({ ...evidence, bootInfo: { ...evidence.bootInfo, composeHash: COMPOSE_B } }))).to.equal(
        "the compose hash measured into its RTMR3 is not the one it claims: " +
          `composeHash claimed ${COMPOSE_B} but the quote measures ${COMPOSE_A}`,
      );
    });

    it("a key chain for another node's key is refused, as the registry refuses it", function () {
      const chainOfB = bootStandIn(fixtureQuote, B, APP_ID, { composeHash: COMPOSE_A }).keyChain;
      expect(line(() => check({ ...evidence, keyChain: chainOfB }))).to.equal(
        "its key is not one dstack's KMS issued to this app (signature chain to kmsInfo().k256Pubkey): " +
          `the chain is for the key of ${B.address}, not for node ${A.address}`,
      );
    });

    it("TCB: a claimed status or advisories other than the quote's are refused; reported instead for ancestors", function () {
      const outdated = { ...evidence, bootInfo: { ...evidence.bootInfo, tcbStatus: "OutOfDate" } };
      expect(line(() => check(outdated))).to.equal(
        'the TCB status it claims is not the one its quote verifies with: tcbStatus claimed "OutOfDate" but the quote measures "UpToDate"',
      );
      const advisories = { ...evidence, bootInfo: { ...evidence.bootInfo, advisoryIds: ["INTEL-SA-00837"] } };
      expect(line(() => check(advisories))).to.equal(
        "the Intel advisories it claims are not those of its quote: advisoryIds claimed [INTEL-SA-00837] but the quote measures []",
      );
      expect(check(outdated, { ...context, tcb: "report" }).tcbNote).to.equal(
        'tcbStatus claimed "OutOfDate" but the quote measures "UpToDate"',
      );
    });

    it("runs DCAP, TCB and advisory checks on the real quote, then refuses its foreign report_data", function () {
      const real = { ...evidence, quote: hexlify(fixtureQuote) };
      expect(
        line(() => checkNodeEvidence(real, verifyTdxQuote(real.quote, collateral, FIXTURE_TIME), context)),
      ).to.match(/^its quote's report_data does not bind its address/);
    });

    it("refuses a registry whose KMS no longer publishes the root it is bound to", function () {
      expect(checkKmsRoot(computeAddress(STAND_IN_KMS.root.publicKey), context.kms).address).to.equal(
        computeAddress(STAND_IN_KMS.root.publicKey),
      );
      expect(line(() => checkKmsRoot(computeAddress(ROGUE_KMS.root.publicKey), context.kms))).to.match(
        /^the KMS no longer publishes the root this registry is bound to: the registry is bound to the KMS root 0x/,
      );
    });

    it("checks consistency without DCAP for hosts, taking the TCB as claimed", function () {
      expect(checkNodeEvidenceConsistency(evidence, context).measured.composeHash).to.equal(COMPOSE_A);
      expect(line(() => checkNodeEvidenceConsistency({ ...evidence, node: B.address }, context))).to.match(
        /^its quote's report_data does not bind/,
      );
    });
  });
});
