// The replication part of the demo: two nodes of the app share a secret through the app's ReplicationRegistry, and
// their guest agents do it: each node's replicator registers it, the genesis member's creates the secret, a member's
// verifies and onboards the next node, and that node's decrypts the secret. People only run tasks: the owner picks the
// genesis member once, a host submits a file, a stranger evicts a node the policy dropped.
// Evidence, not a node's word: the registry is bound to a dstack KMS (here a stand-in KmsStandIn publishing a stand-in
// KMS's keys through kmsInfo(), as dstack's DstackKms does) and takes only keys that KMS issued to the app; members
// hold every node's boot info to what its quote and event log measure.
// There is no TDX hardware here, so the nodes are TEE STAND-INS: each has a stand-in dstack guest API on a unix socket
// (test/helpers/dstack-guest-api.ts) whose quotes are a real TDX quote with the node's keys patched in. Their Intel
// signature therefore no longer holds, so both agents run in this process with a stand-in quote verification passed
// to their replicator (the agent's command line has no such option: it always verifies with Intel DCAP), and the
// tasks use the stand-in verifier while this module runs.
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Wallet, parseEther } from "ethers";
import hre from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

import ReplicationRegistryModule from "../ignition/modules/ReplicationRegistry.js";
import { composeHashOfFile } from "../lib/composeHash.js";
import { substituteQuoteVerifier } from "../tasks/shared/quote-verifier.js";
import { ReplicationRegistry__factory, TimelockedAppAuth__factory } from "../types/ethers-contracts/index.js";
import { RpcEndpoint, cleanUp, waitFor, type LogLine } from "../test/helpers/guestAgent.js";
import { ReplicatorNode, type ReplicationChain } from "../test/helpers/replicator.js";
import { STAND_IN_KMS } from "../test/helpers/kms-stand-in.js";
import { deployKms } from "../test/helpers/replication.js";
import { TDX_FIXTURE_DIR, standInVerifier } from "../test/helpers/tee-stand-in.js";

const COLLATERAL = path.relative(process.cwd(), fileURLToPath(new URL("tdx_quote_collateral.json", TDX_FIXTURE_DIR)));
/** What the agents' loops wait between passes, and how many blocks deep they read; the chain mines a block this often. */
const POLL_MS = 200;
const CONFIRMATIONS = 1;
const BLOCK_MS = 250;

