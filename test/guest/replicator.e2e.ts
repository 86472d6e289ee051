/**
 * The replicator in the shipped bundle, as a separate process: real `@phala/dstack-sdk` calls to the dstack stand-in,
 * real collateral fetching from a PCCS (a stand-in serving Intel's stored collateral) and real Intel DCAP verification.
 * A TEE stand-in's quote is a real quote with the node's keys patched in, so its Intel signature no longer holds and
 * the agent — which has no other verifier — refuses to register it. That is the whole point of this test: the node
 * derives its keys and quotes them through the guest API, then stops at DCAP; the success path, which needs a
 * verifier that accepts stand-in quotes, runs in process (replicator.test.ts).
 */
import { access } from "node:fs/promises";
import path from "node:path";

import { expect } from "chai";
import { Wallet, hexlify } from "ethers";

import { loadCollateral, nodeKeyPath, verifyTdxQuote } from "../../lib/replication/index.js";
import { DstackGuestApiStandIn, standInDerivedKey } from "../helpers/dstack-guest-api.js";
import {
  AgentChain,
  AgentProcess,
  cleanUp,
  EXAMPLE_V1,
  FakeDocker,
  releaseFromFile,
  tempDir,
  waitFor,
} from "../helpers/guestAgent.js";
import { PccsStandIn } from "../helpers/pccs-stand-in.js";
import { deployKms } from "../helpers/replication.js";
import { FIXTURE_TIME, loadTdxFixture } from "../helpers/tee-stand-in.js";

describe("replicator in the agent process (bundle, dstack SDK, PCCS, Intel DCAP)", function () {
  this.timeout(30_000);

  let pccs: PccsStandIn;
  before(async function () {
    pccs = await new PccsStandIn().start();
  });
  after(async function () {
    await pccs.stop();
    await cleanUp();
  });

  it("the PCCS stand-in serves collateral that verifies the real fixture quote at its time", async function () {
    const { quote } = await loadTdxFixture();
    const collateral = await loadCollateral({ pccsUrl: pccs.url }, quote);
    expect(verifyTdxQuote(quote, collateral, FIXTURE_TIME).tcbStatus).to.be.a("string");
    expect(pccs.requests.map((url) => url.split("?")[0])).to.include.members([
      "/sgx/certification/v4/pckcrl",
      "/tdx/certification/v4/tcb",
      "/tdx/certification/v4/qe/identity",
    ]);
  });

  it("derives its keys and quotes them through the SDK, fetches collateral, and refuses to register a quote Intel did not sign", async function () {
    const v1 = await releaseFromFile("v1", EXAMPLE_V1);
    const chain = await AgentChain.create({ hash: v1.hash, uri: v1.fileUri });
    const cvm = await DstackGuestApiStandIn.start({
      appId: chain.address,
      instanceId: Wallet.createRandom().address,
      composeHash: v1.hash,
    });
    try {
      const { ethers } = chain.connection;
      const kms = await deployKms(ethers);
      const registry = await ethers.deployContract("ReplicationRegistry", [chain.address, await kms.getAddress()]);
      const registryAddress = await registry.getAddress();
      await chain.mine(3);
      const out = await tempDir("replicator-out");
      const registrationOut = path.join(out, "registration.json");
      pccs.requests.length = 0;
      const agent = await AgentProcess.start({
        rpcUrls: chain.urls,
        appAuth: chain.address,
        stateDir: await tempDir("replicator-state"),
        docker: await FakeDocker.create(),
        dstackSocket: cvm.endpoint,
        flags: {
          registry: registryAddress,
          "registration-out": registrationOut,
          "onboarding-out": path.join(out, "onboardings"),
          "pccs-url": pccs.url,
          "log-level": "info",
        },
      });

      const started = await agent.waitForLog("the replicator's start", (line) => line.event === "replicator");
      const expected = new Wallet(
        hexlify(
          standInDerivedKey(
            chain.address,
            nodeKeyPath(registryAddress, { instanceId: cvm.cvm.instanceId, composeHash: v1.hash }, "ethereum"),
          ),
        ),
      ).address;
      expect(started["node"]).to.equal(expected);

      const refused = await agent.waitForLog(
        "the refusal to register",
        (line) => line.event === "pass-failed" && line.loop === "replicator",
      );
      expect(refused.msg).to.match(
        /^replicator: pass failed: not registering this node: its registration would be refused by members: its TDX quote does not verify against Intel's collateral \(DCAP\): the quote does not verify: /,
      );
      // Real SDK calls: Info, then GetKey for both keys (at start and again to build), then GetQuote.
      expect(cvm.methods.filter((m) => m === "GetQuote")).to.have.length.greaterThan(0);
      expect(cvm.methods).to.include.members(["Info", "GetKey"]);
      expect(cvm.requests.find((r) => r.method === "GetKey")?.body).to.deep.include({ algorithm: "secp256k1" });
      // The collateral came from the PCCS, as a member's would.
      expect(pccs.requests.some((url) => url.startsWith("/tdx/certification/v4/tcb?fmspc="))).to.equal(true);

      // Nothing was written for the host, nothing was registered; /status says why.
      expect(
        await access(registrationOut).then(
          () => "written",
          () => "absent",
        ),
      ).to.equal("absent");
      expect(await registry.nodeStatus(expected)).to.equal(0n);
      const { body } = await agent.get("/status");
      const replicator = (body["loops"] as Record<string, Record<string, unknown>>)["replicator"]!;
      expect(replicator).to.deep.include({ node: expected, nodeStatus: "None", registered: false, member: false });
      expect(String(replicator["lastPassError"])).to.match(/its TDX quote does not verify/);
      // The reconciler beside it runs the release as usual.
      await waitFor("v1 running", () => agent.find((line) => line.event === "reload"));

      expect((await agent.stop("SIGTERM")).code).to.equal(0);
    } finally {
      await cvm.close();
      await chain.close();
    }
  });
});
