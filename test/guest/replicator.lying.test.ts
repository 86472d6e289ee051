/**
 * The replicator against RPC endpoints that lie: three endpoints in front of one local chain (test/helpers/guestAgent.ts's
 * RpcEndpoint, whose `rewrite` fault changes any answer), a header believed when two of them report it, every value
 * proven against it. The first endpoint, which every read tries first, lies; each test shows that no lie about a
 * node's registration, its membership or the app's policy leads to an onboarding or a stored secret, that the lie is
 * named (`/status`, degraded), and that the honest endpoints still lead to the onboarding.
 */
import { expect } from "chai";
import { AbiCoder, getAddress, hexlify, Interface, randomBytes, zeroPadValue } from "ethers";

import { encryptSecret, REGISTRY_AGENT_ABI } from "../../lib/replication/index.js";
import type { JsonRpcRequest } from "../../lib/jsonRpcServer.js";
import { nodeRecordSlot } from "../../lib/verified/replicationRegistry.js";
import { cleanUp, type LogLine } from "../helpers/guestAgent.js";
import { COMPOSE_A, COMPOSE_B } from "../helpers/replication.js";
import { ReplicationWorld, ReplicatorNode } from "../helpers/replicator.js";

const REGISTERED = 1n;
const MEMBER = 2n;
const registry = new Interface(REGISTRY_AGENT_ABI);
const appAuthAbi = new Interface([
  "function isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[])) view returns (bool, string)",
]);
const yes = AbiCoder.defaultAbiCoder().encode(["bool", "string"], [true, ""]);

type Proof = { storageProof: Array<{ key: string; value: string }> };

