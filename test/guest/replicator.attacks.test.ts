/**
 * The attacks on replication that the developer (the adversary) and hosts it controls can try, each refused with the
 * line an operator sees — the registry's revert, a host's `register-node`, a member agent's refusal, a joining
 * node's, `evict-node` — while an honest node still joins in the same run. The agents are replicators in this process
 * with TEE stand-ins (test/helpers/replicator.ts); the tasks run against the same chain.
 *
 * What each attacker is: a CVM the genuine KMS would give no keys (a custom OS, a KMS of its own, another app) has
 * none of this app's KMS-issued keys, so its registration cannot pass the registry; the variants that hold a genuine
 * key chain (as if the KMS had been fooled) are caught by members holding their claims to what their quote measures.
 */
import { expect } from "chai";
import { computeAddress, hexlify, id } from "ethers";

import { encodeRegistrationFile, prepareOnboarding, registerArguments } from "../../lib/replication/index.js";
import type { NodeKeyChain, SignedNodeRegistration } from "../../lib/replication/index.js";
import { cleanUp } from "../helpers/guestAgent.js";
import { ROGUE_KMS, STAND_IN_KMS } from "../helpers/kms-stand-in.js";
import { kmsKeyProviderPayload } from "../../lib/dstack/index.js";
import { COMPOSE_A, COMPOSE_B, DEVICE_2, keyChainOf, testNode } from "../helpers/replication.js";
import type { TestNode } from "../helpers/replication.js";
import { ReplicationWorld, ReplicatorNode } from "../helpers/replicator.js";
import type { NodeSettings } from "../helpers/replicator.js";
import {
  FIXTURE_DEVICE_ID,
  bootStandIn,
  customOs,
  loadTdxFixture,
  signBooted,
  standInQuoteVerification,
} from "../helpers/tee-stand-in.js";
import type { StandInBoot } from "../helpers/tee-stand-in.js";
import { connection, runTask, runTaskOk, writeTempFile } from "../tasks/helpers.js";
import { COLLATERAL_FILE, withStandInVerifier } from "../tasks/registry-helpers.js";

const { quote: TEMPLATE } = await loadTdxFixture();
const MEMBER = 2n;
const DAY = 24 * 3600;
const FOREIGN_APP = "0x000000000000000000000000000000000000f0e1";

