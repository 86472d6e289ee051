/**
 * Anyone can register, so anyone can post a registration whose strings are not UTF-8, hold terminal escapes or are
 * huge (20 kB in a stored string, 100 kB in the event log). A member's replicator (in process, TEE stand-ins, local chain over JSON-RPC) must refuse each of them on its own
 * and, in the same pass, still verify and onboard the honest node registered after them, with its cursor past them.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { expect } from "chai";
import { toUtf8Bytes } from "ethers";

import { registerArguments, signRegistration } from "../../lib/replication/index.js";
import type { Registration } from "../../lib/replication/index.js";
import { cleanUp } from "../helpers/guestAgent.js";
import { NOT_UTF8, TERMINAL_ESCAPES, registerHostile } from "../helpers/poison.js";
import { COMPOSE_A, DEVICE_1, NOTICE, testNode } from "../helpers/replication.js";
import type { TestNode } from "../helpers/replication.js";
import { ReplicationWorld, ReplicatorNode } from "../helpers/replicator.js";
import { bootStandIn, loadTdxFixture } from "../helpers/tee-stand-in.js";

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
      cvm: { composeHash: COMPOSE_A, deviceId: DEVICE_1 },
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
        tcbStatus: "UpToDate",
        advisoryIds: [NOT_UTF8],
      }),
      tcb: await registerHostile(world.registryAddress, relayer, poisonTcb, {
        appId: world.appId,
        tcbStatus: NOT_UTF8,
        advisoryIds: [],
      }),
    };
    // Valid UTF-8 but hostile to a terminal or a log, with genuine-looking evidence: refused by the evidence check.
    await registerHostile(
      world.registryAddress,
      relayer,
      escapes,
      { appId: world.appId, tcbStatus: TERMINAL_ESCAPES, advisoryIds: [] },
      standIn(escapes),
    );
    await registerHostile(
      world.registryAddress,
      relayer,
      huge,
      { appId: world.appId, tcbStatus: "UpToDate", advisoryIds: [`\u001b[2J${"A".repeat(20_000)}`] },
      standIn(huge),
    );
    // 100 kB of hostile text: too big for a stored string (a transaction's gas cannot pay for it), not for the event
    // log, which lives in the event only and which a member parses.
    const hugeLog = testNode("replicator 100 kB event log");
    const hugeLogEvidence = standIn(hugeLog);
    await registerHostile(
      world.registryAddress,
      relayer,
      hugeLog,
      { appId: world.appId, tcbStatus: "UpToDate", advisoryIds: [] },
      { quote: hugeLogEvidence.quote, eventLog: toUtf8Bytes(`\u001b]0;pwned\u0007${"A".repeat(100_000)}`) },
    );
    const booted = standIn(honest);
    const registration: Registration = {
      node: honest.address,
      encryptionPublicKey: booted.encryptionPublicKey,
      bootInfo: booted.bootInfo,
      quote: booted.quote,
      eventLog: booted.eventLog,
    };
    const signature = await signRegistration(honest.wallet, domain, registration);
    const honestBlock = (await (
      await registry.connect(relayer).register(...registerArguments({ registration, signature }))
    ).wait())!.blockNumber;
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
      `refused node ${escapes.address}: the TCB status it claims is not the one its quote verifies with: the node ` +
        `claims TCB status "\\x1b[2J\\x1b[H\\x1b[31mUpToDate\\x9b0m\\u{202e}etadpUoT", its quote verifies as ` +
        `"UpToDate"; it is never onboarded`,
    );
    expect(refusal(huge)).to.equal(
      `refused node ${huge.address}: the Intel advisories it claims are not those of its quote: the node claims ` +
        `advisories [\\x1b[2J${"A".repeat(60)}… (+19940 more characters)], its quote has []; it is never onboarded`,
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

  it("refuses a pending node whose log turns out hostile when it is read again after a restart", async function () {
    const a = await genesisA();
    const poison = testNode("replicator pending poison");
    const block = await registerHostile(world.registryAddress, world.deployed.relayer, poison, {
      appId: world.appId,
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
