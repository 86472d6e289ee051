// The replication part of the demo: two nodes of the app share a secret through the app's ReplicationRegistry,
// with nothing but signatures from inside their TEEs and the app's timelocked policy deciding who may join.
// There is no TDX hardware here, so the nodes are TEE STAND-INS: each is a stand-in dstack guest API on a unix
// socket (test/helpers/dstack-guest-api.ts) whose quotes are a real TDX quote with the node's keys patched in. Their
// Intel signature therefore no longer holds, and this module (not the command line, which always verifies with Intel
// DCAP) swaps in the stand-in verifier while it runs. Every other step is the task a user runs.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Wallet } from "ethers";
import hre from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

import ReplicationRegistryModule from "../ignition/modules/ReplicationRegistry.js";
import { composeHashOfFile } from "../lib/composeHash.js";
import { bootFactsFromInfo, decryptSecret, deriveNodeKeys, dstackGuestApi } from "../lib/replication/index.js";
import { ReplicationRegistry__factory, TimelockedAppAuth__factory } from "../types/ethers-contracts/index.js";
import { substituteQuoteVerifier } from "../tasks/shared/quote-verifier.js";
import { startDstackGuestApi } from "../test/helpers/dstack-guest-api.js";
import type { DstackGuestApiStandIn } from "../test/helpers/dstack-guest-api.js";
import { TDX_FIXTURE_DIR, standInVerifier } from "../test/helpers/tee-stand-in.js";

const V1 = "examples/app-compose.v1.json";
const COLLATERAL = path.relative(process.cwd(), fileURLToPath(new URL("tdx_quote_collateral.json", TDX_FIXTURE_DIR)));

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

export async function demoReplication(connection: NetworkConnection, appAddress: string): Promise<void> {
  const { ethers, ignition } = connection;
  const [, stranger, hostA, hostB] = await ethers.getSigners();
  if (stranger === undefined || hostA === undefined || hostB === undefined)
    throw new Error("the demo needs 4 accounts");
  const appAuth = TimelockedAppAuth__factory.connect(appAddress, ethers.provider);
  const [currentRelease] = await appAuth.currentRelease();
  const [device] = await appAuth.getDevices();
  if (device === undefined) throw new Error("the demo's app lists no device");

  const workDir = await mkdtemp(path.join(tmpdir(), "devproof-demo-"));
  const cvms: DstackGuestApiStandIn[] = [];
  const restore = substituteQuoteVerifier(
    standInVerifier,
    "TEE stand-in (no TDX here: a real quote with the node's keys patched in, accepted as if Intel DCAP passed)",
  );
  try {
    console.log("\n━━━ Replication: the app's nodes share a secret, and the policy decides who may join");
    console.log(
      "The two nodes below are TEE STAND-INS (no TDX hardware here): a stand-in dstack guest API each, and a stand-in\n" +
        "quote verifier in this demo only. The command line always verifies quotes with Intel DCAP.",
    );

    step("R1. Deploy the app's ReplicationRegistry, bound for life to its TimelockedAppAuth");
    const deployed = await ignition.deploy(ReplicationRegistryModule, {
      parameters: { ReplicationRegistry: { appAuth: appAddress } },
    });
    const registryAddress = await deployed.registry.getAddress();
    const registry = ReplicationRegistry__factory.connect(registryAddress, ethers.provider);
    console.log(`ReplicationRegistry deployed at ${registryAddress}`);

    step("R2. Node A (TEE stand-in) boots the current release on the allowed device and registers from inside its CVM");
    const cvmA = await startDstackGuestApi({
      appId: appAddress,
      instanceId: Wallet.createRandom().address,
      composeHash: currentRelease,
      deviceId: device,
    });
    cvms.push(cvmA);
    const { node: nodeA } = (await runTask("register-node", {
      registry: registryAddress,
      fromDstack: true,
      dstackEndpoint: cvmA.endpoint,
      collateral: COLLATERAL,
      from: hostA.address,
    })) as { node: string };

    step("R3. The app's owner checks A's quote like a member would, and makes A the genesis member (once)");
    await runTask("set-genesis", { registry: registryAddress, node: nodeA, collateral: COLLATERAL });
    const secretOfA = new Uint8Array(randomBytes(32));
    const secretFile = path.join(workDir, "secret-of-A");
    await writeFile(secretFile, secretOfA);
    console.log(
      `A makes the app's shared secret inside its TEE (${fingerprint(secretOfA)}); it never leaves the TEE in clear.`,
    );

    step("R4. Node B (TEE stand-in) boots release v1, still allowed, and signs its registration; its host submits it");
    const cvmB = await startDstackGuestApi({
      appId: appAddress,
      instanceId: Wallet.createRandom().address,
      composeHash: (await composeHashOfFile(V1)).bytesHash,
      deviceId: device,
    });
    cvms.push(cvmB);
    const registrationOfB = path.join(workDir, "registration-of-B.json");
    const { node: nodeB } = (await runTask("register-node", {
      registry: registryAddress,
      fromDstack: true,
      dstackEndpoint: cvmB.endpoint,
      collateral: COLLATERAL,
      out: registrationOfB,
    })) as { node: string };
    await runTask("register-node", { registry: registryAddress, file: registrationOfB, from: hostB.address });

    step("R5. Who is in: A is a member, B waits to be onboarded");
    await runTask("nodes", { registry: registryAddress });

    step("R6. A's agent verifies B's quote and evidence, encrypts the secret to B's key and signs with A's in-TEE key");
    await runTask("onboard-node", {
      registry: registryAddress,
      node: nodeB,
      secretFile,
      memberFromDstack: true,
      dstackEndpoint: cvmA.endpoint,
      collateral: COLLATERAL,
      from: hostA.address,
    });

    step("R7. B's agent finds its ciphertext on-chain and decrypts it with its in-TEE key");
    const [onboarded] = await registry.queryFilter(registry.filters.NodeOnboarded(nodeB));
    if (onboarded === undefined) throw new Error("no NodeOnboarded event for B");
    const guestB = dstackGuestApi(cvmB.endpoint);
    const keysB = await deriveNodeKeys(guestB, registryAddress, bootFactsFromInfo(await guestB.info()));
    const secretOfB = decryptSecret(keysB.encryption.privateKey, onboarded.args.ciphertext);
    const same = Buffer.from(secretOfB).equals(Buffer.from(secretOfA));
    console.log(
      `B decrypted ${secretOfB.length} bytes (${fingerprint(secretOfB)}): the same secret A holds: ${same ? "yes" : "NO"}`,
    );
    if (!same) throw new Error("B decrypted another secret than A's");

    step("R8. The owner stops allowing v1 (narrowing: at once); now anyone, here a stranger, may evict B");
    await runTask("remove-hash", { app: appAddress, file: V1 });
    await runTask("evict-node", { registry: registryAddress, node: nodeB, from: stranger.address });

    step("R9. What an auditor reads from the chain: the members, and how the genesis member was admitted");
    await runTask("nodes", { registry: registryAddress });
    await runTask("verify-node", { registry: registryAddress, node: nodeA, collateral: COLLATERAL });
  } finally {
    restore();
    await Promise.all(cvms.map((cvm) => cvm.close()));
    await rm(workDir, { recursive: true, force: true });
  }
}
