/**
 * The guest agent against RPC endpoints that lie: three endpoints in front of one local chain, each of which a test
 * can make rewrite chosen answers (test/helpers/guestAgent.ts, RpcEndpoint faults). The shipped bundle runs with its
 * default quorum (a majority: 2 of 3). Each test shows that the agent never runs or stops anything on a lie, keeps
 * the app running, names the endpoint that lied, and still follows the honest endpoints.
 */
import { expect } from "chai";

import { DstackGuestApiStandIn } from "../helpers/dstack-guest-api.js";
import {
  AgentChain,
  AgentProcess,
  cleanUp,
  EXAMPLE_V1,
  EXAMPLE_V2,
  FakeDocker,
  makeRelease,
  readState,
  releaseFromFile,
  sleep,
  tempDir,
  waitFor,
  type ReleaseFile,
} from "../helpers/guestAgent.js";

describe("guest agent against lying RPC endpoints (quorum 2 of 3, separate process)", function () {
  this.timeout(40_000);

  let dstack: DstackGuestApiStandIn;
  let v1: ReleaseFile;
  let v2: ReleaseFile;
  /** A release that was never proposed: what a lying endpoint would like the agent to run. */
  let evil: ReleaseFile;
  let chain: AgentChain | undefined;

  before(async function () {
    dstack = await DstackGuestApiStandIn.start({ appName: "devproof-agent-lying" });
    v1 = await releaseFromFile("v1", EXAMPLE_V1);
    v2 = await releaseFromFile("v2", EXAMPLE_V2);
    evil = await makeRelease("evil");
  });
  afterEach(async function () {
    await chain?.close();
    chain = undefined;
  });
  after(async function () {
    await dstack.close();
    await cleanUp();
  });

  async function setUp() {
    chain = await AgentChain.create({ hash: v1.hash, uri: v1.fileUri }, 3);
    const docker = await FakeDocker.create();
    const stateDir = await tempDir("lying-state");
    const agent = await AgentProcess.start({
      rpcUrls: chain.urls,
      appAuth: chain.address,
      stateDir,
      docker,
      dstackSocket: dstack.endpoint,
      confirmations: 1,
    });
    await agent.waitForLog("v1 recorded", (line) => line.event === "reload" && line.composeHash === v1.hash);
    const [first, second, third] = chain.endpoints as [RpcEndpointOf, RpcEndpointOf, RpcEndpointOf];
    return { chain, docker, agent, stateDir, first, second, third };
  }
  type RpcEndpointOf = AgentChain["endpoints"][number];

  /** Releases v2 on chain and waits for the agent to run it. */
  async function releaseV2AndWait(chain: AgentChain, agent: AgentProcess): Promise<void> {
    await chain.release({ hash: v2.hash, uri: v2.fileUri }, 1);
    await agent.waitForLog("v2 reload", (line) => line.event === "reload" && line.composeHash === v2.hash);
  }

  /** Nothing but v1 and v2 ever ran, and nothing was stopped. */
  async function expectNoLieActedOn(docker: FakeDocker): Promise<void> {
    const composes = new Set((await docker.ups()).map((call) => call.compose));
    expect([...composes].every((compose) => compose === v1.dockerCompose || compose === v2.dockerCompose)).to.equal(
      true,
    );
    expect(composes.has(evil.dockerCompose)).to.equal(false);
    expect(await docker.downs()).to.have.length(0);
  }

  it("refuses an endpoint that names another release beside a real proof, and runs the release the chain names", async function () {
    const { chain, docker, agent, stateDir, first } = await setUp();
    // The first endpoint is asked for proofs first: its eth_call and its proof's claimed value name `evil`.
    first.fault = { kind: "release", composeHash: evil.hash };
    await releaseV2AndWait(chain, agent);

    const refused = await agent.waitForLog("the refused proof", (line) => line.event === "proof-refused");
    expect(refused.endpoint).to.equal(first.url);
    expect(refused.msg).to.match(new RegExp(`it claims ${evil.hash}, its proof shows ${v2.hash}`));
    const status = await agent.reconcilerStatus();
    const verification = status["verification"] as { state: string; refusedProofs: Array<{ endpoint: string }> };
    expect(verification.state).to.equal("outvoted");
    expect(verification.refusedProofs.map((p) => p.endpoint)).to.include(first.url);
    const health = await agent.get("/healthz");
    expect(health.status).to.equal(200);
    expect((health.body["loops"] as Record<string, string>)["reconciler"]).to.equal("degraded");
    expect((await readState(stateDir)).running?.composeHash).to.equal(v2.hash);
    await expectNoLieActedOn(docker);
  });

  it("refuses a forged storage proof", async function () {
    const { chain, docker, agent, first } = await setUp();
    first.fault = { kind: "forged-proof", composeHash: evil.hash };
    await releaseV2AndWait(chain, agent);
    const refused = await agent.waitForLog("the refused proof", (line) => line.event === "proof-refused");
    expect(refused.endpoint).to.equal(first.url);
    expect(refused.msg).to.match(/does not verify: slot 0x[0-9a-f]+: the proof does not lead from root 0x[0-9a-f]{64}/);
    await expectNoLieActedOn(docker);
  });

  it("outvotes an endpoint that reports another header, and names it", async function () {
    const { chain, docker, agent, first } = await setUp();
    first.fault = { kind: "header", stateRoot: `0x${"5e".repeat(32)}` };
    await releaseV2AndWait(chain, agent);
    const outvoted = await agent.waitForLog(
      "the outvoted endpoint",
      (line) => line.event === "verification" && line.state === "outvoted",
    );
    expect(outvoted.level).to.equal("warn");
    expect(outvoted.msg).to.match(/2 of 3 endpoints report this header \(quorum 2\)/);
    expect(outvoted.msg).to.match(new RegExp(`${first.url}: head \\d+, hash 0x[0-9a-f]{64}`));
    await expectNoLieActedOn(docker);
  });

  it("follows the two others past a stale head, and past a silent endpoint", async function () {
    const { chain, docker, agent, first, third } = await setUp();
    first.fault = { kind: "head", block: await chain.blockNumber() };
    await releaseV2AndWait(chain, agent);
    const lagging = await agent.waitForLog(
      "the lagging endpoint",
      (line) => line.event === "verification" && line.state === "outvoted",
    );
    expect(lagging.msg).to.contain(`${first.url}: head `);

    first.fault = { kind: "none" };
    await third.down();
    const v3 = await makeRelease("v3");
    await chain.release({ hash: v3.hash, uri: v3.fileUri }, 1);
    await agent.waitForLog("v3 reload", (line) => line.event === "reload" && line.composeHash === v3.hash);
    const silent = agent.lines.filter((line) => line.event === "verification" && line.state === "outvoted").at(-1);
    expect(silent?.msg).to.match(new RegExp(`${third.url}: eth_blockNumber: (ECONNREFUSED|fetch failed)`));
    expect(await docker.downs()).to.have.length(0);
  });

  it("does nothing while too few endpoints agree: no reload, no stop, one loud line, degraded; then catches up", async function () {
    const { chain, docker, agent, stateDir, first, second } = await setUp();
    const callsBefore = (await docker.calls()).length;
    // One endpoint shows another chain's header, one is down: the third alone is no quorum.
    first.fault = { kind: "header", stateRoot: `0x${"5e".repeat(32)}` };
    await second.down();
    const from = agent.lines.length;
    await chain.release({ hash: v2.hash, uri: v2.fileUri }, 1);
    const loud = await agent.waitForLog(
      "the unverified line",
      (line) => line.event === "verification" && line.level === "error",
      10_000,
      from,
    );
    expect(loud.msg).to.match(/^UNVERIFIED CHAIN STATE: RPC endpoints disagree about block \d+, no hash has 2 of 3/);
    expect(loud.msg).to.contain(`${first.url}: head `);
    expect(loud.msg).to.contain(`${second.url}: `);
    expect(loud.msg).to.match(/Nothing is reloaded or stopped on it: running 0x[0-9a-f]{64} keeps running/);
    await sleep(800); // several passes
    expect(agent.lines.slice(from).filter((line) => line.event === "verification")).to.have.length(1);
    expect((await docker.calls()).length).to.equal(callsBefore);
    expect((await readState(stateDir)).running?.composeHash).to.equal(v1.hash);
    const health = await agent.get("/healthz");
    expect(health.status).to.equal(200);
    expect((health.body["loops"] as Record<string, string>)["reconciler"]).to.equal("degraded");
    const verification = (await agent.reconcilerStatus())["verification"] as { state: string };
    expect(verification.state).to.equal("disagree");

    // The endpoints come back honest: v2 runs, and the agent says it verifies again.
    first.fault = { kind: "none" };
    await second.start();
    await agent.waitForLog("v2 reload", (line) => line.event === "reload" && line.composeHash === v2.hash);
    // The first verified view may still outvote the endpoint restarted a moment before (a quorum of the two others),
    // or already have all three: either way it is the first line after the loud one, and says it follows it.
    const again = agent.lines.slice(from).find((line) => line.event === "verification" && line.level !== "error");
    expect(again?.state).to.be.oneOf(["verified", "outvoted"]);
    expect(again?.msg).to.match(
      /^(chain state verified at block \d+ |RPC endpoint\(s\) outvoted or refused at block \d+: ).*\(again, after disagree\)$/,
    );
    // And once all three agree again the agent says so: healthy, verified.
    await waitFor("healthz ok", async () => {
      const body = (await agent.get("/healthz")).body;
      return (body["loops"] as Record<string, string>)["reconciler"] === "ok";
    });
    expect(((await agent.reconcilerStatus())["verification"] as { state: string }).state).to.equal("verified");
    await expectNoLieActedOn(docker);
  });
});
