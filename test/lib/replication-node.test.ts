import { createHash } from "node:crypto";

import { expect } from "chai";
import { Wallet, ZeroHash, concat, getBytes, hexlify, id } from "ethers";

import { UserError } from "../../lib/errors.js";
import {
  ReplicationVerificationError,
  bootFactsFromInfo,
  buildNodeRegistration,
  dstackGuestApi,
  dstackMrSystem,
  encodeOnboardingFile,
  encodeRegistrationFile,
  nodeKeyPath,
  parseOnboardingFile,
  parseRegistrationFile,
  parseRefreshFile,
  encodeRefreshFile,
  NODE_KEY_PURPOSE,
  buildRefresh,
  checkNodeEvidence,
  registryDomain,
  runtimeEvent,
} from "../../lib/replication/index.js";
import type { DstackGuestApi, SignedNodeRegistration, VerifiedTdxQuote } from "../../lib/replication/index.js";
import { STAND_IN_KMS, ROGUE_KMS } from "../helpers/kms-stand-in.js";
import { startDstackGuestApi } from "../helpers/dstack-guest-api.js";
import type { DstackGuestApiStandIn } from "../helpers/dstack-guest-api.js";
import { COMPOSE_A, DEVICE_1 } from "../helpers/replication.js";
import { FIXTURE_DEVICE_ID, FIXTURE_TIME, loadTdxFixture, standInVerifier } from "../helpers/tee-stand-in.js";

const APP_ID = "0x000000000000000000000000000000000000a11d";
const REGISTRY = "0x00000000000000000000000000000000000be5e7";
const { collateral } = await loadTdxFixture();

const verifyQuote = async (quote: Uint8Array): Promise<VerifiedTdxQuote> =>
  standInVerifier(quote, collateral, FIXTURE_TIME);
/** What members hold a node of app APP_ID to: the stand-in KMS's keys, as `kmsInfo()` publishes them. */
const context = {
  appId: APP_ID,
  kms: { k256Pubkey: STAND_IN_KMS.root.compressedPublicKey, caPubkey: STAND_IN_KMS.caPublicKey },
};

function expectThrows(fn: () => unknown, type: new (...args: never[]) => Error, message: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).to.be.instanceOf(type);
  if (typeof message === "string") expect((caught as Error).message).to.equal(message);
  else expect((caught as Error).message).to.match(message);
}