describe("replicator against lying RPC endpoints (quorum 2 of 3, in process)", function () {
  this.timeout(30_000);

  let world: ReplicationWorld;
  const nodes: ReplicatorNode[] = [];

  beforeEach(async function () {
    world = await ReplicationWorld.create({ endpoints: 3 });
  });
  afterEach(async function () {
    for (const node of nodes.splice(0)) await node.close();
    await world.close();
  });
  after(cleanUp);

  const liar = () => world.rpcs[0]!;

  async function genesisA(): Promise<ReplicatorNode> {
    const a = await ReplicatorNode.start(world, { name: "A", mode: "submitter", cvm: { composeHash: COMPOSE_A } });
    nodes.push(a);
    await a.pass();
    await world.mine();
    await a.pass();
    await world.deployed.registry.connect(world.deployed.owner).setGenesis(a.address);
    await world.mine();
    await a.pass();
    expect(a.events("secret")[0]?.source).to.equal("genesis");
    return a;
  }

  async function registered(name: string): Promise<ReplicatorNode> {
    const node = await ReplicatorNode.start(world, { name, mode: "files", cvm: { composeHash: COMPOSE_B } });
    nodes.push(node);
    await node.pass();
    await world.submitRegistrationFile(node.registrationFile);
    await world.mine();
    await node.pass();
    expect(await world.statusOf(node.address)).to.equal(REGISTERED);
    return node;
  }

  /** The proofs the liar gave were refused, with its name; the loop says it is degraded. */
  function expectLiarRefused(node: ReplicatorNode): void {
    const refused = node.events("proof-refused").map((line: LogLine) => line["endpoint"]);
    expect(refused).to.include(liar().url);
    expect(node.events("verification").some((line) => line.state === "outvoted")).to.equal(true);
    expect(node.replicator.degraded()).to.match(/outvoted or refused/);
    const status = node.replicator.status()["verification"] as { state: string; refusedProofs: unknown[] };
    expect(status.state).to.equal("outvoted");
  }

  it("a lie that a registered node is a member, with an invented onboarding, never makes it store a secret; the real one is taken", async function () {
    const a = await genesisA();
    const b = await registered("B");
    const record = await world.deployed.registry.getNode(b.address);
    const attackerSecret = randomBytes(32);
    const forged = registry.encodeEventLog("NodeOnboarded", [
      b.address,
      a.address,
      record.quoteHash,
      hexlify(encryptSecret(record.encryptionPublicKey, attackerSecret)),
    ]);
    const onboardedTopic = registry.getEvent("NodeOnboarded")!.topicHash;
    const statusSlot = nodeRecordSlot(b.address);
    const paddedB = zeroPadValue(b.address, 32).toLowerCase();
    liar().fault = {
      kind: "rewrite",
      answer: (request: JsonRpcRequest, honest: unknown) => {
        const params = request.params as Array<Record<string, unknown>>;
        if (
          request.method === "eth_getLogs" &&
          (params[0]?.["topics"] as string[] | undefined)?.[0] === onboardedTopic
        ) {
          const topics = params[0]!["topics"] as Array<string | null>;
          if (topics[1] != null && topics[1].toLowerCase() !== paddedB) return undefined;
          // Its own onboarding log first, then whatever the chain has.
          const log = {
            address: world.registryAddress.toLowerCase(),
            topics: forged.topics,
            data: forged.data,
            blockNumber: "0x1",
            blockHash: hexlify(randomBytes(32)),
            transactionHash: hexlify(randomBytes(32)),
            transactionIndex: "0x0",
            logIndex: "0x0",
            removed: false,
          };
          return [log, ...(honest as unknown[])];
        }
        if (
          request.method === "eth_call" &&
          String(params[0]?.["data"]).startsWith(registry.getFunction("nodeStatus")!.selector)
        ) {
          return AbiCoder.defaultAbiCoder().encode(["uint8"], [2]);
        }
        if (request.method === "eth_getProof") {
          // Beside real proofs, it claims the status word of B's record says Member.
          const proof = honest as Proof;
          for (const item of proof.storageProof) {
            if (BigInt(item.key) === statusSlot) item.value = `0x${((BigInt(item.value) & ~0xffn) | 2n).toString(16)}`;
          }
          return proof;
        }
        return undefined;
      },
    };

    // B is told it is a member, with a ciphertext of the liar's secret: it stores nothing, it is Registered.
    for (let i = 0; i < 2; i++) {
      await b.pass();
      await world.mine();
    }
    expect(await b.secret()).to.equal(undefined);
    expect(b.replicator.status()["nodeStatus"]).to.equal("Registered");
    expectLiarRefused(b);

    // A, reading through the same liar, onboards B for real (the liar says B is already a member: refused).
    await a.pass();
    expect(await world.statusOf(b.address)).to.equal(MEMBER);
    expect(a.events("onboarding")).to.have.length(1);
    expectLiarRefused(a);
    await world.mine();

    // B, now a member, is shown the invented onboarding first and the real one after: it takes the real one only.
    await b.pass();
    expect(hexlify((await b.secret())!)).to.equal(hexlify((await a.secret())!));
    expect(hexlify((await b.secret())!)).to.not.equal(hexlify(attackerSecret));
    const [hint] = b.events("onboarding-hint-refused");
    expect(hint?.msg).to.match(/not a direct onboard call to the registry/);
  });

  it("a lie that the policy allows a node it no longer allows never leads to its onboarding", async function () {
    const a = await genesisA();
    const c = await registered("C");
    // The owner narrows the policy (instant): compose B, C's release, is no longer allowed.
    await (await world.deployed.appAuth.connect(world.deployed.owner).removeComposeHash(COMPOSE_B)).wait();
    await world.mine();
    liar().fault = {
      kind: "rewrite",
      answer: (request: JsonRpcRequest, honest: unknown) => {
        const data = String((request.params as Array<Record<string, unknown>>)[0]?.["data"]);
        if (
          request.method === "eth_call" &&
          (data.startsWith(registry.getFunction("isNodeAllowed")!.selector) ||
            data.startsWith(appAuthAbi.getFunction("isAppAllowed")!.selector))
        ) {
          return yes;
        }
        if (request.method === "eth_getProof") {
          // Beside real proofs, it claims every slot the chain has empty is set: every hash allowed, every device listed.
          const proof = honest as Proof;
          for (const item of proof.storageProof) if (BigInt(item.value) === 0n) item.value = "0x1";
          return proof;
        }
        return undefined;
      },
    };
    for (let i = 0; i < 2; i++) {
      await a.pass();
      await world.mine();
    }
    expect(await world.statusOf(c.address)).to.equal(REGISTERED);
    expect(a.events("onboarding")).to.have.length(0);
    const pending = a.replicator.status()["pending"] as Array<{ node: string; lastReason?: string }>;
    expect(pending.find((p) => getAddress(p.node) === c.address)?.lastReason).to.equal(
      "the app's policy does not allow it now: Compose hash not allowed",
    );
    expectLiarRefused(a);
  });

  it("while too few endpoints agree: no onboarding, one loud line, degraded; then the honest endpoints onboard", async function () {
    const a = await genesisA();
    const d = await registered("D");
    liar().fault = { kind: "header", stateRoot: `0x${"5e".repeat(32)}` };
    await world.rpcs[1]!.down();
    const from = a.lines.length;
    for (let i = 0; i < 3; i++) {
      await a.pass().catch(() => undefined);
      await world.mine();
    }
    const loud = a.lines.slice(from).filter((line) => line.event === "verification");
    expect(loud).to.have.length(1);
    expect(loud[0]?.level).to.equal("error");
    expect(loud[0]?.msg).to.match(
      /^UNVERIFIED CHAIN STATE: RPC endpoints disagree about block \d+, no hash has 2 of 3.*No registration, onboarding or secret is acted on/,
    );
    expect(await world.statusOf(d.address)).to.equal(REGISTERED);
    expect((a.replicator.status()["verification"] as { state: string }).state).to.equal("disagree");

    liar().fault = { kind: "none" };
    await world.rpcs[1]!.start();
    await a.pass();
    expect(await world.statusOf(d.address)).to.equal(MEMBER);
    expect(
      a.lines
        .slice(from)
        .filter((line) => line.event === "verification")
        .at(-1)?.msg,
    ).to.match(/\(again, after disagree\)$/);
  });
});
