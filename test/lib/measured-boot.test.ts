import { X509Certificate, createHash } from "node:crypto";

import { expect } from "chai";
import { ZeroAddress, concat, getAddress, getBytes, hexlify, id } from "ethers";

import { keyProviderRefusal, kmsKeyProviderPayload, parseKeyProviderPayload } from "../../lib/dstack/index.js";
import { DstackEvidenceError } from "../../lib/dstack/index.js";
import {
  ReplicationVerificationError,
  compareBootInfo,
  measureBoot,
  pckPpid,
  replayRtmr,
  runtimeEvent,
  runtimeEventDigest,
  runtimeEventPreimageV2,
  verifyTdxQuote,
} from "../../lib/replication/index.js";
import type { AppBootInfo, MeasuredBoot, VerifiedTdxQuote } from "../../lib/replication/index.js";
import { loadDstackSimulator } from "../helpers/dstack-attestation.js";
import { ROGUE_KMS, STAND_IN_KMS } from "../helpers/kms-stand-in.js";
import { testNode } from "../helpers/replication.js";
import {
  FIXTURE_TIME,
  bootStandIn,
  customOs,
  loadTdxFixture,
  standInDeviceId,
  standInQuote,
  standInVerified,
} from "../helpers/tee-stand-in.js";

const sha256 = (...parts: Uint8Array[]) =>
  hexlify(
    createHash("sha256")
      .update(getBytes(concat(parts)))
      .digest(),
  );
const APP_ID = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const FOREIGN_APP_ID = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const COMPOSE = id("compose A");

/** A claim that is exactly what was measured. */
function claimOf(measured: MeasuredBoot, appId: string): AppBootInfo {
  return {
    appId,
    composeHash: measured.composeHash!,
    instanceId: getAddress(measured.instanceId!),
    deviceId: measured.deviceId,
    mrAggregated: measured.runtime.mrAggregated,
    mrSystem: measured.runtime.mrSystem,
    osImageHash: measured.osImageHash!,
    tcbStatus: measured.tcbStatus,
    advisoryIds: measured.advisoryIds,
  };
}

