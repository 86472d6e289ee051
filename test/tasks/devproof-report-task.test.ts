import { readFile } from "node:fs/promises";

import { expect } from "chai";

import { composeHashOfFile } from "../../lib/composeHash.js";
import type { DevProofReport, ReportLine } from "../../lib/devproof-report.js";
import { EIP1967_SLOTS, readDevProofSnapshot } from "../../lib/devproof-snapshot.js";
import { BelowStageOne } from "../../tasks/devproof-report.js";
import { deployRegistry } from "../helpers/replication.js";
import { DEVICE_A, ethers, networkHelpers, runTask, runTaskOk, writeTempFile } from "./helpers.js";

const DAY = 86_400n;
const V1 = "examples/app-compose.v1.json";
const V2 = "examples/app-compose.v2.json";

/** Deploys a TimelockedAppAuth with the example release v1, one device, an up-to-date TCB and `notice`. */
async function deployWithNotice(notice: bigint, owner?: string) {
  const [signer] = await ethers.getSigners();
  const v1 = (await composeHashOfFile(V1)).bytesHash;
  const appAuth = await ethers.deployContract("TimelockedAppAuth", [
    owner ?? signer!.address,
    notice,
    v1,
    "https://example.org/v1.json",
    [DEVICE_A],
    false,
    true,
  ]);
  return { appAuth, app: await appAuth.getAddress(), v1 };
}
const demoLike = () => deployWithNotice(7n * DAY);
const registryFixture = () => deployRegistry(ethers, networkHelpers);
const thirtyDays = () => deployWithNotice(30n * DAY);
const oneHour = () => deployWithNotice(3600n);

const levels = (report: DevProofReport) => Object.fromEntries(report.lines.map((l) => [l.id, l.level]));
const lineOf = (report: DevProofReport, id: string): ReportLine => {
  const found = report.lines.find((l) => l.id === id);
  if (found === undefined) throw new Error(`no line ${id}`);
  return found;
};

/** Runs the report and returns it, whether it passed (exit 0) or not (exit 1). */
async function report(args: Record<string, unknown>) {
  const run = await runTask<DevProofReport>("devproof-report", args);
  if (run.result.success) return { ...run, report: run.result.value, exitCode: 0 };
  if (!(run.result.error instanceof BelowStageOne))
    throw new Error(`report failed: ${run.errorMessage}\n${run.stderr}`);
  return { ...run, report: run.result.error.report, exitCode: 1 };
}

