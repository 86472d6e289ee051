/**
 * What any node with a KMS-issued key can post, read by every command: registrations whose `advisoryIds` or
 * `tcbStatus` are not UTF-8, hold terminal escapes or are huge, followed by an honest registration, and a refresh
 * whose `tcbStatus` is not UTF-8; and an owner's proposal whose compose URI is not UTF-8. `watch --registry`, `nodes`,
 * `verify-node`, `app-status` and `devproof-report` each report the hostile item as refused (or escaped) with its
 * reason, go on to the honest one, and print nothing a terminal would act on.
 */
import { expect } from "chai";
import hre from "hardhat";
import type { Result } from "hardhat/types/utils";

import type { UserError } from "../../lib/errors.js";
import type { RegistryNodes } from "../../lib/replication/registry.js";
import type { WatchResult } from "../../tasks/watch.js";
import { NOTICE, testNode } from "../helpers/replication.js";
import { NOT_UTF8, TERMINAL_ESCAPES, refreshHostile, registerHostile } from "../helpers/poison.js";
import { ethers, networkHelpers } from "./helpers.js";
import { emptyRegistry, registerArgs, signedStandIn } from "./registry-helpers.js";
import { COMPOSE_A, FIXTURE_DEVICE_ID } from "./registry-helpers.js";

/** Characters a terminal acts on (C0 but newline, DEL, C1) and bidirectional overrides. */
const TERMINAL_CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const HUGE = `\u001b]0;pwned\u0007${"A".repeat(20_000)}`;

/** Runs a task and captures what it prints as it is (the shared helper strips escapes: that would hide them). */
async function runRaw<Value>(name: string, args: Record<string, unknown>) {
  const out: string[] = [];
  const saved = { log: console.log, warn: console.warn, error: console.error };
  const capture = (...parts: unknown[]) => out.push(parts.map(String).join(" "));
  Object.assign(console, { log: capture, warn: capture, error: capture });
  let result: Result<Value, UserError>;
  try {
    result = (await hre.tasks.getTask(name).run(args)) as Result<Value, UserError>;
  } finally {
    Object.assign(console, saved);
  }
  return { result, output: out.join("\n"), errorMessage: result.success ? "" : result.error.message };
}

const P1 = testNode("poison advisories");
const P2 = testNode("poison tcb");
const P3 = testNode("escapes");
const P4 = testNode("huge");
const HONEST = testNode("honest after the poison");
const P5 = testNode("poison refresh");

/**
 * A registry whose policy accepts an out-of-date TCB (so a `tcbStatus` that is not "UpToDate" registers), four hostile
 * registrations, then an honest one, then a node that registers honestly and refreshes with a `tcbStatus` that is not
 * UTF-8.
 */
async function poisonedRegistry() {
  const deployed = await emptyRegistry();
  const { registry, appAuth, relayer, domain, appId, address } = deployed;
  await appAuth.proposeAllowOutdatedTcb();
  await networkHelpers.time.increase(NOTICE);
  await appAuth.activateAllowOutdatedTcb();
  const fromBlock = await ethers.provider.getBlockNumber();
  const blocks = {
    p1: await registerHostile(address, relayer, P1, {
      appId,
      deviceId: FIXTURE_DEVICE_ID,
      tcbStatus: "UpToDate",
      advisoryIds: ["INTEL-SA-00837", NOT_UTF8],
    }),
    p2: await registerHostile(address, relayer, P2, {
      appId,
      deviceId: FIXTURE_DEVICE_ID,
      tcbStatus: NOT_UTF8,
      advisoryIds: [],
    }),
    p3: await registerHostile(address, relayer, P3, {
      appId,
      deviceId: FIXTURE_DEVICE_ID,
      tcbStatus: TERMINAL_ESCAPES,
      advisoryIds: [TERMINAL_ESCAPES],
    }),
    p4: await registerHostile(address, relayer, P4, {
      appId,
      deviceId: FIXTURE_DEVICE_ID,
      tcbStatus: HUGE,
      advisoryIds: [],
    }),
  };
  await registry
    .connect(relayer)
    .register(...registerArgs(await signedStandIn(domain, appId, HONEST, { composeHash: COMPOSE_A })));
  await registry
    .connect(relayer)
    .register(...registerArgs(await signedStandIn(domain, appId, P5, { composeHash: COMPOSE_A })));
  const p5 = await refreshHostile(address, relayer, P5, { tcbStatus: NOT_UTF8, advisoryIds: [] });
  return { ...deployed, fromBlock, blocks: { ...blocks, p5 } };
}

