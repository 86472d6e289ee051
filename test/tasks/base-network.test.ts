/**
 * `--network base` as a user meets it, through the real CLI in a subprocess: `BASE_RPC_URL` points at a chain with
 * Base's chain id served over HTTP on this machine; no terminal, no `.env`, and the user's own keystore out of reach
 * (tests/helpers/cli.ts).
 */
import { expect } from "chai";

import { serveBaseStandIn, type BaseStandIn } from "../helpers/base-stand-in.js";
import { runCli } from "../helpers/cli.js";
import { DEVICE_A, HASH_V1, INITIAL_URI, NOTICE } from "./helpers.js";

describe("--network base without surprises (the real CLI against local stand-ins)", function () {
  // Each run starts a Hardhat process (a few seconds).
  this.timeout(300_000);

  let base: BaseStandIn;
  let app: string;

  before(async function () {
    base = await serveBaseStandIn();
    const [owner] = await base.connection.ethers.getSigners();
    const appAuth = await base.connection.ethers.deployContract("TimelockedAppAuth", [
      owner!.address,
      NOTICE,
      HASH_V1,
      INITIAL_URI,
      [DEVICE_A],
      false,
      true,
    ]);
    app = await appAuth.getAddress();
  });

  after(async function () {
    await base?.close();
  });

  const appStatus = (rpcUrl: string) =>
    runCli(["app-status", "--network", "base", "--app", app], { env: { BASE_RPC_URL: rpcUrl } });
  describe("read-only tasks need no key", function () {
    it("app-status reads Base with DEPLOYER_PRIVATE_KEY unset", async function () {
      const run = await appStatus(base.url);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.include(`TimelockedAppAuth ${app} on network "base" (chain 8453)`);
      expect(run.stdout).to.include(`${HASH_V1}  [current release]`);
      expect(run.stderr).to.equal("");
    });

    it("devproof-report reads Base with DEPLOYER_PRIVATE_KEY unset", async function () {
      const run = await runCli(["devproof-report", "--network", "base", "--app", app], {
        env: { BASE_RPC_URL: base.url },
      });
      expect(run.signal).to.equal(null);
      expect(run.stdout, run.stderr).to.match(/Stage [012]/);
      expect(run.stderr).not.to.include("DEPLOYER_PRIVATE_KEY");
    });
  });
});
