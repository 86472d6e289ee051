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
  registryDomain,
  runtimeEvent,
  verifyRegistration,
} from "../../lib/replication/index.js";
import type { DstackGuestApi, SignedNodeRegistration, VerifiedTdxQuote } from "../../lib/replication/index.js";
import { startDstackGuestApi } from "../helpers/dstack-guest-api.js";
import type { DstackGuestApiStandIn } from "../helpers/dstack-guest-api.js";
import { COMPOSE_A, DEVICE_1 } from "../helpers/replication.js";
import { FIXTURE_TIME, loadTdxFixture, standInVerifier } from "../helpers/tee-stand-in.js";

const APP_ID = "0x000000000000000000000000000000000000a11d";
const REGISTRY = "0x00000000000000000000000000000000000be5e7";
const { collateral } = await loadTdxFixture();

const verifyQuote = async (quote: Uint8Array): Promise<VerifiedTdxQuote> =>
  standInVerifier(quote, collateral, FIXTURE_TIME);

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

  it("builds a registration that a member's verification accepts, with the boot facts of Info", async function () {
    const built = await buildNodeRegistration({
      guest: dstackGuestApi(cvm.endpoint),
      chainId: 31337n,
      registry: REGISTRY,
      verifyQuote,
    });
    const { registration } = built.signed;
    expect(registration.node).to.equal(built.keys.address);
    expect(registration.bootInfo).to.include({
      appId: APP_ID,
      composeHash: COMPOSE_A,
      instanceId: cvm.cvm.instanceId,
      deviceId: DEVICE_1,
      tcbStatus: "UpToDate",
    });
    const verified = verifyRegistration(registration, {
      collateral,
      nowSeconds: FIXTURE_TIME,
      verifier: standInVerifier,
    });
    expect(verified.measuredComposeHash).to.equal(COMPOSE_A);
    // Only RTMR3 entries are published: the boot-time entry of the stand-in's log is left out.
    const published = JSON.parse(new TextDecoder().decode(getBytes(registration.eventLog))) as Array<{ imr: number }>;
    expect(published.every((entry) => entry.imr === 3)).to.equal(true);
  });

  it("derives the same keys again in the same CVM, and other keys for another registry", async function () {
    const guest = dstackGuestApi(cvm.endpoint);
    const options = { guest, chainId: 31337n, verifyQuote };
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
      await buildNodeRegistration({ guest: lying, chainId: 31337n, registry: REGISTRY, verifyQuote });
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(ReplicationVerificationError);
    expect((caught as ReplicationVerificationError).code).to.equal("report-data-mismatch");
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
    expectThrows(parse({ version: 2 }), UserError, "r.json: version 2 is not supported (expected 1)");
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
  });
});
