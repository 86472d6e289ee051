/**
 * The guest agent end to end: the shipped bundle runs as a separate process against a local chain served over
 * JSON-RPC, drives the fake `docker` and reads the dstack stand-in through the real SDK. Each fault test shows that
 * nothing wrong ran and nothing was lost.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";

import { expect } from "chai";

import { DstackGuestApiStandIn } from "../helpers/dstack-guest-api.js";
import {
  AgentChain,
  AgentProcess,
  cleanUp,
  ComposeHost,
  EXAMPLE_V1,
  EXAMPLE_V2,
  FakeDocker,
  makeRelease,
  readState,
  releaseFromFile,
  sleep,
  tempDir,
  waitFor,
  type AgentSettings,
  type ReleaseFile,
} from "../helpers/guestAgent.js";

describe("guest agent (separate process, local chain, fake docker)", function () {
  this.timeout(30_000);

  let dstack: DstackGuestApiStandIn;
  let v1: ReleaseFile;
  let v2: ReleaseFile;
  let chain: AgentChain | undefined;
  let host: ComposeHost | undefined;

  before(async function () {
    dstack = await DstackGuestApiStandIn.start({ appName: "devproof-agent-test" });
    v1 = await releaseFromFile("v1", EXAMPLE_V1);
    v2 = await releaseFromFile("v2", EXAMPLE_V2);
  });

  afterEach(async function () {
    await cleanUpAgentsAndChain();
  });

  after(async function () {
    await dstack.close();
    await cleanUp();
  });

  async function cleanUpAgentsAndChain(): Promise<void> {
    await chain?.close();
    chain = undefined;
    await host?.stop();
    host = undefined;
  }

  /** A chain at release v1 (from a file: URI), a fake docker, a fresh state dir, and the agent running v1. */
  async function setUp(options: Partial<AgentSettings> & { endpoints?: number } = {}) {
    chain = await AgentChain.create({ hash: v1.hash, uri: v1.fileUri }, options.endpoints ?? 1);
    const docker = await FakeDocker.create();
    const settings: AgentSettings = {
      rpcUrls: chain.urls,
      appAuth: chain.address,
      stateDir: await tempDir("state"),
      docker,
      dstackSocket: dstack.endpoint,
      confirmations: 1,
      ...options,
    };
    const agent = await AgentProcess.start(settings);
    await waitFor(
      "v1 up",
      async () => (await docker.ups()).find((call) => call.compose === v1.dockerCompose),
      10_000,
      () => agent.tail(),
    );
    await agent.waitForLog("v1 recorded", (line) => line.event === "reload" && line.composeHash === v1.hash);
    return { chain, docker, agent, settings };
  }

  /** Serves `release` over HTTP and returns the release with that URI. */
  async function served(release: ReleaseFile): Promise<ReleaseFile & { uri: string }> {
    host ??= await new ComposeHost().start();
    const urlPath = `/${release.name}/app-compose.json`;
    host.files.set(urlPath, release.bytes);
    return { ...release, uri: host.url(urlPath) };
  }

  const upsWith = async (docker: FakeDocker, release: ReleaseFile) =>
    (await docker.ups()).filter((call) => call.compose === release.dockerCompose);

  it("runs v1 at start, then exactly v2's docker-compose once v2 is activated and confirmed", async function () {
    const { chain, docker, agent, settings } = await setUp();

    // The SDK asked the stand-in for Info, and the agent logged who it runs in.
    expect(dstack.methods).to.include("Info");
    const identity = agent.find((line) => line.event === "dstack");
    expect(identity?.appId).to.equal(dstack.info["app_id"]);
    expect(identity?.composeHash).to.equal(dstack.info["compose_hash"]);

    const [firstUp] = await docker.ups();
    expect(firstUp!.args).to.deep.equal([
      "compose",
      "-p",
      "app",
      "--project-directory",
      path.join(settings.stateDir, "project"),
      "-f",
      path.join(settings.stateDir, "releases", v1.hash.slice(2), "docker-compose.yml"),
      "up",
      "-d",
      "--remove-orphans",
    ]);

    const release = await served(v2);
    const passesBefore = agent.events("reload").length;
    await chain.release(release, 1);
    const up = await waitFor(
      "v2 up",
      async () => (await upsWith(docker, v2))[0],
      5_000,
      () => agent.tail(),
    );
    expect(up.compose).to.equal(v2.dockerCompose);
    const reload = await agent.waitForLog(
      "v2 reload line",
      (line) => line.event === "reload" && line.composeHash === v2.hash,
    );
    expect(reload.level).to.equal("info");
    expect(reload.msg).to.match(/^reloaded: now running 0x[0-9a-f]{64} .*was 0x[0-9a-f]{64}/);
    expect(agent.events("reload").length).to.equal(passesBefore + 1);

    expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v2.hash);
    const status = await agent.reconcilerStatus();
    expect((status["running"] as { composeHash: string }).composeHash).to.equal(v2.hash);
    expect((status["release"] as { composeHash: string }).composeHash).to.equal(v2.hash);
    expect((status["lastReload"] as { composeHash: string }).composeHash).to.equal(v2.hash);
    expect((await agent.get("/healthz")).status).to.equal(200);
    // v1 and v2 once each: no reload is repeated while nothing changes.
    await sleep(400);
    expect((await docker.ups()).map((call) => call.compose)).to.deep.equal([v1.dockerCompose, v2.dockerCompose]);
  });

  describe("faults", function () {
    const digestOf = (release: ReleaseFile) => /sha256:[0-9a-f]{64}/.exec(release.dockerCompose)![0];

    it("acts only on confirmed blocks: an activation reorged away before N confirmations never runs", async function () {
      const { chain, docker, agent, settings } = await setUp({ confirmations: 3 });
      const release = await served(v2);
      await chain.proposeAndWait(release);
      const snapshot = await chain.connection.provider.request({ method: "evm_snapshot", params: [] });
      await chain.activate(release);
      await chain.mine(2); // two blocks on top of the activation: not yet three confirmations
      await sleep(600);
      expect(await upsWith(docker, v2)).to.have.length(0);

      // The fork with the activation is dropped: the head goes back to before it, then the chain grows again.
      const from = agent.lines.length;
      await chain.connection.provider.request({ method: "evm_revert", params: [snapshot] });
      await agent.waitForLog("the backwards block", (line) => line.event === "block-backwards", 5_000, from);
      await chain.mine(6);
      await sleep(600);
      expect(await upsWith(docker, v2)).to.have.length(0);
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v1.hash);
    });

    it("does not act on a lagging endpoint whose confirmed block is older than one already acted on", async function () {
      const { chain, docker, agent, settings } = await setUp();
      const release = await served(v2);
      const activation = await chain.release(release, 1);
      await agent.waitForLog("v2 reload", (line) => line.event === "reload" && line.composeHash === v2.hash);

      // At this head, the confirmed view still says v1 is the current release: a naive agent would roll back.
      chain.endpoints[0]!.fault = { kind: "head", block: activation.block - 1 };
      const from = agent.lines.length;
      const line = await agent.waitForLog("the backwards block", (l) => l.event === "block-backwards", 5_000, from);
      expect(line.level).to.equal("warn");
      expect(line.msg).to.match(/older than block \d+ already seen: a lagging or reorged view, not acted on/);
      await sleep(500);
      expect(await upsWith(docker, v1)).to.have.length(1);
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v2.hash);
      const { lastError } = (await agent.reconcilerStatus()) as { lastError: { message: string } | null };
      expect(lastError?.message).to.match(/lagging or reorged/);
    });

    it("without a quorum, leaves out a URL that fails, keeps what runs while every URL is down, and recovers", async function () {
      const { chain, docker, agent, settings } = await setUp({ endpoints: 2, rpcQuorum: "none" });
      const [primary, secondary] = chain.endpoints as [(typeof chain.endpoints)[0], (typeof chain.endpoints)[0]];

      // The first URL answers JSON-RPC errors: the second one's header and proofs are used, and the first is named.
      primary.fault = { kind: "error" };
      await chain.release(await served(v2), 1);
      await agent.waitForLog("v2 reload", (line) => line.event === "reload" && line.composeHash === v2.hash);
      const named = agent.find((line) => line.event === "verification" && line.state === "outvoted");
      expect(named?.msg).to.contain(`${primary.url}: eth_blockNumber: internal error (injected)`);
      expect(secondary.requests).to.be.greaterThan(0);

      // Every URL down (refused, HTTP 500) while v3 is activated: nothing changes, nothing is stopped.
      await primary.down();
      secondary.fault = { kind: "http500" };
      const v3 = await served(await makeRelease("v3"));
      await chain.release(v3, 1);
      const callsBefore = (await docker.calls()).length;
      await agent.waitForLog("a failed pass", (line) => line.event === "pass-failed");
      await sleep(500);
      expect((await docker.calls()).length).to.equal(callsBefore);
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v2.hash);
      const status = await agent.reconcilerStatus();
      expect((status["lastError"] as { message: string }).message).to.match(/only 0 of 2 RPC endpoints answered/);
      expect((await agent.get("/healthz")).status).to.equal(200);

      // The first URL comes back: v3 runs.
      primary.fault = { kind: "none" };
      await primary.start();
      await waitFor(
        "v3 up",
        async () => (await upsWith(docker, v3))[0],
        5_000,
        () => agent.tail(),
      );
      await agent.waitForLog("v3 reload", (line) => line.event === "reload" && line.composeHash === v3.hash);
    });

    it("refuses an unreachable URI and bytes that do not hash to the on-chain hash, then runs the right bytes", async function () {
      const { chain, docker, agent, settings } = await setUp();
      const v3 = await served(await makeRelease("v3"));
      const urlPath = "/v3/app-compose.json";
      host!.files.set(urlPath, "404");
      await chain.release(v3, 1);
      const unreachable = await agent.waitForLog("a refusal", (line) => line.event === "refusal");
      expect(unreachable.level).to.equal("error");
      expect(unreachable.msg).to.match(
        /^refused release 0x[0-9a-f]{64}: fetching .* answered HTTP 404; nothing was started/,
      );

      // Someone serves other bytes at the URI: refused, and never given to docker.
      const tampered = JSON.parse(v3.bytes.toString("utf8")) as Record<string, string>;
      tampered["docker_compose_file"] = tampered["docker_compose_file"]!.replace(
        /sha256:[0-9a-f]{64}/,
        `sha256:${"e".repeat(64)}`,
      );
      host!.files.set(urlPath, Buffer.from(JSON.stringify(tampered)));
      const from = agent.lines.length;
      const mismatch = await agent.waitForLog(
        "a hash refusal",
        (line) => line.event === "refusal" && /not to the on-chain compose hash/.test(String(line.msg)),
        5_000,
        from,
      );
      expect(mismatch.msg).to.contain(v3.hash);
      const status = await agent.reconcilerStatus();
      expect((status["lastError"] as { message: string }).message).to.match(/not to the on-chain compose hash/);
      expect((status["retry"] as { composeHash: string }).composeHash).to.equal(v3.hash);

      // The right bytes: they run.
      host!.files.set(urlPath, v3.bytes);
      await agent.waitForLog("v3 reload", (line) => line.event === "reload" && line.composeHash === v3.hash);
      const composes = (await docker.ups()).map((call) => call.compose);
      expect(composes).to.deep.equal([v1.dockerCompose, v3.dockerCompose]);
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v3.hash);
    });

    it("refuses a current release whose URI is not UTF-8, once, keeps v1, still stops a removed hash, then runs the next release", async function () {
      const { chain, docker, agent, settings } = await setUp();
      const hostile = await makeRelease("hostile-uri");
      // What the owner stored: a file: URI with a terminal escape and two bytes that are not UTF-8 at its end.
      const uri = Uint8Array.from([...new TextEncoder().encode(`${hostile.fileUri}\u001b[2J`), 0xff, 0xfe]);
      const from = agent.lines.length;
      await chain.release({ hash: hostile.hash, uri }, 1);
      const refusal = await agent.waitForLog("the refusal", (line) => line.event === "refusal", 10_000, from);
      expect(refusal.level).to.equal("error");
      expect(refusal.composeHash).to.equal(hostile.hash);
      // The URI is named escaped and in its lossy form; the line holds no control character.
      expect(refusal.msg).to.contain(
        `refused: the compose URI of release ${hostile.hash} is not UTF-8 (as far as it decodes: ` +
          `"${hostile.fileUri}\\x1b[2J\ufffd\ufffd"): no file can be fetched from it (current release at block `,
      );
      expect(refusal.msg).to.match(
        new RegExp(
          `block \\d+\\); nothing was started, running ${v1.hash} keeps running until a release with a readable URI is set$`,
        ),
      );
      expect(String(refusal.msg)).to.not.match(/\p{Cc}/u);
      const release = (await agent.reconcilerStatus())["release"] as { composeHash: string; uriProblem?: string };
      expect(release.composeHash).to.equal(hostile.hash);
      expect(release.uriProblem).to.match(/is not UTF-8/);
      await sleep(500); // several passes: the refusal is not repeated, nothing is started
      expect(agent.lines.slice(from).filter((line) => line.event === "refusal")).to.have.length(1);
      expect((await docker.ups()).map((call) => call.compose)).to.deep.equal([v1.dockerCompose]);
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v1.hash);

      // The unreadable release does not block the rest of the pass: removing v1 still stops it.
      await (await chain.appAuth.removeComposeHash(v1.hash)).wait();
      await chain.mine(1);
      await agent.waitForLog("the revocation", (line) => line.event === "release-revoked", 10_000, from);
      await waitFor(
        "the down call",
        async () => (await docker.downs())[0],
        5_000,
        () => agent.tail(),
      );

      await chain.release(await served(v2), 1);
      await agent.waitForLog("v2 reload", (line) => line.event === "reload" && line.composeHash === v2.hash);
      expect((await docker.ups()).map((call) => call.compose)).to.deep.equal([v1.dockerCompose, v2.dockerCompose]);
    });

    it("rolls back to v1 when docker compose up fails for v2, retries v2 with growing backoff, then runs it", async function () {
      const { chain, docker, agent, settings } = await setUp();
      await docker.control([{ match: digestOf(v2), action: "fail" }]);
      await chain.release(await served(v2), 1);

      await waitFor(
        "three failed v2 attempts",
        async () => (await upsWith(docker, v2)).length >= 3,
        8_000,
        () => agent.tail(),
      );
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v1.hash);
      const ups = await docker.ups();
      const attempts = ups.filter((call) => call.compose === v2.dockerCompose);
      // Each failed v2 attempt is followed by a rollback `up` of v1.
      const firstFailure = ups.indexOf(attempts[0]!);
      expect(ups[firstFailure + 1]?.compose).to.equal(v1.dockerCompose);
      const gaps = [attempts[1]!.t - attempts[0]!.t, attempts[2]!.t - attempts[1]!.t];
      expect(gaps[1]).to.be.greaterThan(gaps[0]!);
      const failed = agent.find((line) => line.event === "reload-failed");
      expect(failed?.level).to.equal("error");
      expect(failed?.msg).to.match(
        /failed: .* exited with status 1: Error response from daemon: fake failure.*it is not recorded as running; retrying in 300 ms/,
      );
      expect(agent.events("rollback")[0]?.composeHash).to.equal(v1.hash);

      await docker.control([]);
      await agent.waitForLog("v2 reload", (line) => line.event === "reload" && line.composeHash === v2.hash, 8_000);
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v2.hash);
    });

    it("kills a hanging docker compose at the docker timeout and rolls back", async function () {
      const { chain, docker, agent, settings } = await setUp({ flags: { "docker-timeout": "1s" } });
      await docker.control([{ match: digestOf(v2), action: "hang" }]);
      await chain.release(await served(v2), 1);
      const failed = await agent.waitForLog("the timeout", (line) => line.event === "reload-failed", 8_000);
      expect(failed.err).to.match(/did not finish within 1000 ms and was killed/);
      await agent.waitForLog("the rollback", (line) => line.event === "rollback" && line.composeHash === v1.hash);
      const hung = (await upsWith(docker, v2))[0]!;
      expect(() => process.kill(hung.pid, 0)).to.throw(/ESRCH/);
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v1.hash);
    });

    it("rolls back a release that does not become healthy in time", async function () {
      host = await new ComposeHost().start();
      host.files.set("/health", Buffer.from("ok"));
      const { chain, docker, agent, settings } = await setUp({
        // Long enough that even a loaded machine answers the first check before the deadline.
        flags: { "health-check-url": host.url("/health"), "health-timeout": "3s" },
      });
      host.files.set("/health", "404");
      await chain.release(await served(v2), 1);
      const failed = await agent.waitForLog("the health failure", (line) => line.event === "reload-failed", 12_000);
      expect(failed.err).to.match(/not healthy within 3000 ms: .*answered HTTP 404/);
      await agent.waitForLog("the rollback", (line) => line.event === "rollback" && line.composeHash === v1.hash);
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v1.hash);

      host.files.set("/health", Buffer.from("ok"));
      await agent.waitForLog("v2 reload", (line) => line.event === "reload" && line.composeHash === v2.hash, 8_000);
      expect((await upsWith(docker, v2)).length).to.be.greaterThanOrEqual(2);
    });

    it("stops the app with docker compose down when its hash is removed, and resumes with the next release", async function () {
      const { chain, docker, agent, settings } = await setUp();
      await chain.release(await served(v2), 1);
      await agent.waitForLog("v2 reload", (line) => line.event === "reload" && line.composeHash === v2.hash);

      await (await chain.appAuth.removeComposeHash(v2.hash)).wait();
      await chain.mine(1);
      const revoked = await agent.waitForLog("the revocation", (line) => line.event === "release-revoked");
      expect(revoked.level).to.equal("error");
      expect(revoked.msg).to.match(/^STOPPING THE APP: release 0x[0-9a-f]{64} is no longer allowed at block \d+/);
      const down = await waitFor(
        "the down call",
        async () => (await docker.downs())[0],
        5_000,
        () => agent.tail(),
      );
      expect(down.args).to.deep.equal(["compose", "-p", "app", "down"]);
      const state = await waitFor("the state without a running release", async () => {
        const saved = await readState(settings.stateDir);
        return saved.running === null ? saved : undefined;
      });
      expect((state["stopped"] as { composeHash: string }).composeHash).to.equal(v2.hash);
      await agent.waitForLog("the refusal to run the removed release", (line) => line.event === "refusal");
      const upsAfterDown = (await docker.calls()).length;
      await sleep(500);
      expect((await docker.calls()).length).to.equal(upsAfterDown); // nothing is started while the release is not allowed

      const v3 = await served(await makeRelease("v3"));
      await chain.release(v3, 1);
      await agent.waitForLog("v3 reload", (line) => line.event === "reload" && line.composeHash === v3.hash);
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v3.hash);
    });

    it("resumes after being killed with SIGKILL in the middle of a reload", async function () {
      const { chain, docker, agent, settings } = await setUp();
      await docker.control([{ match: digestOf(v2), action: "hang" }]);
      await chain.release(await served(v2), 1);
      const hung = await waitFor(
        "the v2 up call",
        async () => (await upsWith(docker, v2))[0],
        5_000,
        () => agent.tail(),
      );
      await agent.stop("SIGKILL");
      process.kill(hung.pid, "SIGKILL");

      // Nothing half-written: state.json parses and still says v1; no temporary file is left in the state dir.
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v1.hash);
      expect((await readdir(settings.stateDir)).filter((name) => name.includes(".tmp-"))).to.deep.equal([]);

      await docker.control([]);
      const restarted = await AgentProcess.start(settings);
      await restarted.waitForLog(
        "v2 reload after restart",
        (line) => line.event === "reload" && line.composeHash === v2.hash,
      );
      expect((await upsWith(docker, v2)).at(-1)?.compose).to.equal(v2.dockerCompose);
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v2.hash);

      // One more restart with nothing to change: `up` once for what runs, nothing else.
      await restarted.stop();
      const callsBefore = (await docker.ups()).length;
      const again = await AgentProcess.start(settings);
      await again.waitForLog("the ensure", (line) => line.event === "ensure" && line.composeHash === v2.hash);
      await sleep(300);
      expect((await docker.ups()).length).to.equal(callsBefore + 1);
    });

    it("on SIGTERM finishes the reload it is in, records it, and exits 0", async function () {
      const { chain, docker, agent, settings } = await setUp();
      await docker.control([{ match: digestOf(v2), action: "ok", sleepMs: 1_500 }]);
      await chain.release(await served(v2), 1);
      const call = await waitFor(
        "the v2 up call",
        async () => (await upsWith(docker, v2))[0],
        5_000,
        () => agent.tail(),
      );
      const exit = await agent.stop("SIGTERM");
      expect(exit).to.deep.equal({ code: 0, signal: null });
      expect(Date.now() - call.t).to.be.greaterThanOrEqual(1_400);
      expect(agent.find((line) => line.event === "stopping")?.msg).to.match(
        /stopping \(SIGTERM\): finishing the current step/,
      );
      expect(agent.find((line) => line.event === "reload" && line.composeHash === v2.hash)).to.not.equal(undefined);
      expect(agent.lines.at(-1)?.event).to.equal("stopped");
      expect((await readState(settings.stateDir)).running?.composeHash).to.equal(v2.hash);
    });
  });
});
