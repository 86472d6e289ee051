import { HardhatError } from "@nomicfoundation/hardhat-errors";
import { expect } from "chai";
import { readFile } from "node:fs/promises";
import hre from "hardhat";

import type { DeploymentRecord } from "../../lib/deployments.js";
import { MAX_NOTICE_SECONDS, MIN_NOTICE_SECONDS } from "../../lib/deployParameters.js";
import { NegativeAnswer } from "../../lib/errors.js";
import type { CompareBytecodeResult } from "../../tasks/compare-bytecode.js";
import { APP_FUTURE_ID, verifySources, type DeployAppResult, type Verifier } from "../../tasks/deploy-app.js";
import { composeUriOf } from "../helpers/appAuth.js";
import {
  captureOutput,
  DEVICE_A,
  ethers,
  HASH_V1,
  INITIAL_URI,
  NOTICE,
  networkHelpers,
  runTask,
  runTaskOk,
  writeTempFile,
} from "./helpers.js";

/** Each test deploys under its own Ignition deployment id, so journals never mix. */
let deployments = 0;
const nextId = () => `test-deploy-${++deployments}`;

async function parametersFile(overrides: Record<string, unknown> = {}): Promise<string> {
  const [owner] = await ethers.getSigners();
  return writeTempFile(
    "parameters.json",
    JSON.stringify({
      TimelockedAppAuth: {
        owner: owner!.address,
        noticePeriod: Number(NOTICE),
        initialComposeHash: HASH_V1,
        initialComposeUri: INITIAL_URI,
        initialDevices: [DEVICE_A],
        allowAnyDevice: false,
        requireTcbUpToDate: true,
        ...overrides,
      },
    }),
  );
}

async function readRecord(result: DeployAppResult): Promise<DeploymentRecord> {
  return JSON.parse(await readFile(result.recordPath, "utf8")) as DeploymentRecord;
}

const latestBlock = () => ethers.provider.getBlockNumber();

