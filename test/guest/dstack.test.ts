import { DstackClient } from "@phala/dstack-sdk";
import { expect } from "chai";
import { computeAddress, concat, getBytes, hexlify, keccak256, Signature, SigningKey, toUtf8Bytes } from "ethers";

import { readDstackIdentity } from "../../guest/src/dstack.js";
import {
  checkQuoteBinding,
  dstackGuestApi,
  parseEventLog,
  replayRtmr,
  replicationReportData,
  runtimeEntries,
  tdReportOfQuote,
} from "../../lib/replication/index.js";
import { DstackGuestApiStandIn, STAND_IN_KMS_ROOT } from "../helpers/dstack-guest-api.js";

/** Recovers the signer of a dstack 65-byte r‖s‖v signature (v in {0,1}) over a raw digest. */
function signerOf(digest: string, signature: Uint8Array): string {
  const sig = Signature.from({
    r: hexlify(signature.slice(0, 32)),
    s: hexlify(signature.slice(32, 64)),
    v: 27 + signature[64]!,
  });
  return SigningKey.recoverPublicKey(digest, sig);
}

describe("dstack guest API stand-in, through the real @phala/dstack-sdk", function () {
  let standIn: DstackGuestApiStandIn;

  before(async function () {
    standIn = await DstackGuestApiStandIn.start();
  });

  after(async function () {
    await standIn.close();
  });

  it("answers Info over the unix socket; the agent reads the CVM's identity from it", async function () {
    const identity = await readDstackIdentity(standIn.endpoint);
    expect(identity).to.deep.include({
      appId: standIn.info["app_id"],
      composeHash: standIn.info["compose_hash"],
      appName: "devproof-agent",
    });
    const info = await new DstackClient(standIn.endpoint).info();
    expect(info.tcb_info.compose_hash).to.equal(standIn.info["compose_hash"]);
  });

  it("answers GetKey with a key and a signature chain of dstack's shape", async function () {
    const { key, signature_chain } = await new DstackClient(standIn.endpoint).getKey("replicator/enc", "encryption");
    expect(hexlify(key)).to.equal(standIn.derivedKey("replicator/enc").privateKey);
    const [sig0, kmsSig] = signature_chain as [Uint8Array, Uint8Array];
    const derivedPublic = standIn.derivedKey("replicator/enc").compressedPublicKey.slice(2);
    expect(signerOf(keccak256(toUtf8Bytes(`encryption:${derivedPublic}`)), sig0)).to.equal(standIn.appKey.publicKey);
    const issued = keccak256(
      concat([toUtf8Bytes("dstack-kms-issued:"), getBytes(standIn.cvm.appId), standIn.appKey.compressedPublicKey]),
    );
    expect(signerOf(issued, kmsSig)).to.equal(STAND_IN_KMS_ROOT.publicKey);
  });

  it("answers GetQuote with a quote that binds report_data and an event log that replays to its RTMR3", async function () {
    const reportData = new Uint8Array(64).fill(0xab);
    const answer = await new DstackClient(standIn.endpoint).getQuote(reportData);
    const td = tdReportOfQuote(`0x${answer.quote}`);
    expect(hexlify(td.reportData)).to.equal(hexlify(reportData));
    const runtime = runtimeEntries(parseEventLog(answer.event_log));
    expect(hexlify(replayRtmr(runtime))).to.equal(hexlify(td.rtMr3));
    expect(runtime.find((entry) => entry.event === "compose-hash")?.event_payload).to.equal(
      standIn.cvm.composeHash.slice(2),
    );
    expect(standIn.methods).to.include.members(["Info", "GetKey", "GetQuote"]);

    let message = "";
    await new DstackClient(standIn.endpoint)
      .getQuote(Buffer.alloc(65))
      .catch((error: Error) => (message = error.message));
    expect(message).to.match(/less than 64 bytes/);
  });

  it("binds the keys of a registration (report_data of lib/replication)", async function () {
    const node = standIn.derivedKey("node");
    const encryption = standIn.derivedKey("enc").compressedPublicKey;
    const address = computeAddress(node.publicKey);
    const answer = await new DstackClient(standIn.endpoint).getQuote(replicationReportData(address, encryption));
    checkQuoteBinding(`0x${answer.quote}`, address, encryption);
  });

  it("fails a method on request, and the agent's Info fails clearly when no guest API listens", async function () {
    standIn.failures.GetQuote = "quote generation failed";
    let message = "";
    await dstackGuestApi(standIn.endpoint)
      .getQuote(new Uint8Array(64))
      .catch((error: Error) => (message = error.message));
    expect(message).to.equal(`the dstack guest API at ${standIn.endpoint} failed on GetQuote: quote generation failed`);
    delete standIn.failures.GetQuote;
    standIn.failures.Info = "guest agent restarting";
    message = "";
    await readDstackIdentity(standIn.endpoint).catch((error: Error) => (message = error.message));
    expect(message).to.not.equal("");
    delete standIn.failures.Info;
    expect((await readDstackIdentity(standIn.endpoint)).appId).to.equal(standIn.info["app_id"]);

    message = "";
    await readDstackIdentity("/nonexistent/dstack.sock").catch((error: Error) => (message = error.message));
    expect(message).to.match(/does not exist/);
  });
});