describe("lib/replication: a boot, measured as dstack measures it", function () {
  describe("dstack's simulator attestation (a real TDX quote and its event log)", function () {
    let verified: VerifiedTdxQuote;
    let measured: MeasuredBoot;
    let caCertificateKey: string;

    before(async function () {
      const { attestation, appKeys } = await loadDstackSimulator();
      // No collateral exists for this quote offline: its fields are read, its signature is not checked here.
      verified = standInVerified(attestation.quote);
      measured = measureBoot(verified, attestation.eventLog);
      caCertificateKey = hexlify(
        new X509Certificate(appKeys.ca_cert).publicKey.export({ type: "spki", format: "der" }),
      );
    });

    it("replays its RTMR3 and reads the raw payloads: app id and instance id 20 bytes, hashes 32", function () {
      expect(measured.appId).to.equal("0x5bb4ff9a3837357f19dc176407a5709c62eb6c56");
      expect(measured.composeHash).to.equal("0xc143116fef3940e7f776bfc0919c256232ae5338a6e948c96b711e0b2383483a");
      expect(measured.instanceId).to.equal("0x1691ed1b47506cad7d08834668691d88246f5b1f");
      expect(measured.osImageHash).to.equal("0xe61be43dd1cc6a6f5edefd7c51b608983780839b0000ce60dd99737dcffe09b9");
    });

    it("names the KMS by its root CA key: the key of the CA certificate the simulator's KMS issued", function () {
      expect(measured.keyProvider).to.deep.include({ name: "kms", idBytes: caCertificateKey });
      expect(hexlify(kmsKeyProviderPayload(caCertificateKey))).to.equal(measured.keyProviderPayload);
      expect(keyProviderRefusal(measured.keyProvider!, caCertificateKey)).to.equal(undefined);
      expect(keyProviderRefusal(measured.keyProvider!, STAND_IN_KMS.caPublicKey)).to.match(
        /^the key provider is the KMS with CA key 0x3059.*, not the KMS root CA key 0x3059/,
      );
    });

    it("aggregates MRTD, RTMR0-3 and, its MRCONFIGID being set, the three config registers", function () {
      expect(hexlify(verified.mrConfigId)).to.match(/^0x01c143116fef/); // set by the host: 0x01 ‖ compose hash
      const registers = [verified.mrTd, verified.rtmr0, verified.rtmr1, verified.rtmr2];
      const config = [verified.mrConfigId, verified.mrOwner, verified.mrOwnerConfig];
      expect(measured.runtime.mrAggregated).to.equal(sha256(...registers, verified.rtmr3, ...config));
      expect(measured.runtime.mrSystem).to.equal(
        sha256(...registers, getBytes(sha256(getBytes(measured.keyProviderPayload!)))),
      );
    });

    it("also gives what the KMS saw when it released the keys: RTMR3 up to boot-mr-done, no key provider", async function () {
      const { attestation } = await loadDstackSimulator();
      const upToBootMrDone = attestation.eventLog.filter((entry) => entry.imr === 3).slice(0, 5);
      expect(upToBootMrDone.map((entry) => entry.event).at(-1)).to.equal("boot-mr-done");
      const registers = [verified.mrTd, verified.rtmr0, verified.rtmr1, verified.rtmr2];
      const config = [verified.mrConfigId, verified.mrOwner, verified.mrOwnerConfig];
      expect(measured.boot.mrAggregated).to.equal(sha256(...registers, replayRtmr(upToBootMrDone), ...config));
      expect(measured.boot.mrSystem).to.equal(sha256(...registers, new Uint8Array(32)));
      expect(measured.boot.mrAggregated).to.not.equal(measured.runtime.mrAggregated);
    });

    it("derives the device id from the PPID of the quote's PCK certificate", function () {
      expect(verified.ppid.length).to.equal(16);
      expect(measured.deviceId).to.equal(sha256(verified.ppid));
    });

    it("accepts a claim of exactly this, and names each field that differs with both values", function () {
      const claim = claimOf(measured, "0x5bb4ff9a3837357f19dc176407a5709c62eb6c56");
      expect(compareBootInfo(claim, measured)).to.deep.equal([]);
      const refusals = compareBootInfo(
        { ...claim, mrSystem: id("another OS"), deviceId: id("another machine"), instanceId: ZeroAddress },
        measured,
      );
      expect(refusals.map((refusal) => refusal.field)).to.deep.equal(["instanceId", "deviceId", "mrSystem"]);
      expect(refusals[2]!.message).to.equal(
        `mrSystem claimed ${id("another OS")} but the quote measures ${measured.runtime.mrSystem}`,
      );
      const boot = { ...claim, mrAggregated: measured.boot.mrAggregated, mrSystem: measured.boot.mrSystem };
      expect(compareBootInfo(boot, measured, { view: "boot" })).to.deep.equal([]);
      expect(compareBootInfo(boot, measured).map((refusal) => refusal.field)).to.deep.equal([
        "mrAggregated",
        "mrSystem",
      ]);
    });
  });

  describe("the real fixture quote, verified with Intel's collateral", function () {
    it("carries the PPID that dcap-qvl 0.3.9 drops, so the device id is the platform's, not sha256 of nothing", async function () {
      const { quote, collateral } = await loadTdxFixture();
      const verified = verifyTdxQuote(quote, collateral, FIXTURE_TIME);
      expect(verified.ppid.length).to.equal(16);
      expect(hexlify(verified.ppid)).to.equal(hexlify(pckPpid(quote)));
      // When this fails, dcap-qvl reads the PPID itself: use it and drop pckPpid's own reading.
      const { verify } = await import("@phala/dcap-qvl");
      expect(verify(quote, collateral, FIXTURE_TIME).ppid.length).to.equal(0);
      expect(standInDeviceId(quote)).to.not.equal(sha256(new Uint8Array()));
    });
  });

  describe("stand-in nodes: a genuine one, a custom OS, a rogue KMS, a foreign app", function () {
    let template: Uint8Array;
    before(async function () {
      template = (await loadTdxFixture()).quote;
    });

    const node = testNode("measured");
    const genuine = () => bootStandIn(template, node, APP_ID, { composeHash: COMPOSE });

    it("a genuine node's claim is its measurement, in the view dstack's KMS saw at boot", function () {
      const booted = genuine();
      const refusals = compareBootInfo(booted.bootInfo, booted.measurement, {
        view: "boot",
        kmsCaPublicKey: STAND_IN_KMS.caPublicKey,
      });
      expect(refusals).to.deep.equal([]);
      // Held to the runtime view (what Info reports), the same claim differs on both aggregates.
      expect(compareBootInfo(booted.bootInfo, booted.measurement).map((refusal) => refusal.field)).to.deep.equal([
        "mrAggregated",
        "mrSystem",
      ]);
      // A claimed device other than the platform's is refused.
      const device = compareBootInfo({ ...booted.bootInfo, deviceId: id("device 1") }, booted.measurement, {
        view: "boot",
      });
      expect(device.map((refusal) => refusal.field)).to.deep.equal(["deviceId"]);
    });

    it("a node on a custom OS that claims the genuine OS's measurements is refused on both aggregates", function () {
      const honest = genuine();
      const custom = bootStandIn(template, node, APP_ID, { composeHash: COMPOSE, os: customOs("backdoored") });
      expect(custom.measurement.runtime.mrSystem).to.not.equal(honest.measurement.runtime.mrSystem);
      const claim = {
        ...custom.bootInfo,
        deviceId: custom.measurement.deviceId,
        mrSystem: honest.measurement.runtime.mrSystem,
        mrAggregated: honest.measurement.runtime.mrAggregated,
      };
      const refusals = compareBootInfo(claim, custom.measurement);
      expect(refusals.map((refusal) => refusal.message)).to.deep.equal([
        `mrAggregated claimed ${honest.measurement.runtime.mrAggregated} but the quote measures ${custom.measurement.runtime.mrAggregated}`,
        `mrSystem claimed ${honest.measurement.runtime.mrSystem} but the quote measures ${custom.measurement.runtime.mrSystem}`,
      ]);
    });

    it("a node that got its keys from a rogue KMS has another mrSystem and names another key provider", function () {
      const honest = genuine();
      const rogue = bootStandIn(template, node, APP_ID, { composeHash: COMPOSE, kms: ROGUE_KMS });
      expect(rogue.measurement.runtime.mrSystem).to.not.equal(honest.measurement.runtime.mrSystem);
      expect(rogue.measurement.boot.mrSystem).to.equal(honest.measurement.boot.mrSystem);
      const refusals = compareBootInfo(rogue.bootInfo, rogue.measurement, {
        view: "boot",
        kmsCaPublicKey: STAND_IN_KMS.caPublicKey,
      });
      expect(refusals).to.have.length(1);
      expect(refusals[0]).to.deep.include({ field: "keyProvider" });
      expect(refusals[0]!.message).to.contain(`kms ${ROGUE_KMS.caPublicKey}`);

      const local = bootStandIn(template, node, APP_ID, {
        composeHash: COMPOSE,
        keyProviderPayload: new TextEncoder().encode('{"name":"local-sgx","id":"abcd"}'),
      });
      const why = compareBootInfo(local.bootInfo, local.measurement, { kmsCaPublicKey: STAND_IN_KMS.caPublicKey });
      expect(why.at(-1)!.message).to.contain(`the key provider is "local-sgx", not dstack's KMS`);
    });

    it("a foreign app's node that claims this app is refused on the app id", function () {
      const foreign = bootStandIn(template, node, APP_ID, { composeHash: COMPOSE, appId: FOREIGN_APP_ID });
      const refusals = compareBootInfo(foreign.bootInfo, foreign.measurement, { view: "boot" });
      expect(refusals.map((refusal) => refusal.message)).to.deep.equal([
        `appId claimed ${APP_ID} but the quote measures ${FOREIGN_APP_ID.toLowerCase()}`,
      ]);
    });

    it("counts only boot events: an app's own events after system-ready never override them", function () {
      const booted = bootStandIn(template, node, APP_ID, {
        composeHash: COMPOSE,
        appEvents: [
          { event: "app-id", payload: FOREIGN_APP_ID },
          { event: "compose-hash", payload: id("other") },
          { event: "key-provider", payload: kmsKeyProviderPayload(ROGUE_KMS.caPublicKey) },
        ],
      });
      expect(booted.measurement.appId).to.equal(APP_ID.toLowerCase());
      expect(booted.measurement.composeHash).to.equal(COMPOSE);
      expect(booted.measurement.keyProvider?.idBytes).to.equal(STAND_IN_KMS.caPublicKey);
      expect(booted.measurement.runtime.mrAggregated).to.equal(
        sha256(...[standInVerified(booted.quote)].flatMap((q) => [q.mrTd, q.rtmr0, q.rtmr1, q.rtmr2, q.rtmr3])),
      );
    });

    it("names what was not measured, and refuses an event log that does not replay to the quote", function () {
      const booted = genuine();
      const empty = { ...booted.measurement, appId: undefined, osImageHash: undefined, instanceId: "0x" };
      const refusals = compareBootInfo({ ...booted.bootInfo, instanceId: ZeroAddress }, empty);
      expect(refusals.map((refusal) => refusal.message)).to.include.members([
        `appId claimed ${APP_ID} but the quote measures no app-id event`,
        `osImageHash claimed ${booted.bootInfo.osImageHash} but the quote measures no os-image-hash event`,
      ]);
      expect(refusals.map((refusal) => refusal.field)).to.not.include("instanceId");

      const other = [runtimeEvent("app-id", APP_ID)];
      expect(() => measureBoot(standInVerified(booted.quote), other)).to.throw(
        ReplicationVerificationError,
        /replays RTMR3/,
      );
    });
  });

  describe("version-2 event logs (app-compose event_log_version: 2)", function () {
    it("hashes dstack's canonical JSON, as dstack's own test vector spells it", function () {
      expect(runtimeEventPreimageV2("compose-hash", "0xabcd")).to.equal(
        '{"name":"compose-hash","payload":"abcd","type":134217729}',
      );
      expect(hexlify(runtimeEventDigest("compose-hash", "0xabcd", 0x08000001, 2))).to.equal(
        hexlify(createHash("sha384").update('{"name":"compose-hash","payload":"abcd","type":134217729}').digest()),
      );
    });

    it("measures a boot logged in version 2, and refuses its events read as version 1", async function () {
      const template = (await loadTdxFixture()).quote;
      const entries = [
        runtimeEvent("app-id", APP_ID, 2),
        runtimeEvent("compose-hash", COMPOSE, 2),
        runtimeEvent("instance-id", FOREIGN_APP_ID, 2),
        runtimeEvent("boot-mr-done", "0x", 2),
        runtimeEvent("system-ready", "0x", 2),
      ];
      const quote = standInQuote(template, new Uint8Array(64), replayRtmr(entries));
      const measured = measureBoot(standInVerified(quote), JSON.stringify(entries));
      expect(measured.appId).to.equal(APP_ID.toLowerCase());
      expect(measured.composeHash).to.equal(COMPOSE);
      const asV1 = entries.map(({ version: _version, ...entry }) => entry);
      expect(() => measureBoot(standInVerified(quote), asV1)).to.throw(
        ReplicationVerificationError,
        /event 0 \("app-id"\) has a digest that does not match its payload/,
      );
    });
  });

  describe("the key-provider payload", function () {
    it("parses dstack's JSON and refuses anything else", function () {
      expect(parseKeyProviderPayload(new TextEncoder().encode('{"name":"none","id":""}'))).to.deep.equal({
        name: "none",
        id: "",
        idBytes: "0x",
      });
      for (const bad of ["not json", '{"name":"kms"}', '{"name":"kms","id":"xyz"}', "[]"]) {
        expect(() => parseKeyProviderPayload(new TextEncoder().encode(bad)), bad).to.throw(DstackEvidenceError);
      }
      const notAKey = parseKeyProviderPayload(kmsKeyProviderPayload("0x1234"));
      expect(keyProviderRefusal(notAKey, "0x1234")).to.equal(
        "the KMS root CA key 0x1234 is not a DER SubjectPublicKeyInfo",
      );
    });
  });
});
