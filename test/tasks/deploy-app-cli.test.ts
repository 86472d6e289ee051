/**
 * `deploy-app` next to `npx hardhat ignition deploy`, through the real CLI: against a `hardhat node` subprocess
 * (`--network localhost`) and against a chain with Base's chain id (`--network base`, a public chain for Ignition:
 * no journal wiping, only reconciliation). Journals and records land where a user's would (ignition/deployments/,
 * deployments/), under deployment ids of this run, removed afterwards.
 */
import { execFile } from "node:child_process";
import { lookup } from "node:dns/promises";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

import { expect } from "chai";
import { JsonRpcProvider } from "ethers";

import type { DeploymentRecord } from "../../lib/deployments.js";
import { APP_FUTURE_ID } from "../../tasks/deploy-app.js";
import { FUNDED_KEY, serveBaseStandIn, type BaseStandIn } from "../helpers/base-stand-in.js";
import { runHardhat, startHardhatNode, type CliRun, type HardhatNode } from "../helpers/cli.js";

const git = async (...args: string[]) => (await promisify(execFile)("git", args)).stdout.trim();

const LOCALHOST_PARAMETERS = "ignition/parameters/localhost.json";
const MODULE = "ignition/modules/TimelockedAppAuth.ts";

/** Deployment ids of this run: their journals and records are removed when it ends. */
const ids: string[] = [];
function nextId(): string {
  const id = `test-cli-${process.pid}-${ids.length + 1}`;
  ids.push(id);
  return id;
}

async function deployedAddress(id: string): Promise<string> {
  const addresses = JSON.parse(
    await readFile(path.join("ignition/deployments", id, "deployed_addresses.json"), "utf8"),
  );
  return (addresses as Record<string, string>)[APP_FUTURE_ID]!;
}

async function readRecord(id: string): Promise<DeploymentRecord> {
  return JSON.parse(await readFile(path.join("deployments", `${id}.json`), "utf8")) as DeploymentRecord;
}

function expectSuccess(run: CliRun): void {
  expect(run.signal, `killed by the guard:\n${run.stdout}\n${run.stderr}`).to.equal(null);
  expect(run.code, `${run.stdout}\n${run.stderr}`).to.equal(0);
}