describe("lib/replication: a node's registration through the dstack guest API", function () {
  let cvm: DstackGuestApiStandIn;
  beforeEach(async function () {
    cvm = await startDstackGuestApi({
      appId: APP_ID,
      instanceId: Wallet.createRandom().address,
      composeHash: COMPOSE_A,
      deviceId: DEVICE_1,
    });
  });
  afterEach(async function () {
    await cvm.close();
  });

  it("builds a registration that a member's verification accepts, with the boot info its quote measures", async function () {
    const built = await buildNodeRegistration({
      guest: dstackGuestApi(cvm.endpoint),
      chainId: 31337n,
      registry: REGISTRY,
      verifyQuote,
      context,
    });
    const { registration, keyChain } = built.signed;
    expect(registration.node).to.equal(built.keys.address);
    // Info claims device 1; the quote measures the platform's: the registration carries the measurement.
    expect(registration.bootInfo).to.include({
      appId: APP_ID,
      composeHash: COMPOSE_A,
      instanceId: cvm.cvm.instanceId,
      deviceId: FIXTURE_DEVICE_ID,
      mrSystem: built.checked.measured.boot.mrSystem,
      mrAggregated: built.checked.measured.boot.mrAggregated,
      tcbStatus: "UpToDate",
    });
    // dstack's chain for the node's key, requested with the protocol's purpose.
    expect(cvm.requests.filter((r) => r.method === "GetKey").map((r) => r.body["purpose"])).to.include(
      NODE_KEY_PURPOSE,
    );
    expect(keyChain.appPublicKey).to.equal(cvm.appKey.compressedPublicKey);
    const checked = checkNodeEvidence(
      { ...registration, keyChain },
      standInVerifier(registration.quote, collateral, FIXTURE_TIME),
      context,
    );
    expect(checked.measured.composeHash).to.equal(COMPOSE_A);
    // Only RTMR3 entries are published: the boot-time entry of the stand-in's log is left out.
    const published = JSON.parse(new TextDecoder().decode(getBytes(registration.eventLog))) as Array<{ imr: number }>;
    expect(published.every((entry) => entry.imr === 3)).to.equal(true);
  });

  it("derives the same keys again in the same CVM, and other keys for another registry", async function () {
    const guest = dstackGuestApi(cvm.endpoint);
    const options = { guest, chainId: 31337n, verifyQuote, context };
    const first = await buildNodeRegistration({ ...options, registry: REGISTRY });
    const again = await buildNodeRegistration({ ...options, registry: REGISTRY });
    const elsewhere = await buildNodeRegistration({ ...options, registry: Wallet.createRandom().address });
    expect(again.keys.address).to.equal(first.keys.address);
    expect(hexlify(again.keys.encryption.publicKey)).to.equal(hexlify(first.keys.encryption.publicKey));
    expect(elsewhere.keys.address).to.not.equal(first.keys.address);
    expect(first.keys.paths.ethereum).to.equal(
      `dstack-devproof/replication/v1/${REGISTRY}/${cvm.cvm.instanceId.toLowerCase()}/${COMPOSE_A}/ethereum`,
    );
    expect(nodeKeyPath(REGISTRY, { instanceId: cvm.cvm.instanceId, composeHash: COMPOSE_A }, "encryption")).to.equal(
      first.keys.paths.encryption,
    );
  });

  it("refuses to sign when its own quote would be refused: a guest that quotes other report_data", async function () {
    const real = dstackGuestApi(cvm.endpoint);
    const lying: DstackGuestApi = {
      info: () => real.info(),
      getKey: (path, purpose) => real.getKey(path, purpose),
      getQuote: () => real.getQuote(new Uint8Array(64).fill(1)),
    };
    let caught: unknown;
    try {
      await buildNodeRegistration({ guest: lying, chainId: 31337n, registry: REGISTRY, verifyQuote, context });
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(ReplicationVerificationError);
    expect((caught as ReplicationVerificationError).code).to.equal("report-data-mismatch");
  });

  it("refuses to sign in a CVM whose keys came from a KMS other than the registry's", async function () {
    const rogue = await startDstackGuestApi({
      appId: APP_ID,
      instanceId: Wallet.createRandom().address,
      kms: ROGUE_KMS,
    });
    let caught: unknown;
    try {
      await buildNodeRegistration({
        guest: dstackGuestApi(rogue.endpoint),
        chainId: 31337n,
        registry: REGISTRY,
        verifyQuote,
        context,
      });
    } catch (error) {
      caught = error;
    } finally {
      await rogue.close();
    }
    expect((caught as ReplicationVerificationError).code).to.equal("key-provider-mismatch");
  });

  it("refuses a GetKey answer without a signature chain: no registry could accept its key", async function () {
    const real = dstackGuestApi(cvm.endpoint);
    const chainless: DstackGuestApi = {
      info: () => real.info(),
      getKey: async (path, purpose) => ({ ...(await real.getKey(path, purpose)), signature_chain: [] }),
      getQuote: (reportData) => real.getQuote(reportData),
    };
    let caught: unknown;
    try {
      await buildNodeRegistration({ guest: chainless, chainId: 31337n, registry: REGISTRY, verifyQuote, context });
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(UserError);
    expect((caught as Error).message).to.match(/^GetKey gave the node key without a usable signature chain/);
  });

  it("builds a refresh: a fresh quote over the same keys, the same measured boot, the TCB of the new quote", async function () {
    const guest = dstackGuestApi(cvm.endpoint);
    const built = await buildNodeRegistration({ guest, chainId: 31337n, registry: REGISTRY, verifyQuote, context });
    const stored = built.signed.registration.bootInfo;
    const outdated = async (quote: Uint8Array) => ({ ...(await verifyQuote(quote)), tcbStatus: "OutOfDate" });
    const refresh = await buildRefresh({
      guest,
      chainId: 31337n,
      registry: REGISTRY,
      keys: built.keys,
      stored,
      nonce: 3n,
      verifyQuote: outdated,
      context,
    });
    expect(refresh.bootInfo).to.deep.equal({ ...stored, tcbStatus: "OutOfDate" });
    expect(refresh.signed.refresh).to.include({ node: built.keys.address, nonce: 3n, tcbStatus: "OutOfDate" });
    // A refresh never reports another boot: stored boot info that the new quote does not measure is refused.
    let caught: unknown;
    try {
      await buildRefresh({
        guest,
        chainId: 31337n,
        registry: REGISTRY,
        keys: built.keys,
        stored: { ...stored, composeHash: id("another release") },
        nonce: 3n,
        verifyQuote,
        context,
      });
    } catch (error) {
      caught = error;
    }
    expect((caught as ReplicationVerificationError).code).to.equal("compose-hash-mismatch");
    expect(parseRefreshFile(encodeRefreshFile(refresh.signed), "refresh.json")).to.deep.equal(refresh.signed);
  });
});

describe("lib/replication: boot facts from Info", function () {
  const info = {
    app_id: APP_ID.slice(2),
    instance_id: "0x" + "22".repeat(20),
    compose_hash: COMPOSE_A.slice(2).toUpperCase(),
    device_id: DEVICE_1.slice(2),
  };

  it("accepts hex with or without 0x, and reads older agents' hashes from tcb_info or leaves them zero", function () {
    const facts = bootFactsFromInfo({ ...info, tcb_info: JSON.stringify({ mr_aggregated: "ab".repeat(32) }) });
    expect(facts.composeHash).to.equal(COMPOSE_A);
    expect(facts.mrAggregated).to.equal(`0x${"ab".repeat(32)}`);
    expect(facts.osImageHash).to.equal(ZeroHash);
    expect(facts.instanceId).to.equal(`0x${"22".repeat(20)}`);
  });

  it("names the field that is malformed", function () {
    expectThrows(
      () => bootFactsFromInfo({ ...info, device_id: "1234" }),
      UserError,
      'the dstack guest API gave device_id "1234"; expected 32 bytes of hex',
    );
  });
});

describe("lib/replication: dstack's mrSystem", function () {
  it("hashes MRTD, RTMR0-2 and the key provider's hash (zeros without one)", function () {
    const verified = {
      mrTd: new Uint8Array(48).fill(1),
      rtmr0: new Uint8Array(48).fill(2),
      rtmr1: new Uint8Array(48).fill(3),
      rtmr2: new Uint8Array(48).fill(4),
    } as VerifiedTdxQuote;
    const sha256 = (bytes: Uint8Array) => `0x${createHash("sha256").update(bytes).digest("hex")}`;
    const base = concat([verified.mrTd, verified.rtmr0, verified.rtmr1, verified.rtmr2]);
    expect(dstackMrSystem(verified, [])).to.equal(sha256(getBytes(concat([base, ZeroHash]))));
    const provider = runtimeEvent("key-provider", id("kms"));
    expect(dstackMrSystem(verified, [provider])).to.equal(
      sha256(getBytes(concat([base, sha256(getBytes(id("kms")))]))),
    );
  });
});

describe("lib/replication: registration and onboarding files", function () {
  const node = new Wallet(id("file node"));
  const signed: SignedNodeRegistration = {
    chainId: 8453n,
    registry: REGISTRY,
    registration: {
      node: node.address,
      encryptionPublicKey: `0x02${"33".repeat(32)}`,
      bootInfo: {
        appId: APP_ID,
        composeHash: COMPOSE_A,
        instanceId: `0x${"22".repeat(20)}`,
        deviceId: DEVICE_1,
        mrAggregated: id("a"),
        mrSystem: id("s"),
        osImageHash: id("o"),
        tcbStatus: "UpToDate",
        advisoryIds: ["INTEL-SA-00837"],
      },
      quote: "0x0400",
      eventLog: hexlify(new TextEncoder().encode('[{"imr":3}]')),
    },
    keyChain: {
      derivedPublicKey: `0x02${"44".repeat(32)}`,
      appPublicKey: `0x03${"55".repeat(32)}`,
      appSignature: `0x${"66".repeat(65)}`,
      kmsSignature: `0x${"77".repeat(65)}`,
    },
    signature: `0x${"11".repeat(65)}`,
  };

  it("round-trips a registration, keeping the event log's exact text", function () {
    const text = encodeRegistrationFile(signed);
    expect((JSON.parse(text) as { eventLog: string }).eventLog).to.equal('[{"imr":3}]');
    expect(parseRegistrationFile(text, "r.json")).to.deep.equal(signed);
  });

  it("round-trips an onboarding", function () {
    const onboarding = {
      chainId: 1n,
      registry: REGISTRY,
      member: node.address,
      onboarding: { node: node.address, quoteHash: id("q"), ciphertext: "0xabcd" },
      signature: `0x${"22".repeat(65)}`,
    };
    expect(parseOnboardingFile(encodeOnboardingFile(onboarding), "o.json")).to.deep.equal(onboarding);
  });

  it("refuses another version, a bad chain id, a short signature and a bad checksum, naming the field", function () {
    const file = JSON.parse(encodeRegistrationFile(signed)) as Record<string, unknown>;
    const parse = (changes: Record<string, unknown>) => () =>
      parseRegistrationFile(JSON.stringify({ ...file, ...changes }), "r.json");
    expectThrows(parse({ version: 1 }), UserError, "r.json: version 1 is not supported (expected 2)");
    expectThrows(parse({ chainId: 8453 }), UserError, 'r.json: field "chainId" must be a string');
    expectThrows(
      parse({ chainId: "0x1" }),
      UserError,
      'r.json: field "chainId" must be a chain id as a decimal string',
    );
    expectThrows(parse({ signature: "0x1234" }), UserError, 'r.json: field "signature" must be 0x + 130 hex digits');
    expectThrows(
      parse({ node: node.address.toLowerCase().replace("0x", "0X") }),
      UserError,
      /^r\.json: field "node" must be an address/,
    );
    expectThrows(
      parse({ bootInfo: { ...(file["bootInfo"] as object), advisoryIds: [1] } }),
      UserError,
      'r.json: field "bootInfo.advisoryIds" must be an array of strings',
    );
    expectThrows(
      parse({ keyChain: { ...(file["keyChain"] as object), kmsSignature: "0x12" } }),
      UserError,
      'r.json: field "keyChain.kmsSignature" must be 0x + 130 hex digits',
    );
    expectThrows(parse({ keyChain: undefined }), UserError, 'r.json: field "keyChain" must be an object');
  });
});