describe("readers of hostile registrations and URIs", function () {
  describe("watch --registry", function () {
    it("reports each hostile registration as refused with its reason, escaped, and the honest one after them", async function () {
      const { address, appId, fromBlock, blocks } = await networkHelpers.loadFixture(poisonedRegistry);
      const run = await runRaw<WatchResult>("watch", {
        app: appId,
        registry: address,
        confirmations: 1,
        fromBlock: fromBlock + 1,
        once: true,
      });
      expect(run.errorMessage).to.equal("");
      const events = run.result.success ? run.result.value.events : [];
      const registrations = events.filter((event) => event.event === "NodeRegistered");
      expect(registrations.map((event) => event.refused ?? "")).to.deep.equal([
        "bootInfo.advisoryIds[1] is not UTF-8",
        "bootInfo.tcbStatus is not UTF-8",
        "",
        "",
        "",
        "",
      ]);
      expect(registrations[0]!.description).to.match(
        new RegExp(
          `^refused event NodeRegistered in block ${blocks.p1}, log 0: bootInfo\\.advisoryIds\\[1\\] is not UTF-8; ` +
            `as far as it decodes: node registered: ${P1.address} `,
        ),
      );
      expect(registrations[1]!.description).to.contain(
        `refused event NodeRegistered in block ${blocks.p2}, log 0: bootInfo.tcbStatus is not UTF-8`,
      );
      expect(registrations[2]!.description).to.contain("TCB \\x1b[2J\\x1b[H\\x1b[31mUpToDate\\x9b0m\\u{202e}etadpUoT)");
      expect(registrations[3]!.description).to.contain(
        `TCB \\x1b]0;pwned\\x07${"A".repeat(54)}… (+19946 more characters))`,
      );
      expect(registrations[4]!.args["node"]).to.equal(HONEST.address);
      const refreshes = events.filter((event) => event.event === "AttestationRefreshed");
      expect(refreshes.map((event) => [event.refused, event.args["node"]])).to.deep.equal([
        ["tcbStatus is not UTF-8", P5.address],
      ]);
      expect(run.output).to.contain(`registry refused event AttestationRefreshed in block ${blocks.p5}, log 0:`);
      expect(run.output).to.contain(`registry refused event NodeRegistered in block ${blocks.p1}, log 0:`);
      expect(run.output).to.contain(`node registered: ${HONEST.address}`);
      expect(TERMINAL_CONTROLS.test(run.output), "nothing a terminal acts on is printed").to.equal(false);
    });

    it("--json: one parseable line per event, the refused ones with `refused`, strings escaped and capped", async function () {
      const { address, appId, fromBlock } = await networkHelpers.loadFixture(poisonedRegistry);
      const run = await runRaw<WatchResult>("watch", {
        app: appId,
        registry: address,
        confirmations: 1,
        fromBlock: fromBlock + 1,
        once: true,
        json: true,
      });
      const lines = run.output.split("\n").filter((line) => line.startsWith("{"));
      expect(TERMINAL_CONTROLS.test(lines.join("\n"))).to.equal(false);
      const parsed = lines.map(
        (line) => JSON.parse(line) as { event: string; refused?: string; args: Record<string, string> },
      );
      const registrations = parsed.filter((event) => event.event === "NodeRegistered");
      expect(registrations.map((event) => event.refused ?? null)).to.deep.equal([
        "bootInfo.advisoryIds[1] is not UTF-8",
        "bootInfo.tcbStatus is not UTF-8",
        null,
        null,
        null,
        null,
      ]);
      expect(
        parsed.filter((event) => event.event === "AttestationRefreshed").map((event) => event.refused),
      ).to.deep.equal(["tcbStatus is not UTF-8"]);
      expect(registrations[2]!.args["tcbStatus"]).to.equal(TERMINAL_ESCAPES);
      expect(registrations[3]!.args["tcbStatus"]).to.equal(
        `${HUGE.slice(0, 2048)}… (+${HUGE.length - 2048} more characters)`,
      );
    });
  });

  describe("nodes and verify-node", function () {
    it("nodes lists every registration, the hostile ones escaped with why they are unreadable", async function () {
      const { address } = await networkHelpers.loadFixture(poisonedRegistry);
      const run = await runRaw<RegistryNodes>("nodes", { registry: address });
      expect(run.errorMessage).to.equal("");
      const nodes = run.result.success ? run.result.value : undefined;
      expect(
        nodes?.pending.map((node) => node.address),
        "oldest first",
      ).to.deep.equal([P1.address, P2.address, P3.address, P4.address, HONEST.address, P5.address]);
      expect(nodes?.pending.find((node) => node.address === P2.address)?.unreadable).to.equal(
        "bootInfo.tcbStatus is not UTF-8",
      );
      expect(nodes?.pending.find((node) => node.address === HONEST.address)?.unreadable).to.equal(undefined);
      expect(
        nodes?.pending.find((node) => node.address === P5.address)?.unreadable,
        "its record holds the TCB status of its hostile refresh",
      ).to.equal("bootInfo.tcbStatus is not UTF-8");
      expect(nodes?.refused.map((refused) => refused.node)).to.deep.equal([P1.address, P2.address]);
      expect(run.output).to.contain(`  ${P1.address}: bootInfo.advisoryIds[1] is not UTF-8`);
      expect(run.output).to.match(/Refused NodeRegistered logs \(2\)/);
      expect(run.output).to.contain("\\x1b[2J\\x1b[H\\x1b[31mUpToDate\\x9b0m\\u{202e}… (+8 more characters)");
      expect(TERMINAL_CONTROLS.test(run.output)).to.equal(false);
    });

    it("verify-node refuses a node whose registration is refused, with the reason", async function () {
      const { address, blocks } = await networkHelpers.loadFixture(poisonedRegistry);
      const run = await runRaw("verify-node", { registry: address, node: P1.address, collateral: "unused.json" });
      expect(run.errorMessage).to.equal(
        `cannot vouch for ${P1.address}: refused event NodeRegistered in block ${blocks.p1}, log 0: ` +
          "bootInfo.advisoryIds[1] is not UTF-8",
      );
    });

    it("verify-node refuses a node whose last refresh is refused, with the reason", async function () {
      const { address, blocks } = await networkHelpers.loadFixture(poisonedRegistry);
      const run = await runRaw("verify-node", { registry: address, node: P5.address, collateral: "unused.json" });
      expect(run.errorMessage).to.equal(
        `cannot vouch for ${P5.address}: refused event AttestationRefreshed in block ${blocks.p5}, log 0: ` +
          "tcbStatus is not UTF-8",
      );
    });
  });

  describe("an owner's compose URI that is not UTF-8", function () {
    async function hostileProposal() {
      const deployed = await emptyRegistry();
      const { appAuth, owner, appId } = deployed;
      const fromBlock = await ethers.provider.getBlockNumber();
      const hash = `0x${"c3".repeat(32)}`;
      // proposeComposeHash(bytes32, string) with a URI of bytes ethers would not encode as a string.
      const fragment = appAuth.interface.getFunction("proposeComposeHash");
      const uri = Uint8Array.from([...new TextEncoder().encode("https://evil.example/\u001b[2J"), 0xff, 0xfe]);
      const data =
        fragment.selector + ethers.AbiCoder.defaultAbiCoder().encode(["bytes32", "bytes"], [hash, uri]).slice(2);
      await (await owner.sendTransaction({ to: appId, data })).wait();
      return { ...deployed, fromBlock, hash };
    }

    it("watch still reports the proposal URGENT, refused for its URI; app-status and the report show it escaped", async function () {
      const { appId, fromBlock, hash } = await networkHelpers.loadFixture(hostileProposal);
      const watch = await runRaw<WatchResult>("watch", {
        app: appId,
        confirmations: 1,
        fromBlock: fromBlock + 1,
        once: true,
      });
      const [proposal] = watch.result.success ? watch.result.value.events : [];
      expect(proposal).to.deep.include({ event: "ChangeProposed", severity: "urgent", refused: "uri is not UTF-8" });
      expect(proposal!.description).to.contain(
        `; as far as it decodes: widening change proposed: add compose hash ${hash} (compose file: https://evil.example/\\x1b[2J\ufffd\ufffd)`,
      );

      const status = await runRaw("app-status", { app: appId, fromBlock });
      expect(status.errorMessage).to.equal("");
      expect(status.output).to.contain("uri:        https://evil.example/\\x1b[2J\ufffd\ufffd");
      expect(status.output).to.contain(`getProposals: proposals[0].uri is not UTF-8`);
      expect(status.output).to.match(
        /ChangeProposed: refused event ChangeProposed in block \d+, log 0: uri is not UTF-8/,
      );

      const report = await runRaw("devproof-report", { app: appId });
      expect(report.output).to.contain("the owner published compose URIs that are not UTF-8");
      expect(report.output).to.contain(`pending widening change: add compose hash ${hash}`);
      for (const run of [watch, status, report]) expect(TERMINAL_CONTROLS.test(run.output)).to.equal(false);
    });
  });
});