describe("devproof-report", function () {
  it("the demo deployment: 7-day notice, single-key owner: Stage 1 with WARNs, exit code 0", async function () {
    const { app } = await networkHelpers.loadFixture(demoLike);
    const run = await report({ app, compose: V1 });
    expect(run.exitCode).to.equal(0);
    expect(run.report.stage).to.equal(1);
    expect(levels(run.report)).to.deep.include({
      "contract.app-auth": "PASS",
      "contract.proxy": "PASS",
      "contract.timelocked": "PASS",
      "notice.stage1": "PASS",
      "notice.stage2": "WARN",
      owner: "WARN",
      proposals: "PASS",
      "release.current": "PASS",
      "compose.hash": "PASS",
      "compose.release": "PASS",
      "compose.kms": "PASS",
      "compose.images": "PASS",
      "compose.env": "PASS",
      "compose.switches": "PASS",
    });
    expect(run.stdout).to.contain("PASS  notice period of at least 7 days");
    expect(run.stdout).to.contain("WARN  the owner is a single key (an EOA)");
    expect(run.stdout).to.contain("Stage 1: DevProof");
  });

  it("a 30-day notice meets the Stage-2 style bar", async function () {
    const { app } = await networkHelpers.loadFixture(thirtyDays);
    const run = await report({ app });
    expect(run.report.stage).to.equal(2);
    expect(lineOf(run.report, "notice.stage2").level).to.equal("PASS");
  });

  it("a 1-hour notice fails Stage 1: exit code 1, and --json says why", async function () {
    const { app } = await networkHelpers.loadFixture(oneHour);
    const run = await report({ app, json: true });
    expect(run.exitCode).to.equal(1);
    expect(run.stderr).to.equal("");
    const printed = JSON.parse(run.stdout) as DevProofReport;
    expect(printed.stage).to.equal(0);
    expect(printed.lines.find((l) => l.id === "notice.stage1")).to.deep.include({
      level: "FAIL",
      title: "notice period under 7 days: Stage 0",
    });
    expect(Object.keys(printed.lines[0]!)).to.include.members(["id", "level", "title", "evidence"]);
  });

  it("a stock, instantly upgradeable AppAuth is Stage 0: an instant upgrade path", async function () {
    const [owner] = await ethers.getSigners();
    const v1 = (await composeHashOfFile(V1)).bytesHash;
    const stock = await ethers.deployContract("StockAppAuth", [owner!.address, false, DEVICE_A, v1]);
    const run = await report({ app: await stock.getAddress(), compose: V1 });
    expect(run.exitCode).to.equal(1);
    expect(run.report.stage).to.equal(0);
    expect(lineOf(run.report, "upgrade-path")).to.deep.include({
      level: "FAIL",
      title: "instant upgrade path: Stage 0",
    });
    expect(lineOf(run.report, "upgrade-path").evidence).to.contain("addComposeHash");
    expect(lineOf(run.report, "compose.hash").level).to.equal("PASS"); // read through allowedComposeHashes(bytes32)
    expect(run.stdout).to.contain("FAIL  instant upgrade path: Stage 0");
    expect(lineOf(run.report, "owner").evidence).to.contain("one stolen key can allow new code at once");
  });

  it("a stock AppAuth without ERC-165 (dstack's before June 2025) is graded too: Stage 0", async function () {
    const [owner] = await ethers.getSigners();
    const legacy = await ethers.deployContract("LegacyAppAuth", [owner!.address, `0x${"c1".repeat(32)}`]);
    const run = await report({ app: await legacy.getAddress() });
    expect(run.exitCode).to.equal(1);
    expect(run.report.stage).to.equal(0);
    expect(lineOf(run.report, "contract.app-auth")).to.deep.include({
      level: "PASS",
      title: "answers dstack's IAppAuth, without ERC-165",
    });
    expect(lineOf(run.report, "upgrade-path")).to.deep.include({
      level: "FAIL",
      title: "instant upgrade path: Stage 0",
    });
  });

  describe("an address that is not an AppAuth: refused in one line, exit code 1, nothing graded", function () {
    /** Runs the report on `app` and checks that it refused without grading; returns the error message. */
    async function refused(app: string, json = false): Promise<string> {
      const run = await runTask("devproof-report", { app, json });
      expect(run.result.success).to.equal(false);
      expect(run.result.success || run.result.error instanceof BelowStageOne).to.equal(false);
      expect(run.stdout).to.not.match(/Stage|PASS|FAIL|upgrade path/);
      expect(run.stderr).to.equal(`Error: ${run.errorMessage}`);
      return run.errorMessage;
    }
    const block = async () => ethers.provider.getBlockNumber();

    it("an account without code (an EOA)", async function () {
      const [, stranger] = await ethers.getSigners();
      expect(await refused(stranger!.address)).to.equal(
        `nothing to report: there is no contract at ${stranger!.address} on chain 31337 (block ${await block()}): ` +
          "it is an account without code (an EOA), or nothing is deployed there on this chain; " +
          "check --app (the app id) and --network",
      );
    });

    it("a ReplicationRegistry (no ERC-165, no isAppAllowed)", async function () {
      const { registry } = await networkHelpers.loadFixture(registryFixture);
      const address = await registry.getAddress();
      expect(await refused(address, true)).to.equal(
        `nothing to report: the contract at ${address} on chain 31337 (block ${await block()}) is not a dstack ` +
          "AppAuth: it has no ERC-165 (supportsInterface reverts), and isAppAllowed(bootInfo), the call dstack's KMS " +
          "makes at every boot, does not answer (it reverts, or returns no (bool, string)); " +
          "check --app (the app id) and --network",
      );
    });

    it("a contract that answers every call with one zero word", async function () {
      const address = "0x00000000000000000000000000000000c0ffee02";
      await networkHelpers.setCode(address, "0x60206000f3"); // RETURN(0, 32)
      expect(await refused(address)).to.contain(
        "is not a dstack AppAuth: supportsInterface(0x1e079198) is false, and isAppAllowed(bootInfo)",
      );
    });

    it("a contract that claims IAppAuth (every call answers true) but whose isAppAllowed does not answer", async function () {
      const address = "0x00000000000000000000000000000000c0ffee03";
      await networkHelpers.setCode(address, "0x600160005260206000f3"); // MSTORE(0, 1) RETURN(0, 32)
      expect(await refused(address)).to.contain(
        "is not a dstack AppAuth: it says it implements IAppAuth (supportsInterface(0x1e079198) is true), but " +
          "isAppAllowed(bootInfo), the call dstack's KMS makes at every boot, does not answer",
      );
    });

    it("but a node that fails is an error, never taken for a contract that does not answer", async function () {
      const { app } = await networkHelpers.loadFixture(demoLike);
      const failing = new Proxy(ethers.provider, {
        get(target, property, receiver) {
          if (property === "call") return () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:8545"));
          const value = Reflect.get(target, property, receiver) as unknown;
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      await readDevProofSnapshot(failing, app).then(
        () => expect.fail("the snapshot should fail"),
        (error: Error) => expect(error.message).to.contain("ECONNREFUSED"),
      );
    });

    it("dstack's KMS, which answers IAppAuth itself", async function () {
      const [owner] = await ethers.getSigners();
      const kms = await ethers.deployContract("KmsStandIn", [owner!.address]);
      const address = await kms.getAddress();
      expect(await refused(address)).to.equal(
        `nothing to report: the contract at ${address} on chain 31337 (block ${await block()}) is a dstack KMS ` +
          "(it answers registeredApps and allowedOsImages), not an app's auth contract: an app's id is the address " +
          "of its own AppAuth; check --app (the app id) and --network",
      );
    });
  });

  it("an implementation in the EIP-1967 slot is an instant upgrade path too", async function () {
    const { app } = await networkHelpers.loadFixture(thirtyDays);
    await networkHelpers.setStorageAt(app, EIP1967_SLOTS.implementation, `0x${"00".repeat(12)}${"be".repeat(20)}`);
    const run = await report({ app });
    expect(run.report.stage).to.equal(0);
    expect(lineOf(run.report, "contract.proxy").evidence).to.contain(ethers.getAddress(`0x${"be".repeat(20)}`));
  });

  it("disabled upgrades pass whatever the notice", async function () {
    const { appAuth, app } = await networkHelpers.loadFixture(oneHour);
    await appAuth.disableUpgrades();
    const run = await report({ app });
    expect(run.exitCode).to.equal(0);
    expect(run.report.stage).to.equal(2);
    expect(levels(run.report)).to.deep.include({ upgrades: "PASS", "notice.stage1": "PASS" });
  });

  it("lists a pending widening proposal with its time left, and a proposed compose file as not yet allowed", async function () {
    const { appAuth, app } = await networkHelpers.loadFixture(demoLike);
    const v2 = (await composeHashOfFile(V2)).bytesHash;
    await appAuth.proposeComposeHash(v2, "https://example.org/v2.json");
    await networkHelpers.time.increase(DAY);
    const run = await report({ app, compose: V2 });
    const pending = run.report.lines.find((l) => l.id.startsWith("proposal."));
    expect(pending).to.deep.include({ level: "WARN", title: `pending widening change: add compose hash ${v2}` });
    expect(pending!.evidence).to.match(
      /\(ready in 6d 0h 0m\): audit it, or leave before then; compose file: https:\/\/example.org\/v2.json$/,
    );
    expect(lineOf(run.report, "compose.hash")).to.deep.include({
      level: "WARN",
      title: "the compose file is proposed, not yet allowed",
    });
    expect(run.report.stage).to.equal(1);
  });

  it("checks the KMS registration with --kms, and a contract owner", async function () {
    const [signer] = await ethers.getSigners();
    const kms = await ethers.deployContract("KmsStandIn", [signer!.address]);
    const kmsAddress = await kms.getAddress();
    const { app } = await deployWithNotice(7n * DAY, kmsAddress); // any contract will do as the owner
    const before = await report({ app, kms: kmsAddress });
    expect(lineOf(before.report, "kms.registered").level).to.equal("FAIL");
    expect(lineOf(before.report, "owner").level).to.equal("PASS");
    expect(before.exitCode).to.equal(1);
    await kms.registerApp(app);
    const after = await report({ app, kms: kmsAddress });
    expect(lineOf(after.report, "kms.registered").level).to.equal("PASS");
    expect(after.exitCode).to.equal(0);
  });

  it("fails the operator gap of a compose file: unpinned image, redirecting variable, no KMS, privileged", async function () {
    const { app } = await networkHelpers.loadFixture(demoLike);
    const example = JSON.parse(await readFile(V1, "utf8")) as Record<string, unknown>;
    const file = await writeTempFile(
      "app-compose.json",
      JSON.stringify({
        ...example,
        allowed_envs: ["BACKEND_URL"],
        kms_enabled: false,
        docker_compose_file:
          "services:\n  app:\n    image: ghcr.io/example/devproof-app:latest\n    privileged: true\n" +
          "    environment:\n      - BACKEND_URL\n",
      }),
    );
    const run = await report({ app, compose: file });
    expect(run.exitCode).to.equal(1);
    expect(levels(run.report)).to.deep.include({
      "compose.hash": "FAIL",
      "compose.images": "FAIL",
      "compose.env.redirect": "FAIL",
      "compose.kms": "FAIL",
      "compose.privileged": "WARN",
    });
    expect(lineOf(run.report, "compose.env.redirect").title).to.contain("BACKEND_URL");
  });

  it("refuses bad input with one line", async function () {
    expect((await runTask("devproof-report", {})).errorMessage).to.contain("--app is required");
    const { app } = await networkHelpers.loadFixture(demoLike);
    expect((await runTask("devproof-report", { app, compose: "/nonexistent.json" })).errorMessage).to.equal(
      "cannot read --compose /nonexistent.json: ENOENT",
    );
    const ok = await runTaskOk("devproof-report", { app });
    expect(ok.stdout).to.contain("KMS registration not checked");
  });

  describe("timelocked AppAuths that are not ours, and the KMS", function () {
    /** dstack's tutorial TimelockAppAuth shape: 7-day notice, one open proposal; a KMS whose proxy slot is set. */
    async function tutorialApp() {
      const [signer] = await ethers.getSigners();
      const v1 = (await composeHashOfFile(V1)).bytesHash;
      const appAuth = await ethers.deployContract("TutorialTimelockAppAuth", [7n * DAY, true, v1]);
      await (await appAuth.getFunction("proposeComposeHash")(`0x${"22".repeat(32)}`)).wait();
      const kms = await ethers.deployContract("KmsStandIn", [signer!.address]);
      const app = await appAuth.getAddress();
      await (await kms.getFunction("registerApp")(app)).wait();
      // dstack's DstackKms is a UUPS proxy: the stand-in gets an implementation in its EIP-1967 slot.
      await networkHelpers.setStorageAt(
        await kms.getAddress(),
        EIP1967_SLOTS.implementation,
        `0x${"00".repeat(12)}${"7e".repeat(20)}`,
      );
      return { app, kms: await kms.getAddress(), owner: signer!.address };
    }

    it("reads the tutorial's notice and open proposal, says it cannot verify the rule, never 'Stage 0, instant'", async function () {
      const { app, kms, owner } = await networkHelpers.loadFixture(tutorialApp);
      const run = await report({ app, kms });
      expect(run.exitCode).to.equal(1);
      expect(run.report.stage).to.equal(1);
      expect(run.report.unverified).to.equal(true);
      expect(run.report.stageTitle).to.contain("UNVERIFIED");
      expect(levels(run.report)).to.deep.include({
        "contract.timelocked": "INFO",
        "upgrade-path": "WARN",
        "notice.stage1": "WARN",
        "kms.registered": "PASS",
        "kms.upgradeable": "WARN",
        "kms.owner": "WARN",
        "kms.os-pin": "INFO",
      });
      expect(lineOf(run.report, "upgrade-path").title).to.contain("cannot verify the notice rule: read");
      expect(lineOf(run.report, "notice.stage1").evidence).to.contain("noticePeriod() = 7d 0h 0m");
      expect(lineOf(run.report, `proposal.0x22222222`).evidence).to.match(/ready in [67]d/);
      expect(lineOf(run.report, "kms.upgradeable").evidence).to.contain(
        `implementation 0x${"7e".repeat(20)}`.slice(0, 20),
      );
      expect(lineOf(run.report, "kms.owner").evidence).to.contain(owner);
      expect(run.stdout).not.to.contain("no notice period");
      expect(run.stdout).not.to.contain("take effect in the block");
    });

    it("fails a tutorial-shaped contract whose notice is under 7 days, as it says: Stage 0, the rule still unverified", async function () {
      const short = await ethers.deployContract("TutorialTimelockAppAuth", [120n, true, `0x${"11".repeat(32)}`]);
      const run = await report({ app: await short.getAddress() });
      expect(run.exitCode).to.equal(1);
      expect(levels(run.report)).to.deep.include({ "upgrade-path": "WARN", "notice.stage1": "FAIL" });
    });

    it("recognises an AppAuth whose owner is OpenZeppelin's TimelockController: WARN, unverified, with its delay", async function () {
      const [signer] = await ethers.getSigners();
      const timelock = await ethers.deployContract("TimelockController", [
        7n * DAY,
        [signer!.address],
        [signer!.address],
        signer!.address,
      ]);
      const stock = await ethers.deployContract("StockAppAuth", [
        await timelock.getAddress(),
        true,
        ethers.ZeroHash,
        `0x${"11".repeat(32)}`,
      ]);
      const run = await report({ app: await stock.getAddress() });
      expect(run.exitCode).to.equal(1);
      expect(run.report.stage).to.equal(1);
      expect(lineOf(run.report, "upgrade-path")).to.include({ level: "WARN" });
      expect(lineOf(run.report, "upgrade-path").evidence).to.contain("RoleGranted");
      expect(lineOf(run.report, "notice.stage1").evidence).to.contain("getMinDelay() of the owner timelock = 7d");
    });
  });
});
