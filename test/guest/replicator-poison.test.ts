/**
 * Any node with a key dstack's KMS issued to the app (which may run a release its owner wrote for this) can post a
 * registration or a refresh whose strings are not UTF-8, hold terminal escapes or are huge (20 kB in a stored string,
 * 100 kB in the event log), with a key chain the registry accepts. A member's replicator (in process, TEE stand-ins,
 * local chain over JSON-RPC) must refuse each of them on its own and, in the same pass, still verify and onboard the
 * honest node registered after them, with its cursor past them.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { expect } from "chai";
import { toUtf8Bytes } from "ethers";

import { registerArguments } from "../../lib/replication/index.js";
import { cleanUp } from "../helpers/guestAgent.js";
import { NOT_UTF8, TERMINAL_ESCAPES, refreshHostile, registerHostile } from "../helpers/poison.js";
import { COMPOSE_A, DEVICE_2, NOTICE, testNode } from "../helpers/replication.js";
import type { TestNode } from "../helpers/replication.js";
import { ReplicationWorld, ReplicatorNode } from "../helpers/replicator.js";
import { bootStandIn, loadTdxFixture, signBooted } from "../helpers/tee-stand-in.js";

const { quote: TEMPLATE } = await loadTdxFixture();
const REGISTERED = 1n;
const MEMBER = 2n;
/** Characters a terminal acts on, and bidirectional overrides: none may reach a log line's message. */
const TERMINAL_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe("replicator: hostile registrations (in process, TEE stand-ins, local chain over JSON-RPC)", function () {
  this.timeout(120_000);

  let world: ReplicationWorld;
  const nodes: ReplicatorNode[] = [];

  beforeEach(async function () {
    world = await ReplicationWorld.create();
  });

  afterEach(async function () {
    for (const node of nodes.splice(0)) await node.close();
    await world.close();
  });

  after(cleanUp);

  /** A (genesis): registers through its submitter account, is made genesis by the owner, creates the secret. */
  async function genesisA(): Promise<ReplicatorNode> {
    const a = await ReplicatorNode.start(world, {
      name: "A",
      mode: "submitter",
      cvm: { composeHash: COMPOSE_A },
    });
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

  /** The evidence of a genuine stand-in boot of `node` (quote binding its keys, event log measuring compose A). */
  const standIn = (node: TestNode) => bootStandIn(TEMPLATE, node, world.appId, { composeHash: COMPOSE_A });

  it("refuses each hostile registration on its own and onboards the honest one after them in the same pass", async function () {
    const a = await genesisA();
    const { appAuth, owner, relayer, domain, registry } = world.deployed;
    // An out-of-date TCB is accepted, so a tcbStatus that is not "UpToDate" registers.
    await appAuth.connect(owner).proposeAllowOutdatedTcb();
    await world.connection.networkHelpers.time.increase(NOTICE);
    await appAuth.connect(owner).activateAllowOutdatedTcb();

    const poisonAdvisories = testNode("replicator poison advisories");
    const poisonTcb = testNode("replicator poison tcb");
    const escapes = testNode("replicator escapes");
    const huge = testNode("replicator huge");
    const honest = testNode("replicator honest");
    const at = {
      advisories: await registerHostile(world.registryAddress, relayer, poisonAdvisories, {
        appId: world.appId,
        deviceId: DEVICE_2,
        tcbStatus: "UpToDate",
        advisoryIds: [NOT_UTF8],
      }),
      tcb: await registerHostile(world.registryAddress, relayer, poisonTcb, {
        appId: world.appId,
        deviceId: DEVICE_2,
        tcbStatus: NOT_UTF8,
        advisoryIds: [],
      }),
    };
    // Valid UTF-8 but hostile to a terminal or a log, with genuine evidence otherwise: refused by the evidence check.
    const escapesBoot = standIn(escapes);
    await registerHostile(
      world.registryAddress,
      relayer,
      escapes,
      { ...escapesBoot.bootInfo, tcbStatus: TERMINAL_ESCAPES },
      escapesBoot,
    );
    const hugeBoot = standIn(huge);
    await registerHostile(
      world.registryAddress,
      relayer,
      huge,
      { ...hugeBoot.bootInfo, tcbStatus: "UpToDate", advisoryIds: [`\u001b[2J${"A".repeat(20_000)}`] },
      hugeBoot,
    );
    // 100 kB of hostile text: too big for a stored string (a transaction's gas cannot pay for it), not for the event
    // log, which lives in the event only and which a member parses.
    const hugeLog = testNode("replicator 100 kB event log");
    const hugeLogEvidence = standIn(hugeLog);
    await registerHostile(world.registryAddress, relayer, hugeLog, hugeLogEvidence.bootInfo, {
      quote: hugeLogEvidence.quote,
      eventLog: toUtf8Bytes(`\u001b]0;pwned\u0007${"A".repeat(100_000)}`),
      keyChain: hugeLogEvidence.keyChain,
    });
    const signed = await signBooted(standIn(honest), domain);
    const honestBlock = (await (await registry.connect(relayer).register(...registerArguments(signed))).wait())!
      .blockNumber;
    await world.mine();

    await a.pass();
    expect(await world.statusOf(honest.address), "the honest node is onboarded in the same pass").to.equal(MEMBER);
    expect(a.events("refused-event").map((line) => line.msg)).to.deep.equal([
      `refused event NodeRegistered in block ${at.advisories}, log 0: bootInfo.advisoryIds[0] is not UTF-8; node ` +
        `${poisonAdvisories.address} is never onboarded`,
      `refused event NodeRegistered in block ${at.tcb}, log 0: bootInfo.tcbStatus is not UTF-8; node ` +
        `${poisonTcb.address} is never onboarded`,
    ]);
    const refusal = (node: TestNode) => a.events("refusal").find((line) => line.node === node.address)?.msg;
    expect(refusal(escapes)).to.equal(
      `refused node ${escapes.address}: the TCB status it claims is not the one its quote verifies with: tcbStatus ` +
        `claimed "\\x1b[2J\\x1b[H\\x1b[31mUpToDate\\x9b0m\\u{202e}etadpUoT" but the quote measures ` +
        `"UpToDate"; it is never onboarded`,
    );
    expect(refusal(huge)).to.equal(
      `refused node ${huge.address}: the Intel advisories it claims are not those of its quote: advisoryIds ` +
        `claimed [\\x1b[2J${"A".repeat(60)}… (+19940 more characters)] but the quote measures []; it is never onboarded`,
    );
    expect(refusal(hugeLog)).to.equal(
      `refused node ${hugeLog.address}: its event log is malformed: the event log is not JSON; it is never onboarded`,
    );
    for (const line of a.lines) expect(TERMINAL_CONTROLS.test(String(line.msg)), String(line.msg)).to.equal(false);

    // The cursor is past every one of them, and each hostile node is decided for good.
    const state = JSON.parse(await readFile(path.join(a.stateDir, "replicator.json"), "utf8")) as {
      cursor: number;
      decided: Record<string, { outcome: string; reason?: string }>;
    };
    expect(state.cursor).to.be.at.least(honestBlock);
    for (const node of [poisonAdvisories, poisonTcb, escapes, huge, hugeLog]) {
      expect(state.decided[node.address]?.outcome, node.label).to.equal("refused");
      expect(await world.statusOf(node.address)).to.equal(REGISTERED);
    }
    expect(state.decided[poisonTcb.address]?.reason).to.equal(
      `refused event NodeRegistered in block ${at.tcb}, log 0: bootInfo.tcbStatus is not UTF-8`,
    );
    const status = a.replicator.status();
    expect((status["lastRefused"] as Array<{ node: string }>).map((r) => r.node)).to.include.members([
      poisonAdvisories.address,
      poisonTcb.address,
    ]);

    // Later passes, and a restart: nothing is read or refused again, nothing is sent.
    await world.mine();
    await a.pass();
    await a.restart();
    await a.pass();
    expect(a.events("refused-event")).to.have.length(2);
    expect(a.events("refusal")).to.have.length(3);
    expect(a.events("onboarding")).to.have.length(1);
  });

  it("refuses a node whose attestation refresh is hostile and onboards the honest one in the same pass", async function () {
    const a = await genesisA();
    const { relayer, domain, registry } = world.deployed;
    const poison = testNode("replicator poison refresh");
    const honest = testNode("replicator honest after a poison refresh");
    // A node registers with genuine evidence, then its key signs a refresh whose TCB status is not UTF-8: the
    // registry records it (it checks the signature, not the strings), in its event and in the node's record.
    await (
      await registry.connect(relayer).register(...registerArguments(await signBooted(standIn(poison), domain)))
    ).wait();
    const refreshed = await refreshHostile(world.registryAddress, relayer, poison, {
      tcbStatus: NOT_UTF8,
      advisoryIds: [NOT_UTF8],
    });
    await (
      await registry.connect(relayer).register(...registerArguments(await signBooted(standIn(honest), domain)))
    ).wait();
    await world.mine();

    await a.pass();
    expect(await world.statusOf(honest.address), "the honest node is onboarded in the same pass").to.equal(MEMBER);
    const line =
      `refused event AttestationRefreshed in block ${refreshed}, log 0: tcbStatus is not UTF-8; ` +
      "advisoryIds[0] is not UTF-8";
    expect(a.events("refused-event").map((entry) => entry.msg)).to.deep.equal([
      `${line}; node ${poison.address} is never onboarded`,
    ]);
    expect(a.events("refusal")).to.deep.equal([]);
    const state = JSON.parse(await readFile(path.join(a.stateDir, "replicator.json"), "utf8")) as {
      decided: Record<string, { outcome: string; reason?: string }>;
    };
    expect(state.decided[poison.address]).to.include({ outcome: "refused", reason: line });
    expect(await world.statusOf(poison.address)).to.equal(REGISTERED);

    // Decided for good: a later pass reads nothing of it again.
    await world.mine();
    await a.pass();
    expect(a.events("refused-event")).to.have.length(1);
  });

  it("refuses a pending node whose log turns out hostile when it is read again after a restart", async function () {
    const a = await genesisA();
    const poison = testNode("replicator pending poison");
    const block = await registerHostile(world.registryAddress, world.deployed.relayer, poison, {
      appId: world.appId,
      deviceId: DEVICE_2,
      tcbStatus: "UpToDate",
      advisoryIds: ["INTEL-SA-00837", NOT_UTF8, NOT_UTF8],
    });
    await world.mine();
    await a.pass();
    const line =
      `refused event NodeRegistered in block ${block}, log 0: bootInfo.advisoryIds[1] is not UTF-8; ` +
      "bootInfo.advisoryIds[2] is not UTF-8";
    expect(a.events("refused-event").map((entry) => entry.msg)).to.deep.equal([
      `${line}; node ${poison.address} is never onboarded`,
    ]);

    // A state file that lists the node as pending (as one written while an endpoint served that log differently
    // would): after a restart the evidence is read again, from the log alone, and refused the same way.
    const file = path.join(a.stateDir, "replicator.json");
    const state = JSON.parse(await readFile(file, "utf8")) as Record<string, Record<string, unknown>>;
    delete state["decided"]![poison.address];
    state["pending"]![poison.address] = { registeredAt: block, transactionHash: "0x" };
    await writeFile(file, JSON.stringify(state));
    await a.restart();
    await a.pass();
    expect(a.events("refused-event").map((entry) => entry.msg)).to.deep.equal([
      `${line}; node ${poison.address} is never onboarded`,
      `${line}; node ${poison.address} is never onboarded`,
    ]);
    expect(a.replicator.status()["pending"]).to.deep.equal([]);
    const after = JSON.parse(await readFile(file, "utf8")) as { decided: Record<string, { outcome: string }> };
    expect(after.decided[poison.address]?.outcome).to.equal("refused");
  });
});