describe("deploy-app", function () {
  // The first run compiles the production profile.
  this.timeout(120_000);

  it("deploys from a checked parameters file and writes the deployment record", async function () {
    const parameters = await parametersFile();
    const run = await runTaskOk<DeployAppResult>("deploy-app", { parameters, deploymentId: nextId() });
    const { app, contract, deployedNow } = run.value;

    expect(deployedNow).to.equal(true);
    expect(run.stdout).to.include(`Deployed TimelockedAppAuth at ${app} in block ${contract.blockNumber}`);
    // config/kms.json has no KMS for a local chain, so the hint asks for one.
    expect(run.stdout).to.include(`npx hardhat register-app --app ${app} --kms <address> --network default`);
    const appAuth = await ethers.getContractAt("TimelockedAppAuth", app);
    expect(await appAuth.noticePeriod()).to.equal(NOTICE);
    expect(await appAuth.allowedComposeHashes(HASH_V1)).to.equal(true);
    expect(await composeUriOf(appAuth, HASH_V1)).to.equal(INITIAL_URI);

    const record = await readRecord(run.value);
    expect(record).to.deep.include({ deploymentId: run.value.deploymentId, chainId: 31337 });
    const [owner] = await ethers.getSigners();
    expect(record.contracts[APP_FUTURE_ID]).to.deep.include({
      contractName: "TimelockedAppAuth",
      address: app,
      constructorArgs: [owner!.address, NOTICE.toString(), HASH_V1, INITIAL_URI, [DEVICE_A], false, true],
    });
    const receipt = await ethers.provider.getTransactionReceipt(contract.txHash);
    expect(receipt?.contractAddress).to.equal(app);
    expect(record.kmsRegistrations).to.equal(undefined);
    expect(record.sourceCommit).to.match(/^[0-9a-f]{40}(\+dirty)?$/);
  });

  it("deploys nothing when run again, and says so", async function () {
    const parameters = await parametersFile();
    const deploymentId = nextId();
    const first = await runTaskOk<DeployAppResult>("deploy-app", { parameters, deploymentId });
    const blockBefore = await latestBlock();

    const again = await runTaskOk<DeployAppResult>("deploy-app", { parameters, deploymentId });

    expect(again.value.deployedNow).to.equal(false);
    expect(again.value.app).to.equal(first.value.app);
    expect(again.stdout).to.include(
      `Nothing deployed: TimelockedAppAuth is already at ${first.value.app} (block ${first.value.contract.blockNumber}`,
    );
    expect(again.stdout).to.include("sent nothing");
    expect(await latestBlock()).to.equal(blockBefore);
  });

  it("refuses a parameters file with mistakes, listing each, and sends nothing", async function () {
    const parameters = await parametersFile({
      noticePeriod: 60,
      initialComposeHash: "0x1234",
      initialDevice: [DEVICE_A],
      owner: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb9226X",
    });
    const blockBefore = await latestBlock();
    const run = await runTask("deploy-app", { parameters, deploymentId: nextId() });

    expect(run.result.success).to.equal(false);
    expect(run.errorMessage).to.match(/^parameters file .*parameters\.json is not valid; nothing was sent:/);
    expect(run.errorMessage).to.include('unknown parameter "initialDevice"');
    expect(run.errorMessage).to.include("is not an address (0x + 40 hex digits)");
    expect(run.errorMessage).to.include(
      `noticePeriod 60 s (1m) is outside the contract's bounds: ${MIN_NOTICE_SECONDS} s (1h 0m) to ${MAX_NOTICE_SECONDS} s (365d 0h 0m)`,
    );
    expect(run.errorMessage).to.include('initialComposeHash "0x1234" is not 0x followed by 64 hex digits');
    expect(await latestBlock()).to.equal(blockBefore);
  });

  it("refuses a compose hash without a URI", async function () {
    const run = await runTask("deploy-app", { parameters: await parametersFile({ initialComposeUri: "" }) });
    expect(run.errorMessage).to.include(
      "initialComposeHash needs an initialComposeUri: where guest agents and auditors fetch the compose file",
    );
  });

  it("warns below the 7-day Stage-1 notice, but deploys", async function () {
    const parameters = await parametersFile({ noticePeriod: 24 * 3600 });
    const run = await runTaskOk<DeployAppResult>("deploy-app", { parameters, deploymentId: nextId() });
    expect(run.stderr).to.include("Warning: noticePeriod 1d 0h 0m is below the 7-day Stage-1 bar (ERC-733 / L2BEAT)");
    expect(run.value.deployedNow).to.equal(true);
  });

  it("refuses a deploying account without funds before sending anything", async function () {
    const [, , poor] = await ethers.getSigners();
    const balance = await ethers.provider.getBalance(poor!.address);
    await networkHelpers.setBalance(poor!.address, 0n);
    const run = await runTask("deploy-app", {
      parameters: await parametersFile(),
      deploymentId: nextId(),
      from: poor!.address,
    }).finally(() => networkHelpers.setBalance(poor!.address, balance));
    expect(run.errorMessage).to.equal(
      `the deploying account ${poor!.address} has no funds on network "default" (chain 31337); nothing was sent`,
    );
  });

  it("looks for ignition/parameters/<network>.json by default", async function () {
    const run = await runTask("deploy-app", {});
    expect(run.errorMessage).to.equal(
      "parameters file ignition/parameters/default.json does not exist: create it (see " +
        "ignition/parameters/base.example.json) or pass --parameters <file>",
    );
  });

  it("refuses other parameters for a finished deployment id (Ignition reconciles), sending nothing", async function () {
    const deploymentId = nextId();
    await runTaskOk("deploy-app", { parameters: await parametersFile(), deploymentId });
    const blockBefore = await latestBlock();
    const run = await runTask("deploy-app", {
      parameters: await parametersFile({ noticePeriod: 14 * 24 * 3600 }),
      deploymentId,
    });
    expect(run.errorMessage).to.match(
      /^Ignition did not deploy: The deployment wasn't run because of the following reconciliation errors/,
    );
    expect(run.errorMessage).to.include(`Deployment "${deploymentId}" was made with other parameters`);
    expect(await latestBlock()).to.equal(blockBefore);
  });

  describe("--kms", function () {
    it("registers the app with the KMS and records the transaction; a re-run skips registration", async function () {
      const kms = await ethers.deployContract("KmsStandIn", [(await ethers.getSigners())[0]!.address]);
      const kmsAddress = await kms.getAddress();
      const parameters = await parametersFile();
      const deploymentId = nextId();

      const first = await runTaskOk<DeployAppResult>("deploy-app", { parameters, deploymentId, kms: kmsAddress });
      const { app, registration } = first.value;
      expect(await kms.registeredApps(app)).to.equal(true);
      expect(registration).to.deep.include({ kms: kmsAddress, app, alreadyRegistered: false });
      expect(first.stdout).to.include(`app ${app} is registered with KMS ${kmsAddress}`);
      const recorded = (await readRecord(first.value)).kmsRegistrations;
      expect(recorded).to.deep.equal([
        { kms: kmsAddress, app, txHash: registration!.txHash, blockNumber: registration!.blockNumber },
      ]);

      const blockBefore = await latestBlock();
      const again = await runTaskOk<DeployAppResult>("deploy-app", { parameters, deploymentId, kms: kmsAddress });
      expect(again.value.deployedNow).to.equal(false);
      expect(again.value.registration?.alreadyRegistered).to.equal(true);
      expect(again.stdout).to.include(`App ${app} is already registered with KMS ${kmsAddress}: nothing sent.`);
      expect(await latestBlock()).to.equal(blockBefore);
      // The record keeps the transaction that did register it.
      expect((await readRecord(again.value)).kmsRegistrations).to.deep.equal(recorded);
    });

    it("refuses a KMS address without code before deploying", async function () {
      const blockBefore = await latestBlock();
      const run = await runTask("deploy-app", {
        parameters: await parametersFile(),
        deploymentId: nextId(),
        kms: "0x000000000000000000000000000000000000dEaD",
      });
      expect(run.errorMessage).to.equal(
        'no contract at KMS address 0x000000000000000000000000000000000000dEaD on network "default" (chain 31337): ' +
          "check --kms, config/kms.json and --network",
      );
      expect(await latestBlock()).to.equal(blockBefore);
    });

    it("--register takes the KMS from config/kms.json, which has none for a local chain", async function () {
      const run = await runTask("deploy-app", { parameters: await parametersFile(), register: true });
      expect(run.errorMessage).to.match(/config\/kms\.json has no dstack KMS for chain 31337: pass --kms <address>$/);
    });
  });

  describe("--verify", function () {
    it("refuses a local chain before sending anything", async function () {
      const blockBefore = await latestBlock();
      const run = await runTask("deploy-app", { parameters: await parametersFile(), verify: true });
      expect(run.errorMessage).to.equal(
        '--verify needs a public chain: network "default" (chain 31337) is a local development chain that no ' +
          "explorer knows; nothing was sent",
      );
      expect(await latestBlock()).to.equal(blockBefore);
    });

    const contract = {
      contractName: "TimelockedAppAuth",
      address: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      deployer: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
      constructorArgs: ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "604800"],
      txHash: `0x${"ab".repeat(32)}`,
      blockNumber: 1,
      blockHash: `0x${"cd".repeat(32)}`,
    };
    const onBase = { chainId: 8453n };

    it("verifies on Basescan and Sourcify with the deployed constructor arguments, and returns the links", async function () {
      const calls: unknown[] = [];
      const verifier: Verifier = { verify: async (args) => (calls.push(args), true), retryDelaysMs: [] };
      const { value: outcome } = await captureOutput(() => verifySources(hre, onBase, contract, verifier));

      expect(outcome.failures).to.deep.equal([]);
      expect(outcome.verified).to.deep.equal([
        {
          address: contract.address,
          provider: "etherscan",
          url: `https://basescan.org/address/${contract.address}#code`,
        },
        {
          address: contract.address,
          provider: "sourcify",
          url: `https://sourcify.dev/server/repo-ui/8453/${contract.address}`,
        },
      ]);
      const fqn = "contracts/TimelockedAppAuth.sol:TimelockedAppAuth";
      expect(calls).to.deep.equal([
        { address: contract.address, constructorArgs: contract.constructorArgs, contract: fqn, provider: "etherscan" },
        {
          address: contract.address,
          constructorArgs: contract.constructorArgs,
          contract: fqn,
          provider: "sourcify",
          creationTxHash: contract.txHash,
        },
      ]);
    });

    it("retries a refused verification, then reports what still failed instead of throwing", async function () {
      let etherscanCalls = 0;
      const verifier: Verifier = {
        verify: async ({ provider }) => {
          if (provider === "sourcify") throw new Error("Sourcify is down\nmore detail");
          if (++etherscanCalls < 2) throw new Error("Unable to locate ContractCode");
          return true;
        },
        retryDelaysMs: [0, 0],
      };
      const { value: outcome, stdout } = await captureOutput(() => verifySources(hre, onBase, contract, verifier));
      expect(stdout).to.include("etherscan refused (Unable to locate ContractCode); trying again in 0 s");
      expect(etherscanCalls).to.equal(2);
      expect(outcome.verified.map((v) => v.provider)).to.deep.equal(["etherscan"]);
      expect(outcome.failures).to.deep.equal(["sourcify: Sourcify is down"]);
    });

    it("tries nothing twice that cannot succeed: an explorer this machine cannot reach, a refused API key", async function () {
      const calls = { etherscan: 0, sourcify: 0 };
      const verifier: Verifier = {
        verify: async ({ provider }) => {
          calls[provider as keyof typeof calls]++;
          // What hardhat-verify throws: EXPLORER_REQUEST_FAILED keeps only the low-level message of the failure.
          if (provider === "sourcify") {
            throw new HardhatError(HardhatError.ERRORS.HARDHAT_VERIFY.GENERAL.EXPLORER_REQUEST_FAILED, {
              name: "Sourcify",
              url: "https://sourcify.dev/server",
              errorMessage: "getaddrinfo ENOTFOUND sourcify.dev",
            });
          }
          throw new Error("The contract verification request failed: Invalid API Key (#err2)|BASE1-");
        },
        retryDelaysMs: [0, 0],
      };
      const { value: outcome, stdout } = await captureOutput(() => verifySources(hre, onBase, contract, verifier));
      expect(calls).to.deep.equal({ etherscan: 1, sourcify: 1 });
      expect(stdout).not.to.include("trying again");
      expect(outcome.failures).to.deep.equal([
        "etherscan: the explorer refused the API key (The contract verification request failed: Invalid API Key " +
          "(#err2)|BASE1-): check ETHERSCAN_API_KEY, an Etherscan v2 key (it covers Basescan)",
        "sourcify: this machine cannot reach Sourcify at sourcify.dev: its host name does not resolve (DNS " +
          "ENOTFOUND); check its internet connection (and proxy settings)",
      ]);
    });
  });
});

