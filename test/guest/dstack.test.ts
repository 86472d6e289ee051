import { DstackClient } from "@phala/dstack-sdk";
import { expect } from "chai";
import { concat, getBytes, hexlify, keccak256, Signature, SigningKey, toUtf8Bytes } from "ethers";

import { readDstackIdentity } from "../../guest/src/dstack.js";
import { DstackStandIn } from "../helpers/dstackStandIn.js";

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
  let standIn: DstackStandIn;

  before(async function () {
    standIn = await new DstackStandIn().start();
  });

  after(async function () {
    await standIn.stop();
  });

  it("answers Info over the unix socket; the agent reads the CVM's identity from it", async function () {
    const identity = await readDstackIdentity(standIn.socketPath);
    expect(identity).to.deep.include({
      appId: standIn.info["app_id"],
      composeHash: standIn.info["compose_hash"],
      appName: "devproof-agent",
    });
    const info = await new DstackClient(standIn.socketPath).info();
    expect(info.tcb_info.compose_hash).to.equal(standIn.info["compose_hash"]);
  });

  it("answers GetKey with a key and a signature chain of dstack's shape", async function () {
    const { key, signature_chain } = await new DstackClient(standIn.socketPath).getKey("replicator/enc", "encryption");
    expect(hexlify(key)).to.equal(standIn.derivedKey("replicator/enc").privateKey);
    const [sig0, kmsSig] = signature_chain as [Uint8Array, Uint8Array];
    const derivedPublic = SigningKey.computePublicKey(standIn.derivedKey("replicator/enc").publicKey, true).slice(2);
    expect(signerOf(keccak256(toUtf8Bytes(`encryption:${derivedPublic}`)), sig0)).to.equal(standIn.appKey.publicKey);
    const issued = keccak256(
      concat([
        toUtf8Bytes("dstack-kms-issued:"),
        getBytes(`0x${standIn.info["app_id"]}`),
        SigningKey.computePublicKey(standIn.appKey.publicKey, true),
      ]),
    );
    expect(signerOf(issued, kmsSig)).to.equal(standIn.kmsRootKey.publicKey);
  });

  it("answers GetQuote with report_data at the TD report's offset, and refuses more than 64 bytes", async function () {
    const reportData = "ab".repeat(64);
    const quote = await new DstackClient(standIn.socketPath).getQuote(Buffer.from(reportData, "hex"));
    expect(quote.quote.slice(2 * 568, 2 * 568 + 128)).to.equal(reportData);
    expect(standIn.calls.map((call) => call.method)).to.include.members(["Info", "GetKey", "GetQuote"]);
    let message = "";
    await new DstackClient(standIn.socketPath)
      .getQuote(Buffer.alloc(65))
      .catch((error: Error) => (message = error.message));
    expect(message).to.match(/less than 64 bytes/);
  });

  it("makes the agent's Info fail clearly when no guest API listens", async function () {
    let message = "";
    await readDstackIdentity("/nonexistent/dstack.sock").catch((error: Error) => (message = error.message));
    expect(message).to.match(/does not exist/);
  });
});
