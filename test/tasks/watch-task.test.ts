import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";
import { id } from "ethers";

import type { WatchedEvent } from "../../lib/watch.js";
import type { WatchResult } from "../../tasks/watch.js";
import {
  DEVICE_A,
  DEVICE_B,
  deployApp,
  ethers,
  HASH_V1,
  HASH_V2,
  networkHelpers,
  NOTICE,
  runTask,
  runTaskOk,
} from "./helpers.js";
import { startWebhookReceiver } from "../helpers/webhook.js";
import { A, registryWithGenesis } from "./registry-helpers.js";
import { signTlsKey } from "../../lib/replication/index.js";

const V2_URI = "https://example.org/v2.json";

/** An app just deployed; the block it was deployed in. */
async function freshApp() {
  const deployed = await deployApp();
  return { ...deployed, fromBlock: await ethers.provider.getBlockNumber() };
}

const once = (args: Record<string, unknown>) => runTaskOk<WatchResult>("watch", { once: true, ...args });
const names = (events: WatchedEvent[]) => events.map((e) => e.event);
/** Resolves once `condition` holds, checking every few milliseconds; fails the test if it never does. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 4_000; i += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error("the condition never held");
}

const tempFile = async (name: string) => path.join(await mkdtemp(path.join(tmpdir(), "watch-task-")), name);

describe("watch", function () {
  it("reports every change in order, each with the time left; a proposal is URGENT with its countdown", async function () {
    const { appAuth, app, fromBlock, stranger } = await networkHelpers.loadFixture(freshApp);
    await appAuth.proposeComposeHash(HASH_V2, V2_URI);
    const proposed = await once({ app, fromBlock: fromBlock + 1, confirmations: 1 });
    expect(names(proposed.value.events)).to.deep.equal(["ChangeProposed"]);
    const [proposal] = proposed.value.events;
    expect(proposal).to.deep.include({
      severity: "urgent",
      widening: true,
      secondsLeft: Number(NOTICE),
      confirmations: 1,
    });
    expect(proposal!.timing).to.match(/^ready in 7d 0h 0m; can take effect at \S+Z: audit it, or leave before then$/);
    expect(proposed.stdout).to.match(
      new RegExp(
        `block ${proposal!.blockNumber}  URGENT  widening change proposed: add compose hash ${HASH_V2} \\(compose file: ${V2_URI}\\) — ready in 7d 0h 0m`,
      ),
    );

    await appAuth.proposeDevice(DEVICE_B);
    await appAuth.cancelDevice(DEVICE_B);
    await networkHelpers.time.increase(NOTICE);
    await appAuth.connect(stranger).activateComposeHash(HASH_V2);
    await appAuth.removeComposeHash(HASH_V1);
    await appAuth.removeDevice(DEVICE_A);
    await appAuth.lengthenNoticePeriod(NOTICE * 2n);
    await appAuth.transferOwnership(stranger.address);
    await appAuth.connect(stranger).acceptOwnership();
    await appAuth.connect(stranger).disableUpgrades();

    const all = await once({ app, fromBlock: fromBlock + 1, confirmations: 1, json: true });
    const printed = all.stdout.split("\n").map((line) => JSON.parse(line) as WatchedEvent);
    expect(printed).to.deep.equal(JSON.parse(JSON.stringify(all.value.events)));
    expect(names(printed)).to.deep.equal([
      "ChangeProposed",
      "ChangeProposed",
      "ChangeCancelled",
      "ChangeActivated",
      "ComposeHashAdded",
      "CurrentReleaseSet",
      "ComposeHashRemoved",
      "DeviceRemoved",
      "NoticePeriodChanged",
      "OwnershipTransferStarted",
      "OwnershipTransferred",
      "UpgradesDisabled",
    ]);
    const order = printed.map((e) => e.blockNumber * 1000 + e.logIndex);
    expect(order).to.deep.equal([...order].sort((a, b) => a - b));
    const byName = (name: string) => printed.find((e) => e.event === name)!;
    expect(byName("ChangeCancelled")).to.deep.include({ timing: "will not take effect", severity: "info" });
    expect(byName("ChangeActivated")).to.deep.include({ severity: "notice", widening: true, secondsLeft: 0 });
    expect(byName("ComposeHashRemoved")).to.deep.include({ widening: false, timing: "in effect" });
    expect(byName("OwnershipTransferStarted").timing).to.equal(`takes effect when ${stranger.address} accepts`);
    expect(byName("UpgradesDisabled").description).to.equal("upgrades disabled for good");
    // Replayed after the notice, the first proposal says it is ready, not "ready in".
    expect(printed[0]!.timing).to.match(/^ready since /);
    expect(printed[0]!.args).to.deep.include({ value: HASH_V2, uri: V2_URI, kind: "0" });
    expect(all.stderr).to.contain(`Watching TimelockedAppAuth ${app}`);
  });

  it("announces an OS pin, a proposed OS value (URGENT, like new code) and unpinning as they happen", async function () {
    const { appAuth, app, fromBlock } = await networkHelpers.loadFixture(freshApp);
    const image = `0x${"0a".repeat(32)}`;
    const next = `0x${"0b".repeat(32)}`;
    await appAuth.pinOs(1, image);
    await appAuth.proposeOsMeasurement(1, next);
    await networkHelpers.time.increase(NOTICE);
    await appAuth.activateOsMeasurement(1, next);
    await appAuth.proposeUnpinOs(1);
    await networkHelpers.time.increase(NOTICE);
    await appAuth.activateUnpinOs(1);
    await networkHelpers.mine(1);
    const run = await once({ app, fromBlock: fromBlock + 1, confirmations: 1 });
    const seen = run.value.events.map((e) => [e.event, e.severity, e.widening, e.description]);
    expect(seen).to.deep.equal([
      ["OsImageHashPinnedSet", "notice", false, "OS image hash pinned"],
      ["OsImageHashAdded", "info", false, `OS image allowed by the OS pin: ${image}`],
      ["ChangeProposed", "urgent", true, `widening change proposed: allow OS image hash ${next} (OS pin)`],
      [
        "ChangeActivated",
        "notice",
        true,
        `activated: allow OS image hash ${next} (OS pin) (by ${run.value.events[3]!.args["activatedBy"]})`,
      ],
      ["OsImageHashAdded", "info", false, `OS image allowed by the OS pin: ${next}`],
      ["ChangeProposed", "urgent", true, "widening change proposed: unpin the OS image hash (any value allowed)"],
      [
        "ChangeActivated",
        "notice",
        true,
        `activated: unpin the OS image hash (any value allowed) (by ${run.value.events[6]!.args["activatedBy"]})`,
      ],
      ["OsImageHashRemoved", "notice", false, `OS image removed from the OS pin: ${next}`],
      ["OsImageHashRemoved", "notice", false, `OS image removed from the OS pin: ${image}`],
      ["OsImageHashPinnedSet", "info", true, "OS image hash unpinned (any allowed)"],
    ]);
  });

  it("waits for N confirmations before reporting", async function () {
    const { appAuth, app } = await networkHelpers.loadFixture(freshApp);
    const cursorFile = await tempFile("cursor.json");
    await networkHelpers.mine(2); // the deployment is confirmed
    const first = await once({ app, confirmations: 3, cursorFile }); // from the confirmed head on
    expect(first.value.events).to.deep.equal([]);
    expect(first.stdout).to.contain("Open proposals now: none");

    await appAuth.proposeComposeHash(HASH_V2, V2_URI);
    expect((await once({ app, confirmations: 3, cursorFile })).value.events).to.deep.equal([]);
    await networkHelpers.mine(1);
    expect((await once({ app, confirmations: 3, cursorFile })).value.events).to.deep.equal([]);
    await networkHelpers.mine(1);
    const confirmed = await once({ app, confirmations: 3, cursorFile });
    expect(names(confirmed.value.events)).to.deep.equal(["ChangeProposed"]);
    expect(confirmed.value.events[0]!.confirmations).to.equal(3);
    expect(confirmed.value.events[0]!.timing).to.match(/^ready in 6d 23h 59m/);
  });

  it("resumes from its cursor file after a restart, without repeating or missing an event", async function () {
    const { appAuth, app, fromBlock } = await networkHelpers.loadFixture(freshApp);
    const cursorFile = await tempFile("cursor.json");
    await appAuth.proposeComposeHash(HASH_V2, V2_URI);
    await appAuth.proposeDevice(DEVICE_B);
    const first = await once({ app, confirmations: 1, cursorFile, fromBlock: fromBlock + 1 });
    expect(names(first.value.events)).to.deep.equal(["ChangeProposed", "ChangeProposed"]);
    const cursor = JSON.parse(await readFile(cursorFile, "utf8")) as { position: unknown; app: string };
    expect(cursor).to.deep.include({
      app,
      position: { blockNumber: await ethers.provider.getBlockNumber(), logIndex: null },
    });

    await appAuth.cancelDevice(DEVICE_B);
    const second = await once({ app, confirmations: 1, cursorFile, fromBlock: fromBlock });
    expect(second.stdout).to.contain("--from-block");
    expect(names(second.value.events)).to.deep.equal(["ChangeCancelled"]);
    expect((await once({ app, confirmations: 1, cursorFile })).value.events).to.deep.equal([]);
  });

  it("follows the registry too: its KMS root, registrations and the genesis member", async function () {
    const { appAuth, registry } = await networkHelpers.loadFixture(registryWithGenesis);
    const app = await appAuth.getAddress();
    const registryAddress = await registry.getAddress();
    const deployedAt = (await registry.deploymentTransaction())!.blockNumber!;
    const run = await once({ app, registry: registryAddress, confirmations: 1, fromBlock: deployedAt });
    expect(run.value.events.map((e) => `${e.source}:${e.event}`)).to.deep.equal([
      "registry:KmsRootBound",
      "registry:NodeRegistered",
      "registry:GenesisSet",
      "registry:NodeRegistered",
    ]);
    expect(run.stdout).to.match(/NOTICE  registry genesis member set: 0x[0-9a-fA-F]{40} \(by the owner /);
    expect(run.stdout).to.match(
      /info    registry registry bound to dstack's KMS 0x[0-9a-fA-F]{40}: every node's key must chain to its root 0x/,
    );
    expect(run.value.events[1]!.args).to.have.keys([
      "node",
      "composeHash",
      "quoteHash",
      "deviceId",
      "instanceId",
      "tcbStatus",
    ]);
  });

  it("shows the app's TLS key published by the genesis member, and a change of it as URGENT", async function () {
    const { appAuth, registry, domain } = await networkHelpers.loadFixture(registryWithGenesis);
    const fromBlock = (await ethers.provider.getBlockNumber()) + 1;
    const [first, second] = [id("SPKI one"), id("SPKI two")];
    for (const [nonce, spkiSha256] of [first, second].entries()) {
      await registry.setTlsKey(spkiSha256, await signTlsKey(A.wallet, domain, { spkiSha256, nonce }));
    }
    const run = await once({
      app: await appAuth.getAddress(),
      registry: await registry.getAddress(),
      confirmations: 1,
      fromBlock,
    });
    expect(run.value.events.map((e) => [e.event, e.severity])).to.deep.equal([
      ["TlsKeySet", "notice"],
      ["TlsKeySet", "urgent"],
    ]);
    expect(run.stdout).to.contain(`registry app's TLS key published: ${first} (by the genesis member ${A.address})`);
    expect(run.stdout).to.contain(`registry app's TLS key CHANGED: ${second} replaces ${first}`);
  });

  it("marks a new hash on a stock AppAuth URGENT: it took effect without any notice", async function () {
    const [owner] = await ethers.getSigners();
    const stock = await ethers.deployContract("StockAppAuth", [owner!.address, false, DEVICE_A, HASH_V1]);
    const fromBlock = await ethers.provider.getBlockNumber();
    await stock.addComposeHash(HASH_V2);
    const run = await once({ app: await stock.getAddress(), confirmations: 1, fromBlock: fromBlock + 1 });
    expect(run.stdout).to.contain("AppAuth (NOT timelocked: every change is instant)");
    expect(run.value.events[0]).to.deep.include({
      event: "ComposeHashAdded",
      severity: "urgent",
      timing: "in effect NOW, without any notice: this AppAuth has no timelock",
    });
  });

  it("follows a stock AppAuth without ERC-165 (dstack's before June 2025) too", async function () {
    const [owner] = await ethers.getSigners();
    const legacy = await ethers.deployContract("LegacyAppAuth", [owner!.address, HASH_V1]);
    const fromBlock = await ethers.provider.getBlockNumber();
    await legacy.addComposeHash(HASH_V2);
    const run = await once({ app: await legacy.getAddress(), confirmations: 1, fromBlock: fromBlock + 1 });
    expect(run.value.events[0]).to.deep.include({ event: "ComposeHashAdded", severity: "urgent" });
  });

  it("posts each event to the webhook as JSON, retrying a failed attempt", async function () {
    const { appAuth, app, fromBlock } = await networkHelpers.loadFixture(freshApp);
    await appAuth.proposeComposeHash(HASH_V2, V2_URI);
    await appAuth.proposeDevice(DEVICE_B);
    const hook = await startWebhookReceiver((request) => (request === 1 ? 502 : 204)); // the first attempt fails
    const webhook = hook.url;
    const run = await once({ app, confirmations: 1, fromBlock: fromBlock + 1, webhook });
    await hook.close();
    expect(hook.received).to.deep.equal(JSON.parse(JSON.stringify(run.value.events)));
    expect(run.value.webhook).to.deep.equal({ delivered: 2, queued: 0, lastProblem: undefined, gaveUp: false });
    expect(run.stderr).to.contain("webhook: attempt 1 failed (HTTP 502); retrying in 500 ms");
  });

  describe("an event the webhook did not take is never skipped", function () {
    /** A local webhook that answers `status` (or, `status` undefined, nothing: the port is closed). */
    const endpoint = (status: number | undefined) =>
      startWebhookReceiver<WatchedEvent>(() => status ?? 200, { closed: status === undefined });

    const cursorOf = async (file: string) =>
      (JSON.parse(await readFile(file, "utf8")) as { position: unknown }).position;

    it("--once with a dead webhook: exits non-zero, the cursor stays before the first event, the next run posts it", async function () {
      const { appAuth, app, fromBlock } = await networkHelpers.loadFixture(freshApp);
      await appAuth.proposeComposeHash(HASH_V2, V2_URI);
      await appAuth.proposeDevice(DEVICE_B);
      const cursorFile = await tempFile("cursor.json");
      const args = { app, confirmations: 1, fromBlock: fromBlock + 1, cursorFile, once: true };

      const dead = await endpoint(undefined);
      const failed = await runTask<WatchResult>("watch", { ...args, webhook: dead.url });
      expect(failed.result.success).to.equal(false);
      const printed = failed.stdout.split("\n").filter((line) => line.includes("URGENT"));
      expect(printed).to.have.length(2); // reported on the terminal all the same
      const first = await appAuth.queryFilter(appAuth.filters.ChangeProposed(), fromBlock + 1);
      const { blockNumber, index } = first[0]!;
      expect(failed.errorMessage).to.equal(
        `2 event(s) not delivered to the webhook (the oldest: ChangeProposed in block ${blockNumber}, log ${index}; ` +
          `last problem: TypeError: fetch failed); the cursor ${cursorFile} stays before them, so the next run ` +
          "reports and posts them again",
      );
      expect(failed.stderr).to.contain("webhook: attempt 1 failed (TypeError: fetch failed); retrying in 500 ms");
      expect(failed.stderr).to.contain("webhook: gave up after 3 attempts");
      expect(await cursorOf(cursorFile)).to.deep.equal(
        index > 0 ? { blockNumber, logIndex: index - 1 } : { blockNumber: blockNumber - 1, logIndex: null },
      );

      const alive = await endpoint(200);
      const retried = await runTaskOk<WatchResult>("watch", { ...args, webhook: alive.url });
      await alive.close();
      expect(names(alive.received)).to.deep.equal(["ChangeProposed", "ChangeProposed"]);
      expect(alive.received.map((e) => e.transactionHash)).to.deep.equal(
        retried.value.events.map((e) => e.transactionHash),
      );
      expect(await cursorOf(cursorFile)).to.deep.equal(retried.value.position);
      const again = await runTaskOk<WatchResult>("watch", { ...args, webhook: alive.url });
      expect(again.value.events).to.deep.equal([]); // delivered once: the cursor moved past them
    });

    it("--once with a webhook answering HTTP 500: exits non-zero; without a cursor file, says nothing remembers them", async function () {
      const { appAuth, app, fromBlock } = await networkHelpers.loadFixture(freshApp);
      await appAuth.proposeComposeHash(HASH_V2, V2_URI);
      const failing = await endpoint(500);
      const run = await runTask("watch", {
        app,
        confirmations: 1,
        fromBlock: fromBlock + 1,
        webhook: failing.url,
        once: true,
      });
      await failing.close();
      expect(failing.requests()).to.equal(3);
      expect(run.errorMessage).to.match(
        /^1 event\(s\) not delivered to the webhook \(the oldest: ChangeProposed in block \d+, log \d+; last problem: HTTP 500\); without --cursor-file nothing remembers them: use one to have them retried$/,
      );
    });

    it("a long watch keeps an undelivered event pending, retries it with backoff, and posts all in order", async function () {
      const { appAuth, app, fromBlock } = await networkHelpers.loadFixture(freshApp);
      await appAuth.proposeComposeHash(HASH_V2, V2_URI);
      const cursorFile = await tempFile("cursor.json");
      let status = 503;
      const hook = await startWebhookReceiver<WatchedEvent>(() => status);
      const { received } = hook;
      const webhook = hook.url;

      const before = new Set(process.listeners("SIGTERM"));
      const watching = runTask<WatchResult>("watch", {
        app,
        confirmations: 1,
        poll: "1s",
        fromBlock: fromBlock + 1,
        webhook,
        cursorFile,
      });
      const stop = () => {
        const listener = process.listeners("SIGTERM").find((l) => !before.has(l)) as (() => void) | undefined;
        listener?.();
        return listener !== undefined;
      };
      let run: Awaited<typeof watching>;
      try {
        await until(() => hook.requests() >= 2);
        const [proposed] = await appAuth.queryFilter(appAuth.filters.ChangeProposed(), fromBlock + 1);
        const stuck = { blockNumber: proposed!.blockNumber - 1, logIndex: null }; // the proposal is log 0 of its block
        expect(proposed!.index).to.equal(0);
        expect(await cursorOf(cursorFile)).to.deep.equal(stuck);
        await appAuth.proposeDevice(DEVICE_B); // reported meanwhile, posted after the first
        await networkHelpers.mine(1);
        // Attempt 4 comes 3 s after attempt 2 (backoff 0.5 s, 1 s, 2 s): passes (every 1 s) have handed the device over.
        await until(() => hook.requests() >= 4);
        expect(await cursorOf(cursorFile)).to.deep.equal(stuck);

        status = 200;
        await until(() => received.length === 2);
      } finally {
        expect(stop(), "the watch listens for SIGTERM").to.equal(true);
        run = await watching;
        await hook.close();
      }
      if (!run.result.success) expect.fail(`the watch failed: ${run.errorMessage}`);
      expect(received.map((e) => e.event)).to.deep.equal(["ChangeProposed", "ChangeProposed"]);
      expect(received.map((e) => e.args["kind"])).to.deep.equal(["0", "1"]); // the hash first, then the device
      expect(run.stderr).to.contain("webhook: attempt 1 failed (HTTP 503); retrying in 500 ms");
      expect(run.result.value.webhook).to.include({ delivered: 2, queued: 0 });
      expect(await cursorOf(cursorFile)).to.deep.equal(run.result.value.position);
    });
  });

  it("refuses bad options and contracts that are not AppAuths, with one line", async function () {
    const { app } = await networkHelpers.loadFixture(freshApp);
    expect((await runTask("watch", { app, confirmations: 0, once: true })).errorMessage).to.contain(
      '--confirmations "0" is not valid: expected a whole number of blocks from 1 to 1000',
    );
    expect((await runTask("watch", { app, webhook: "ftp://x", once: true })).errorMessage).to.contain(
      "expected an http:// or https:// URL",
    );
    const token = "0x00000000000000000000000000000000c0ffee01";
    await networkHelpers.setCode(token, "0x60206000f3");
    expect((await runTask("watch", { app: token, once: true })).errorMessage).to.contain("is not a dstack AppAuth");
  });
});