describe("attacks on replication: each refused with the line an operator sees, an honest node joins", function () {
  this.timeout(120_000);
  withStandInVerifier();

  let world: ReplicationWorld;
  const nodes: ReplicatorNode[] = [];

  beforeEach(async function () {
    world = await ReplicationWorld.create({ connection });
  });

  afterEach(async function () {
    for (const node of nodes.splice(0)) await node.close();
    await world.close({ keepConnection: true });
  });

  after(cleanUp);

  async function startNode(name: string, settings: Partial<NodeSettings> = {}) {
    const node = await ReplicatorNode.start(world, {
      name,
      mode: "submitter",
      ...settings,
      cvm: { composeHash: COMPOSE_A, ...settings.cvm },
    });
    nodes.push(node);
    return node;
  }

  /** A: registers through its submitter, is made genesis by the owner (after set-genesis verified it), creates the secret. */
  async function genesisA(): Promise<ReplicatorNode> {
    const a = await startNode("A");
    await a.pass();
    await world.mine();
    await a.pass();
    await runTaskOk("set-genesis", { registry: world.registryAddress, node: a.address, collateral: COLLATERAL_FILE });
    await world.mine();
    await a.pass();
    expect(a.events("secret")[0]?.source).to.equal("genesis");
    return a;
  }

  /** An honest node registers; `member`'s agent verifies and onboards it; it checks its sponsors and stores the secret. */
  async function honestNodeJoins(member: ReplicatorNode, name = "honest"): Promise<void> {
    const h = await startNode(name, { cvm: { composeHash: COMPOSE_B } });
    await h.pass();
    await world.mine();
    await member.pass();
    expect(await world.statusOf(h.address), `${name} onboarded`).to.equal(MEMBER);
    await world.mine();
    await h.pass();
    expect(hexlify((await h.secret())!)).to.equal(hexlify((await member.secret())!));
  }

  /** What an attacker's host holds: a registration signed by the node's key, with the key chain given. */
  async function forged(
    node: TestNode,
    measured: StandInBoot,
    claim: Parameters<typeof bootStandIn>[4] = {},
    keyChain?: NodeKeyChain,
  ): Promise<SignedNodeRegistration> {
    const booted = bootStandIn(TEMPLATE, node, world.appId, measured, claim);
    const signed = await signBooted(booted, world.deployed.domain);
    return {
      chainId: BigInt(world.deployed.chainId),
      registry: world.registryAddress,
      ...signed,
      keyChain: keyChain ?? signed.keyChain,
    };
  }

  /** The host runs register-node on the file: its one-line refusal, or undefined when it registered the node. */
  async function hostSubmits(signed: SignedNodeRegistration): Promise<string | undefined> {
    const file = await writeTempFile("registration.json", encodeRegistrationFile(signed));
    return (await runTask("register-node", { registry: world.registryAddress, file })).errorMessage;
  }

  /** The host bypasses the tool and calls the registry itself. */
  const forceRegister = (signed: SignedNodeRegistration) =>
    world.deployed.registry.connect(world.deployed.relayer).register(...registerArguments(signed));

  /** The member's refusal line for `node` after its next pass. */
  async function memberRefusal(member: ReplicatorNode, node: TestNode): Promise<string | undefined> {
    await world.mine();
    await member.pass();
    return member.events("refusal").find((line) => line.node === node.address)?.msg;
  }

  it("custom OS: without the genuine KMS's keys it cannot register; claiming the genuine OS, members refuse it on mrSystem", async function () {
    const a = await genesisA();
    const genuine = bootStandIn(TEMPLATE, testNode("genuine"), world.appId, { composeHash: COMPOSE_A });
    const { registry, kms } = world.deployed;
    const root = await registry.kmsRoot();

    // Its own kernel writes a genuine-looking key-provider event, but its keys come from a root of its own: the
    // genuine KMS checks the OS image and gives a custom OS nothing.
    const custom = testNode("custom OS");
    const os = customOs("backdoored");
    const own = await forged(custom, {
      composeHash: COMPOSE_A,
      os,
      kms: ROGUE_KMS,
      keyProviderPayload: kmsKeyProviderPayload(STAND_IN_KMS.caPublicKey),
    });
    expect(await hostSubmits(own)).to.match(
      new RegExp(
        "^members would refuse this registration: its key is not one dstack's KMS issued to this app \\(signature " +
          `chain to kmsInfo\\(\\).k256Pubkey\\): the signature chain of 0x[0-9a-f]{66} for app ${world.appId} and ` +
          `purpose "dstack-devproof/replication/node-key" leads to ${hexlify(ROGUE_KMS.root.compressedPublicKey)}, not ` +
          `to the KMS root ${hexlify(STAND_IN_KMS.root.compressedPublicKey)}$`,
      ),
    );
    await expect(forceRegister(own))
      .to.be.revertedWithCustomError(registry, "DstackSignatureChainKmsRootMismatch")
      .withArgs(computeAddress(ROGUE_KMS.root.publicKey), root);
    expect(await kms.getAddress()).to.equal(await registry.kms());

    // Had it a key the KMS issued to this app, it would still claim the genuine OS's measurements in vain.
    const lying = testNode("custom OS, genuine key");
    const claim = { mrSystem: genuine.bootInfo.mrSystem, mrAggregated: genuine.bootInfo.mrAggregated };
    const instanceId = testNode("its instance").address;
    const withKey = await forged(lying, { composeHash: COMPOSE_A, os, instanceId }, claim);
    await (await forceRegister(withKey)).wait();
    const measured = bootStandIn(TEMPLATE, lying, world.appId, { composeHash: COMPOSE_A, os, instanceId }).measurement
      .boot;
    expect(await memberRefusal(a, lying)).to.equal(
      `refused node ${lying.address}: the boot info it claims is not what its quote and event log measure: ` +
        `mrAggregated claimed ${claim.mrAggregated} but the quote measures ${measured.mrAggregated}; ` +
        `mrSystem claimed ${claim.mrSystem} but the quote measures ${measured.mrSystem}; it is never onboarded`,
    );
    await honestNodeJoins(a);
    expect(await world.statusOf(lying.address)).to.not.equal(MEMBER);
  });

  it("rogue KMS: its own agent will not register it, the registry refuses its key chain, members refuse its key provider", async function () {
    const a = await genesisA();
    const { registry } = world.deployed;

    // A CVM its host booted against a KMS of the host's: its keys and its key-provider event are that KMS's.
    const rogueAgent = await startNode("rogue KMS", { cvm: { kms: ROGUE_KMS } });
    let message = "";
    await rogueAgent.pass().catch((error: Error) => (message = error.message));
    expect(message).to.equal(
      "not registering this node: its registration would be refused by members: its key-provider event does not " +
        "name the KMS's CA key (kmsInfo().caPubkey): the key provider is the KMS with CA key " +
        `${ROGUE_KMS.caPublicKey}, not the KMS root CA key ${STAND_IN_KMS.caPublicKey}`,
    );
    expect(await world.statusOf(rogueAgent.address)).to.equal(0n);

    // Its host submits anyway: the chain leads to another root.
    const rogue = testNode("rogue KMS node");
    const own = await forged(rogue, { composeHash: COMPOSE_A, kms: ROGUE_KMS });
    await expect(forceRegister(own))
      .to.be.revertedWithCustomError(registry, "DstackSignatureChainKmsRootMismatch")
      .withArgs(computeAddress(ROGUE_KMS.root.publicKey), await registry.kmsRoot());

    // With a key from the genuine KMS but a key-provider event naming another: members refuse it.
    const mixed = testNode("rogue key provider");
    const signed = await forged(mixed, {
      composeHash: COMPOSE_A,
      keyProviderPayload: kmsKeyProviderPayload(ROGUE_KMS.caPublicKey),
    });
    await (await forceRegister(signed)).wait();
    expect(await memberRefusal(a, mixed)).to.equal(
      `refused node ${mixed.address}: its key-provider event does not name the KMS's CA key (kmsInfo().caPubkey): ` +
        `the key provider is the KMS with CA key ${ROGUE_KMS.caPublicKey}, not the KMS root CA key ` +
        `${STAND_IN_KMS.caPublicKey}; it is never onboarded`,
    );
    await honestNodeJoins(a);
  });

  it("foreign app: a key chain for another app cannot register; an app-id event of another app is refused by members", async function () {
    const a = await genesisA();
    const { registry } = world.deployed;

    // Another app's CVM, with the keys the KMS issued to that app, claims this app.
    const foreign = testNode("foreign app");
    const own = await forged(foreign, { composeHash: COMPOSE_A, appId: FOREIGN_APP });
    expect(await hostSubmits(own)).to.equal(
      "members would refuse this registration: the boot info it claims is not what its quote and event log " +
        `measure: appId claimed ${world.appId} but the quote measures ${FOREIGN_APP}`,
    );
    await expect(forceRegister(own)).to.be.revertedWithCustomError(registry, "DstackSignatureChainKmsRootMismatch");

    // With a key the KMS issued to this app, its measured app-id is still the other app's.
    const measuredForeign = testNode("measured as another app");
    const signed = await forged(
      measuredForeign,
      { composeHash: COMPOSE_A, appId: FOREIGN_APP },
      {},
      keyChainOf(measuredForeign, world.appId),
    );
    await (await forceRegister(signed)).wait();
    expect(await memberRefusal(a, measuredForeign)).to.equal(
      `refused node ${measuredForeign.address}: the boot info it claims is not what its quote and event log ` +
        `measure: appId claimed ${world.appId} but the quote measures ${FOREIGN_APP}; it is never onboarded`,
    );
    await honestNodeJoins(a);
  });

  it("claimed identity: an instance or device other than the one measured is refused, naming the field", async function () {
    const a = await genesisA();
    const instance = testNode("claims another instance");
    const claimedInstance = testNode("someone else").address;
    const measuredInstance = testNode("its own instance").address;
    const signedInstance = await forged(
      instance,
      { composeHash: COMPOSE_A, instanceId: measuredInstance },
      { instanceId: claimedInstance },
    );
    await (await forceRegister(signedInstance)).wait();

    // The policy allows device 2; the quote measures the stand-in platform.
    const device = testNode("claims another device");
    const signedDevice = await forged(device, { composeHash: COMPOSE_A }, { deviceId: DEVICE_2 });
    expect(await hostSubmits(signedDevice)).to.equal(
      "members would refuse this registration: the boot info it claims is not what its quote and event log " +
        `measure: deviceId claimed ${DEVICE_2} but the quote measures ${FIXTURE_DEVICE_ID}`,
    );
    await (await forceRegister(signedDevice)).wait();

    expect(await memberRefusal(a, instance)).to.equal(
      `refused node ${instance.address}: the boot info it claims is not what its quote and event log measure: ` +
        `instanceId claimed ${claimedInstance} but the quote measures ${measuredInstance.toLowerCase()}; it is never onboarded`,
    );
    expect(a.events("refusal").find((line) => line.node === device.address)?.msg).to.equal(
      `refused node ${device.address}: the boot info it claims is not what its quote and event log measure: ` +
        `deviceId claimed ${DEVICE_2} but the quote measures ${FIXTURE_DEVICE_ID}; it is never onboarded`,
    );
    await honestNodeJoins(a);
  });

  it("junk genesis: nothing without KMS-issued keys can be picked; a node sponsored from junk evidence stores no secret", async function () {
    const { registry, owner, domain } = world.deployed;

    // The owner's own key, or a node whose chain leads elsewhere, cannot even be registered: nothing to pick.
    expect(
      (await runTask("set-genesis", { registry: world.registryAddress, node: owner.address })).errorMessage,
    ).to.equal(
      `cannot make it the genesis member: node ${owner.address} is not registered with this registry (register it ` +
        "first: npx hardhat register-node)",
    );
    await expect(registry.connect(owner).setGenesis(owner.address))
      .to.be.revertedWithCustomError(registry, "RegistryNodeNotRegistered")
      .withArgs(owner.address, 0n);

    // A node with a genuine key, whose evidence is junk: it claims compose A and measures a release never allowed.
    const junk = testNode("junk genesis");
    const never = id("a release that never waited the notice");
    await (await forceRegister(await forged(junk, { composeHash: never }, { composeHash: COMPOSE_A }))).wait();
    expect(
      (
        await runTask("set-genesis", {
          registry: world.registryAddress,
          node: junk.address,
          collateral: COLLATERAL_FILE,
        })
      ).errorMessage,
    ).to.equal(
      `cannot make genesis ${junk.address}: the compose hash measured into its RTMR3 is not the one it claims: ` +
        `composeHash claimed ${COMPOSE_A} but the quote measures ${never}`,
    );
    // The owner bypasses the task: the registry takes it (it cannot read a quote)...
    await (await registry.connect(owner).setGenesis(junk.address)).wait();

    // ...and the junk genesis hands an honest node a secret the owner chose.
    const n = await startNode("sponsored by junk");
    await n.pass();
    await world.mine();
    await n.pass();
    const prepared = await prepareOnboarding({
      member: junk.wallet,
      domain,
      node: n.address,
      quote: (await registry.queryFilter(registry.filters.NodeRegistered(n.address)))[0]!.args.attestation.quote,
      encryptionPublicKey: (await registry.getNode(n.address)).encryptionPublicKey,
      secret: new TextEncoder().encode("a secret the owner chose: 32 by."),
    });
    await (await registry.onboard(prepared.node, prepared.ciphertext, prepared.signature)).wait();
    await world.mine();
    await n.pass();
    const [onboarded] = await registry.queryFilter(registry.filters.NodeOnboarded(n.address));
    const why =
      "its chain of sponsors does not reach a genesis member whose evidence verifies: the genesis member " +
      `${junk.address}: the compose hash measured into its RTMR3 is not the one it claims: composeHash claimed ` +
      `${COMPOSE_A} but the quote measures ${never}`;
    expect(n.events("sponsor-refused")[0]?.msg).to.equal(
      `not storing the secret member ${junk.address} sent in block ${onboarded!.blockNumber}: ${why}; checked again ` +
        "every pass",
    );
    expect(await n.secret()).to.equal(undefined);
    // verify-node says the same of its admission.
    expect(
      (await runTask("verify-node", { registry: world.registryAddress, node: n.address, collateral: COLLATERAL_FILE }))
        .errorMessage,
    ).to.equal(`cannot vouch for ${n.address}'s admission: ${why}`);
  });

  it("stale TCB: a member whose refresh is overdue onboards nobody and a stranger evicts it; one its policy no longer accepts stops at once", async function () {
    const a = await genesisA();
    const b = await startNode("B, PCCS down later");
    await b.pass();
    await world.mine();
    await a.pass();
    await world.mine();
    await b.pass();
    expect(await b.secret()).to.not.equal(undefined);
    const { registry, stranger } = world.deployed;

    // B's PCCS stops answering, for good: B cannot refresh. 30 days pass.
    await b.restart({
      verifyQuote: async () => {
        throw new Error("the PCCS at https://pccs.example did not answer");
      },
    });
    await world.connection.networkHelpers.time.increase(30 * DAY);
    await world.mine();
    await b.pass();
    expect(b.events("refresh-failed")[0]?.msg).to.equal(
      `cannot refresh node ${b.address}'s attestation yet: the PCCS at https://pccs.example did not answer; trying ` +
        "again every pass",
    );
    const expiresAt = await registry.attestationExpiresAt(b.address);
    expect(b.events("member-attestation-expired")[0]?.msg).to.equal(
      `node ${b.address}'s last attestation expired at ${new Date(Number(expiresAt) * 1000).toISOString()}: the ` +
        "registry refuses its onboardings, so it onboards nobody (and anyone may evict it) until a refresh lands",
    );
    const evicted = await runTaskOk<{ cause: string }>("evict-node", {
      registry: world.registryAddress,
      node: b.address,
      from: stranger.address,
    });
    expect(evicted.stdout).to.match(
      new RegExp(`Evicting member ${b.address}: its last attestation expired at \\S+Z \\(it did not refresh it within`),
    );
    expect(evicted.value.cause).to.equal("AttestationExpired");
    await world.mine();
    await b.pass();
    expect(b.events("evicted")).to.have.length(1);

    // A refreshed itself on time (its PCCS answers): it still onboards.
    await a.pass();
    await world.mine();
    await a.pass();
    expect(a.events("refreshed")).to.have.length(1);
    await honestNodeJoins(a);

    // A member whose platform Intel now judges out of date, which the policy does not accept: it says so, stops, and
    // its refresh lets anyone evict it.
    const verify = await standInQuoteVerification();
    await a.restart({ verifyQuote: async (quote) => ({ ...(await verify(quote)), tcbStatus: "OutOfDate" }) });
    await world.connection.networkHelpers.time.increase(8 * DAY);
    await world.mine();
    await a.pass();
    expect(a.events("own-tcb")[0]?.msg).to.equal(
      `node ${a.address} onboards nobody from now on: the app's policy no longer accepts its platform as Intel's ` +
        "collateral judges it now (TCB OutOfDate): TCB status is not up to date; its refresh records this on-chain",
    );
    await world.mine();
    await a.pass();
    expect(await registry.isNodeAllowed(a.address)).to.deep.equal([false, "TCB status is not up to date"]);
    const late = await startNode("after A's TCB fell", { cvm: { composeHash: COMPOSE_B } });
    await late.pass();
    await world.mine();
    await a.pass();
    expect(await world.statusOf(late.address)).to.not.equal(MEMBER);
    await expect(registry.connect(stranger).evict(a.address))
      .to.emit(registry, "MemberEvicted")
      .withArgs(a.address, stranger.address, 1n, "TCB status is not up to date");
  });
});
