// Sets up a STAND-IN of dstack's KMS on a local node, for the forked-mainnet tests to fork when no Base RPC is
// reachable (CI): deploys KmsStandIn, allows two OS images (and adds and removes a third, so the tests must tell
// them apart from the events, as on Base), and writes what it did to cache/fork-stand-in.json.
//
//   LOCAL_RPC_URL=http://127.0.0.1:8546 npx hardhat run --network localhost scripts/fork-stand-in.ts
//
// `npm run test:fork-stand-in` starts the node, runs this, runs test/fork/ against it, and stops the node.
import hre from "hardhat";

import { readForkConfig, writeStandInRecord } from "../lib/fork.js";

const url = process.env["LOCAL_RPC_URL"];
if (url === undefined || hre.globalOptions.network !== "localhost") {
  throw new Error("run it with --network localhost and LOCAL_RPC_URL set to the node the fork tests will fork");
}

const connection = await hre.network.getOrCreate();
const { ethers } = connection;
const config = await readForkConfig(hre.config.paths.root);
const [owner] = await ethers.getSigners();
if (owner === undefined) throw new Error(`the node at ${url} has no unlocked account`);

const image = (name: string) => ethers.id(`stand-in OS image ${name}`);
const kms = await ethers.deployContract("KmsStandIn", [owner.address]);
await kms.waitForDeployment();
await (await kms.addOsImageHash(image("A"))).wait();
await (await kms.addOsImageHash(image("B"))).wait();
await (await kms.addOsImageHash(image("C"))).wait();
await (await kms.removeOsImageHash(image("C"))).wait();

const chainId = Number((await ethers.provider.getNetwork()).chainId);
const blockNumber = await ethers.provider.getBlockNumber();
const file = await writeStandInRecord(hre.config.paths.root, {
  url,
  chainId,
  kms: await kms.getAddress(),
  blockNumber,
  allowedOsImageHashes: [image("B"), image("A")],
  // Windows of two blocks, so the tests walk the events across several eth_getLogs calls, as on Base.
  logScan: { chunkBlocks: 2, maxBlocks: config.logScan.maxBlocks },
});
console.log(
  `STAND-IN: KmsStandIn (not dstack's KMS) at ${await kms.getAddress()} on ${url} (chain ${chainId}), ` +
    `2 OS images allowed, block ${blockNumber}; wrote ${file}`,
);