describe("deploy-app and `ignition deploy` (the real CLI)", function () {
  // Each command is a Hardhat process; the first deploy compiles the production profile.
  this.timeout(300_000);

  after(async function () {
    for (const id of ids) {
      await rm(path.join("ignition/deployments", id), { recursive: true, force: true });
      await rm(path.join("deployments", `${id}.json`), { force: true });
    }
  });

  describe("--network localhost (a `hardhat node` subprocess)", function () {
    let node: HardhatNode;
    let env: Record<string, string>;
    before(async function () {
      node = await startHardhatNode();
      env = { LOCAL_RPC_URL: node.url };
    });
    after(async function () {
      await node?.stop();
    });

    it("deploy-app after `ignition deploy` from the same parameters file resumes it and sends nothing", async function () {
      const id = nextId();
      const ignition = await runHardhat(
        [
          "ignition",
          "deploy",
          MODULE,
          "--network",
          "localhost",
          "--parameters",
          LOCALHOST_PARAMETERS,
          "--deployment-id",
          id,
        ],
        { env },
      );
      expectSuccess(ignition);
      const app = await deployedAddress(id);
      const provider = new JsonRpcProvider(node.url);
      const blockBefore = await provider.getBlockNumber();

      const run = await runHardhat(["deploy-app", "--network", "localhost", "--deployment-id", id], { env });
      expectSuccess(run);
      expect(run.stdout).to.include(`Parameters from ${LOCALHOST_PARAMETERS}:`);
      expect(run.stdout).to.include(`Nothing deployed: TimelockedAppAuth is already at ${app}`);
      expect(await provider.getBlockNumber()).to.equal(blockBefore);
      expect((await readRecord(id)).contracts[APP_FUTURE_ID]?.address).to.equal(app);
      provider.destroy();
    });

    it("stamps the record with the commit the checkout was at (+dirty only if it already had changes): the run changes no tracked file", async function () {
      const commit = await git("rev-parse", "HEAD");
      const changesBefore = await git("status", "--porcelain", "--untracked-files=no");
      const id = nextId();

      const run = await runHardhat(["deploy-app", "--network", "localhost", "--deployment-id", id], { env });
      expectSuccess(run);
      expect((await readRecord(id)).sourceCommit).to.equal(changesBefore === "" ? commit : `${commit}+dirty`);
      expect(await git("status", "--porcelain", "--untracked-files=no")).to.equal(changesBefore);
    });
  });

  describe("--network base (a chain with Base's chain id; no key in any file)", function () {
    let base: BaseStandIn;
    let env: Record<string, string>;
    before(async function () {
      base = await serveBaseStandIn();
      env = {
        BASE_RPC_URL: base.url,
        DEPLOYER_PRIVATE_KEY: FUNDED_KEY,
        // Ignition asks before deploying to a chain other than 31337.
        HARDHAT_IGNITION_CONFIRM_DEPLOYMENT: "true",
      };
    });
    after(async function () {
      await base?.close();
    });

    const deployApp = (id: string, ...more: string[]) =>
      runHardhat(
        ["deploy-app", "--network", "base", "--parameters", LOCALHOST_PARAMETERS, "--deployment-id", id, ...more],
        {
          env,
        },
      );
    const ignitionDeploy = (id: string, parameters: string) =>
      runHardhat(["ignition", "deploy", MODULE, "--network", "base", "--parameters", parameters, "--deployment-id", id], {
        env,
      });

    it("`ignition deploy` after deploy-app, from the same file, finds the deployment complete", async function () {
      const id = nextId();
      expectSuccess(await deployApp(id));
      const app = (await readRecord(id)).contracts[APP_FUTURE_ID]!.address;
      const blockBefore = await base.connection.ethers.provider.getBlockNumber();

      const run = await ignitionDeploy(id, LOCALHOST_PARAMETERS);
      expectSuccess(run);
      expect(run.stdout).to.include(`${APP_FUTURE_ID} - ${app}`);
      expect(await base.connection.ethers.provider.getBlockNumber()).to.equal(blockBefore);
    });

    it("deploy-app resumes a journal holding the notice as a bigint (as deploy-app wrote it before), sending nothing", async function () {
      const id = nextId();
      const file = JSON.parse(await readFile(LOCALHOST_PARAMETERS, "utf8")) as {
        TimelockedAppAuth: Record<string, unknown>;
      };
      file.TimelockedAppAuth.noticePeriod = `${file.TimelockedAppAuth.noticePeriod}n`;
      expectSuccess(await ignitionDeploy(id, JSON.stringify(file)));
      const journal = await readFile(path.join("ignition/deployments", id, "journal.jsonl"), "utf8");
      expect(journal).to.include('{"_kind":"bigint","value":"604800"}');
      const blockBefore = await base.connection.ethers.provider.getBlockNumber();

      const run = await deployApp(id);
      expectSuccess(run);
      expect(run.stdout).to.include(`Nothing deployed: TimelockedAppAuth is already at ${await deployedAddress(id)}`);
      expect(await base.connection.ethers.provider.getBlockNumber()).to.equal(blockBefore);
    });

    it("--verify on a machine that cannot reach the explorers: one line per explorer naming the cause, no retry", async function () {
      const online = await lookup("api.etherscan.io").then(
        () => true,
        () => false,
      );
      if (online) {
        console.log("      skipped: this machine resolves api.etherscan.io, so the offline path cannot be exercised");
        this.skip();
      }
      const run = await runHardhat(
        [
          "deploy-app",
          "--network",
          "base",
          "--parameters",
          LOCALHOST_PARAMETERS,
          "--deployment-id",
          nextId(),
          "--verify",
        ],
        { env: { ...env, ETHERSCAN_API_KEY: "an-etherscan-v2-key" } },
      );
      expect(run.signal).to.equal(null);
      expect(run.code).to.equal(1);
      expect(run.stdout).not.to.include("trying again");
      expect(run.errorLines.filter((line) => !line.startsWith("Warning: "))).to.deep.equal([
        "Error: the contract is deployed and recorded, but verification failed:",
        "  - etherscan: this machine cannot reach Basescan at api.etherscan.io: its host name does not resolve " +
          "(DNS ENOTFOUND); check its internet connection (and proxy settings)",
        "  - sourcify: this machine cannot reach Sourcify at sourcify.dev: its host name does not resolve " +
          "(DNS ENOTFOUND); check its internet connection (and proxy settings)",
        "Re-run the same command to retry: it deploys nothing and registers nothing again.",
      ]);
    });
  });
});
