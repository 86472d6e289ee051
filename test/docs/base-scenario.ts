/**
 * What the docs' commands about Base run against: the in-process Base stand-in (test/helpers/base-stand-in.ts: Base's
 * chain id and type, served over HTTP), with dstack's KMS played by `KmsStandIn` at the address config/kms.json names
 * for Base, and an app deployed there from the scratch copy's production build (so `compare-bytecode` finds it equal)
 * — v1 allowed and current, one device, a 7-day notice, v2 proposed, registered with the KMS, which publishes the
 * stand-in KMS's keys (kmsInfo). Its variables are what
 * the docs' placeholders stand for (APP, KMS, …).
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";

import { ContractFactory, id, toBeHex, zeroPadValue, type Signer } from "ethers";

import { composeHashOfFile } from "../../lib/composeHash.js";
import { FUNDED_KEY, serveBaseStandIn } from "../helpers/base-stand-in.js";
import { REPO_ROOT, cliEnvironment } from "../helpers/cli.js";
import { STAND_IN_KMS } from "../helpers/kms-stand-in.js";

const DEVICE = `0x${"a1".repeat(32)}`;
const OS_IMAGE = id("stand-in OS image for the docs");
const NOTICE = 7 * 24 * 3600;

export interface BaseScenario {
  /** The values of the docs' placeholders, and BASE_RPC_URL / DEPLOYER_PRIVATE_KEY. */
  variables: Record<string, string>;
  stop(): Promise<void>;
}

interface Artifact {
  abi: unknown[];
  bytecode: string;
  deployedBytecode: string;
}

/**
 * The production build of the scratch copy's contracts (what `deploy-app` deploys and `compare-bytecode` rebuilds,
 * neither with the Solidity tests), made once.
 */
const productionBuilds = new Map<string, Promise<void>>();
async function productionArtifact(sandbox: string, source: string, name: string): Promise<Artifact> {
  if (!productionBuilds.has(sandbox)) {
    productionBuilds.set(
      sandbox,
      new Promise((resolve, reject) => {
        const cli = path.join(sandbox, "node_modules/hardhat/dist/src/cli.js");
        const child = spawn(
          process.execPath,
          [cli, "compile", "--build-profile", "production", "--no-tests", "--quiet"],
          {
            cwd: sandbox,
            env: cliEnvironment(),
            stdio: ["ignore", "ignore", "pipe"],
          },
        );
        let stderr = "";
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
        child.on("error", reject);
        child.on("close", (code) =>
          code === 0 ? resolve() : reject(new Error(`the production build failed:\n${stderr}`)),
        );
      }),
    );
  }
  await productionBuilds.get(sandbox);
  return JSON.parse(await readFile(path.join(sandbox, "artifacts", source, `${name}.json`), "utf8")) as Artifact;
}

async function deploy(artifact: Artifact, signer: Signer, ...args: unknown[]) {
  const contract = await new ContractFactory(artifact.abi as never, artifact.bytecode, signer).deploy(...args);
  const receipt = await contract.deploymentTransaction()!.wait();
  return { contract, address: await contract.getAddress(), block: receipt!.blockNumber };
}

/** Serves a fresh Base stand-in and sets the scenario up on it. */
export async function startBaseScenario(sandbox: string): Promise<BaseScenario> {
  const base = await serveBaseStandIn();
  try {
    const { ethers, provider } = base.connection;
    const [owner] = await ethers.getSigners();
    const send = async (call: Promise<{ wait(): Promise<unknown> }>) => (await call).wait();

    // dstack's KMS on Base, as config/kms.json names it, played by KmsStandIn: its code at that address, and its
    // owner in Ownable's slot 0.
    const kmsConfig = JSON.parse(await readFile(path.join(REPO_ROOT, "config/kms.json"), "utf8")) as Record<
      string,
      { address: string }
    >;
    const kmsAddress = kmsConfig["8453"]!.address;
    const kmsArtifact = await productionArtifact(sandbox, "contracts/reference/KmsStandIn.sol", "KmsStandIn");
    await provider.request({ method: "hardhat_setCode", params: [kmsAddress, kmsArtifact.deployedBytecode] });
    await provider.request({
      method: "hardhat_setStorageAt",
      params: [kmsAddress, toBeHex(0, 32), zeroPadValue(owner!.address, 32)],
    });
    const kms = new ContractFactory(kmsArtifact.abi as never, kmsArtifact.bytecode, owner).attach(kmsAddress);
    await send(kms.getFunction("addOsImageHash")(OS_IMAGE));
    // It publishes the stand-in KMS's keys, whose CA key the example compose files pin (examples/README.md).
    await send(
      kms.getFunction("setKmsInfo")({
        k256Pubkey: STAND_IN_KMS.root.compressedPublicKey,
        caPubkey: STAND_IN_KMS.caPublicKey,
        quote: "0x",
        eventlog: "0x",
      }),
    );

    const v1 = await composeHashOfFile(path.join(REPO_ROOT, "examples/app-compose.v1.json"));
    const v2 = await composeHashOfFile(path.join(REPO_ROOT, "examples/app-compose.v2.json"));
    const appArtifact = await productionArtifact(sandbox, "contracts/TimelockedAppAuth.sol", "TimelockedAppAuth");
    const app = await deploy(
      appArtifact,
      owner!,
      owner!.address,
      NOTICE,
      v1.bytesHash,
      "https://example.org/releases/v1/app-compose.json",
      [DEVICE],
      false,
      true,
    );
    await send(
      app.contract.getFunction("proposeComposeHash")(v2.bytesHash, "https://example.org/releases/v2/app-compose.json"),
    );
    await send(kms.getFunction("registerApp")(app.address));
    // Blocks on top, so that what the scenario did is confirmed for readers that wait for confirmations (watch).
    await provider.request({ method: "hardhat_mine", params: ["0x5"] });

    return {
      variables: {
        BASE_RPC_URL: base.url,
        DEPLOYER_PRIVATE_KEY: FUNDED_KEY,
        APP: app.address,
        KMS: kmsAddress,
        OWNER: owner!.address,
        DEVICE,
        OS_IMAGE,
        COMPOSE_HASH: v1.bytesHash,
        DEPLOYMENT_BLOCK: String(app.block),
      },
      stop: () => base.close(),
    };
  } catch (error) {
    await base.close();
    throw error;
  }
}