function step(title: string): void {
  console.log(`\n━━ ${title}`);
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Runs a task as the command line would, printing the command first; the demo stops if it fails. */
async function runTask(name: string, args: Record<string, string | boolean>): Promise<unknown> {
  const options = Object.entries(args).map(([key, value]) =>
    value === true ? `--${kebab(key)}` : `--${kebab(key)} ${value}`,
  );
  console.log(`$ npx hardhat ${name} ${options.join(" ")}`);
  const result = (await hre.tasks.getTask(name).run(args)) as { success: boolean; value?: unknown };
  if (!result.success) throw new Error(`the demo's step "${name}" failed`);
  return result.value;
}

const fingerprint = (secret: Uint8Array) => `sha256 ${createHash("sha256").update(secret).digest("hex").slice(0, 16)}…`;

/** The agent lines worth reading in a demo: what each replicator decided, not its bookkeeping. */
const SHOWN = new Set([
  "registration",
  "registered",
  "secret",
  "onboarding",
  "refusal",
  "sponsor-refused",
  "evicted",
  "waiting",
  "tls-key-publish",
]);

/** What the TLS part of the demo goes on from: the registry, and the secret each node stored. */
export interface ReplicatedApp {
  registry: string;
  secrets: { A: Uint8Array; B: Uint8Array };
}

/** @param v1 the compose file of the release the app allowed first, which node B boots. */
export async function demoReplication(
  connection: NetworkConnection,
  appAddress: string,
  v1: string,
): Promise<ReplicatedApp> {
  const { ethers, ignition, networkHelpers, provider } = connection;
  const [, stranger, hostB] = await ethers.getSigners();
  if (stranger === undefined || hostB === undefined) throw new Error("the demo needs 3 accounts");
  const appAuth = TimelockedAppAuth__factory.connect(appAddress, ethers.provider);
  const [currentRelease] = await appAuth.currentRelease();
  const [device] = await appAuth.getDevices();
  if (device === undefined) throw new Error("the demo's app lists no device");

  const nodes: ReplicatorNode[] = [];
  const agents: Array<{ stop: () => Promise<void> }> = [];
  const rpc = await new RpcEndpoint(connection).start();
  const restore = substituteQuoteVerifier(
    standInVerifier,
    "TEE stand-in (no TDX here: a real quote with the node's keys patched in, accepted as if Intel DCAP passed)",
  );
  try {
    console.log(
      "\n━━━ Replication: the app's nodes share a secret, their agents hand it on, the policy decides who may join",
    );
    console.log(
      "The two nodes below are TEE STAND-INS (no TDX hardware here): a stand-in dstack guest API each, and their agents'\n" +
        "replicators run in this process with a stand-in quote verification. A real agent verifies every quote with Intel\n" +
        `DCAP and has no option to do otherwise. The agents read ${CONFIRMATIONS} block deep every ${POLL_MS} ms; a block comes every ${BLOCK_MS} ms.`,
    );

    step("R1. Deploy the app's ReplicationRegistry, bound for life to its TimelockedAppAuth and to dstack's KMS");
    const kms = await deployKms(ethers, STAND_IN_KMS);
    const kmsAddress = await kms.getAddress();
    console.log(
      `dstack's KMS (a STAND-IN, KmsStandIn) at ${kmsAddress} publishes its root key in kmsInfo(): ` +
        `${STAND_IN_KMS.root.compressedPublicKey}`,
    );
    const deployed = await ignition.deploy(ReplicationRegistryModule, {
      parameters: { ReplicationRegistry: { appAuth: appAddress, kms: kmsAddress } },
    });
    const registryAddress = await deployed.registry.getAddress();
    const deploymentBlock = await ethers.provider.getBlockNumber();
    const registry = ReplicationRegistry__factory.connect(registryAddress, ethers.provider);
    console.log(
      `ReplicationRegistry deployed at ${registryAddress} (block ${deploymentBlock}), bound to app ${appAddress} and ` +
        `to the KMS root ${await registry.kmsRoot()} read from kmsInfo(): only keys that root issued to this app register`,
    );
    await provider.request({ method: "evm_setIntervalMining", params: [BLOCK_MS] });

    const chain: ReplicationChain = {
      appId: appAddress,
      registryAddress,
      deploymentBlock,
      rpc,
      fundedSubmitter: async () => {
        const wallet = Wallet.createRandom();
        await networkHelpers.setBalance(wallet.address, parseEther("1"));
        return new Wallet(wallet.privateKey);
      },
    };
    const start = async (name: string, mode: "submitter" | "files", composeHash: string) => {
      const print = (line: LogLine) => {
        if (line.event !== undefined && SHOWN.has(line.event)) console.log(`  [agent of ${name}] ${line.msg}`);
      };
      const node = await ReplicatorNode.start(chain, {
        name,
        mode,
        cvm: { composeHash, deviceId: device },
        confirmations: CONFIRMATIONS,
        pollIntervalMs: POLL_MS,
        print,
      });
      nodes.push(node);
      agents.push(node.run());
      return node;
    };

    step(
      "R2. Node A (TEE stand-in) boots the current release; its agent registers it, its host's account paying the gas",
    );
    const a = await start("A", "submitter", currentRelease);
    await waitFor("A registered", () => a.replicator.status()["nodeStatus"] === "Registered", 15_000);

    step(
      "R3. The app's owner checks A's evidence like a member would (quote, measured boot, key provider, key chain), " +
        "and makes A the genesis member (once)",
    );
    await runTask("set-genesis", { registry: registryAddress, node: a.address, collateral: COLLATERAL });
    await waitFor("A's secret", () => a.events("secret").length > 0, 15_000);

    step(
      "R4. Node B (TEE stand-in) boots release v1, still allowed; its agent writes the signed registration, its host submits it",
    );
    const b = await start("B", "files", (await composeHashOfFile(v1)).bytesHash);
    await waitFor("B's registration file", () => b.events("registration").length > 0, 15_000);
    await runTask("register-node", { registry: registryAddress, file: b.registrationFile, from: hostB.address });

    step(
      "R5. A's agent verifies B's evidence and onboards it; B's agent checks its sponsors back to the genesis " +
        "member, then decrypts the secret and stores it",
    );
    await waitFor("B's secret", () => b.events("secret").length > 0, 15_000);
    const [secretOfA, secretOfB] = [await readFile(a.secretPath), await readFile(b.secretPath)];
    const same = secretOfA.equals(secretOfB);
    const mode = ((await stat(b.secretPath)).mode & 0o777).toString(8);
    console.log(
      `A holds ${fingerprint(secretOfA)}; B stored ${fingerprint(secretOfB)} (mode ${mode}): the same secret: ${same ? "yes" : "NO"}`,
    );
    if (!same) throw new Error("B stored another secret than A's");
    // The genesis member's agent also publishes the app's TLS key, derived from the secret (the TLS part shows it).
    await waitFor("A's TLS key publication", async () => (await registry.tlsKey())[1] > 0n, 15_000);
    await runTask("nodes", { registry: registryAddress });

    step(
      "R6. The owner retires v1 (narrowing: at once; activate-hash --retire-others does it with the upgrade): no CVM " +
        "can boot it and no roll-back can return to it; now anyone, here a stranger, may evict B",
    );
    await runTask("remove-hash", { app: appAddress, file: v1 });
    await runTask("evict-node", { registry: registryAddress, node: b.address, from: stranger.address });
    await waitFor("B's agent sees it", () => b.events("evicted").length > 0, 15_000);

    step("R7. What an auditor reads from the chain: B's evidence, and its sponsors back to the genesis member");
    await runTask("verify-node", { registry: registryAddress, node: b.address, collateral: COLLATERAL });
    return { registry: registryAddress, secrets: { A: secretOfA, B: secretOfB } };
  } finally {
    for (const agent of agents) await agent.stop();
    for (const node of nodes) await node.close();
    await provider.request({ method: "evm_setIntervalMining", params: [0] });
    await rpc.down();
    restore();
    await cleanUp();
  }
}