describe("compare-bytecode", function () {
  this.timeout(120_000);

  async function deployed() {
    const run = await runTaskOk<DeployAppResult>("deploy-app", {
      parameters: await parametersFile(),
      deploymentId: nextId(),
    });
    return { app: run.value.app, code: await ethers.provider.getCode(run.value.app) };
  }

  it("finds what deploy-app deployed identical to this checkout's production build, metadata hash included", async function () {
    const { app } = await deployed();
    const run = await runTaskOk<CompareBytecodeResult>("compare-bytecode", { app });
    expect(run.value.trailer?.solc).to.equal("0.8.28");
    expect(run.stdout).to.include(
      `match: the runtime bytecode is identical, metadata hash included (metadata ipfs://${run.value.trailer!.ipfsCid}, solc 0.8.28)`,
    );
    expect(run.value.buildInfo).to.match(/^artifacts\/build-info\/solc-0_8_28-[0-9a-f]+\.json$/);
  });

  it("says when only the metadata hash differs, and when the code does, exiting non-zero", async function () {
    const { code } = await deployed();
    const otherMetadata = "0x00000000000000000000000000000000000000e1";
    // The trailer ends with "<34-byte ipfs hash>64736f6c6343<solc version>0033": change the hash's last byte.
    const at = code.length - 2 * (2 + 3 + 6) - 2;
    await networkHelpers.setCode(
      otherMetadata,
      code.slice(0, at) + (code.slice(at, at + 2) === "00" ? "01" : "00") + code.slice(at + 2),
    );
    const metadata = await runTask("compare-bytecode", { app: otherMetadata });
    expect(metadata.result.success).to.equal(false);
    expect(metadata.result.success ? undefined : metadata.result.error).to.be.instanceOf(NegativeAnswer);
    expect(metadata.stdout).to.include("differs: the code is the same but the metadata hash is not");

    const otherCode = "0x00000000000000000000000000000000000000E2";
    await networkHelpers.setCode(
      otherCode,
      code.slice(0, 10) + (code.slice(10, 12) === "00" ? "01" : "00") + code.slice(12),
    );
    const executable = await runTask("compare-bytecode", { app: otherCode });
    expect(executable.errorMessage).to.equal(`the bytecode at ${otherCode} differs from this checkout's build (code)`);
    expect(executable.stdout).to.include("differs: the executable code itself is different");
  });

  it("refuses an address without code", async function () {
    const nobody = "0x000000000000000000000000000000000000dEaD";
    expect((await runTask("compare-bytecode", { app: nobody })).errorMessage).to.equal(
      `no contract at --app ${nobody} on network "default" (chain 31337): check --app and --network`,
    );
  });
});
