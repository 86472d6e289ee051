import { expect } from "chai";
import { HDNodeWallet, Wallet, id } from "ethers";

import { encryptionKeyPairFromPrivateKey, prepareOnboarding } from "../../lib/replication/index.js";
import { readRegistryNodes } from "../../lib/replication/registry.js";
import type { RegistryNodes } from "../../lib/replication/registry.js";
import type { VerifyNodeResult } from "../../tasks/verify-node.js";
import type { TestNode } from "../helpers/replication.js";
import { networkHelpers, runTask, runTaskOk } from "./helpers.js";
import {
  A,
  B,
  COLLATERAL_FILE,
  COMPOSE_A,
  COMPOSE_B,
  DEVICE_2,
  emptyRegistry,
  registerArgs,
  registryWithGenesis,
  signedStandIn,
  testNode,
  withStandInVerifier,
} from "./registry-helpers.js";

/** Onboards B with A's signature through the contract (the onboard task has its own tests). */
async function onboardB(fixture: Awaited<ReturnType<typeof registryWithGenesis>>) {
  const { registry, relayer, domain, signedB, secret } = fixture;
  const prepared = await prepareOnboarding({
    member: A.wallet,
    domain,
    node: B.address,
    quote: signedB.registration.quote,
    encryptionPublicKey: signedB.registration.encryptionPublicKey,
    secret,
  });
  await registry.connect(relayer).onboard(prepared.node, prepared.ciphertext, prepared.signature);
}

async function withMemberB() {
  const fixture = await registryWithGenesis();
  await onboardB(fixture);
  return fixture;
}

describe("registry tasks: set-genesis, evict-node, nodes, verify-node", function () {
  withStandInVerifier();

  describe("set-genesis", function () {
    async function registeredA() {
      const fixture = await emptyRegistry();
      const { registry, relayer, domain, appId } = fixture;
      await registry
        .connect(relayer)
        .register(...registerArgs(await signedStandIn(domain, appId, A, { composeHash: COMPOSE_A })));
      return fixture;
    }

    it("verifies the node's quote like a member would, then makes it the first member (owner, once)", async function () {
      const { address, registry, owner } = await networkHelpers.loadFixture(registeredA);
      const run = await runTaskOk("set-genesis", { registry: address, node: A.address, collateral: COLLATERAL_FILE });
      expect(await registry.genesis()).to.equal(A.address);
      expect(await registry.isMember(A.address)).to.equal(true);
      expect(run.stdout).to.include(`Sending from ${owner.address}`);
      expect(run.stdout).to.include("  report_data  binds the node's address and its registered encryption key");

      expect(
        (await runTask("set-genesis", { registry: address, node: B.address, collateral: COLLATERAL_FILE }))
          .errorMessage,
      ).to.equal(`the genesis member is already set (to ${A.address}); it can be set only once`);
    });

    it("refuses a signer that is not the app's owner", async function () {
      const { address, stranger, owner } = await networkHelpers.loadFixture(registeredA);
      const run = await runTask("set-genesis", { registry: address, node: A.address, from: stranger.address });
      expect(run.errorMessage).to.equal(
        `only the owner can set the genesis member: the signer is ${stranger.address} but the owner is ` +
          `${owner.address}; send from the owner's account (--from <owner>, or the owner's key in the network's accounts)`,
      );
    });

    it("refuses a node that is not registered, or whose evidence does not verify", async function () {
      const { address, registry, relayer, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const nobody = Wallet.createRandom().address;
      expect(
        (await runTask("set-genesis", { registry: address, node: nobody, collateral: COLLATERAL_FILE })).errorMessage,
      ).to.equal(
        `cannot make it the genesis member: node ${nobody} is not registered with this registry (register it first: npx hardhat register-node)`,
      );
      const liar = testNode("genesis liar");
      await registry
        .connect(relayer)
        .register(
          ...registerArgs(
            await signedStandIn(domain, appId, liar, { composeHash: id("other") }, { composeHash: COMPOSE_A }),
          ),
        );
      expect(
        (await runTask("set-genesis", { registry: address, node: liar.address, collateral: COLLATERAL_FILE }))
          .errorMessage,
      ).to.match(
        new RegExp(
          `^cannot make genesis ${liar.address}: the compose hash measured into its RTMR3 is not the one it claims`,
        ),
      );
    });

    it("refuses a node the policy no longer allows", async function () {
      const { address, appAuth, owner } = await networkHelpers.loadFixture(registeredA);
      await appAuth.connect(owner).removeComposeHash(COMPOSE_A);
      expect(
        (await runTask("set-genesis", { registry: address, node: A.address, collateral: COLLATERAL_FILE }))
          .errorMessage,
      ).to.equal(`cannot make genesis ${A.address}: the app's policy does not allow it now: Compose hash not allowed`);
    });
  });

  describe("evict-node", function () {
    it("explains the ground before sending: the policy no longer allows the node, so a stranger may", async function () {
      const { address, registry, appAuth, owner, stranger } = await networkHelpers.loadFixture(withMemberB);
      await appAuth.connect(owner).removeComposeHash(COMPOSE_B);
      const run = await runTaskOk<{ cause: string }>("evict-node", {
        registry: address,
        node: B.address,
        from: stranger.address,
      });
      expect(run.stdout).to.include(
        `Evicting member ${B.address}: the app's policy no longer allows the node ("Compose hash not allowed"), so anyone may evict it.`,
      );
      expect(run.value.cause).to.equal("NoLongerAllowed");
      expect(await registry.isMember(B.address)).to.equal(false);
    });

    it("lets the app's owner remove a member the policy still allows", async function () {
      const { address, registry } = await networkHelpers.loadFixture(withMemberB);
      const run = await runTaskOk<{ cause: string }>("evict-node", { registry: address, node: B.address });
      expect(run.stdout).to.include("the sender is the app's owner, who may remove any member at once");
      expect(run.value.cause).to.equal("RemovedByOwner");
      expect(await registry.nodeStatus(B.address)).to.equal(3n);
    });

    it("lets a member leave by itself", async function () {
      const fixture = await networkHelpers.loadFixture(registryWithGenesis);
      const { address, registry, relayer, domain, appId } = fixture;
      // A node whose in-TEE key is also an account of the test network, so it can send its own eviction.
      const wallet = HDNodeWallet.fromPhrase(
        "test test test test test test test test test test test junk",
        undefined,
        "m/44'/60'/0'/0/5",
      );
      const leaver: TestNode = {
        label: "leaver",
        wallet: new Wallet(wallet.privateKey),
        address: wallet.address,
        encryption: encryptionKeyPairFromPrivateKey(id("enc key of leaver")),
      };
      const signed = await signedStandIn(domain, appId, leaver, { composeHash: COMPOSE_B });
      await registry.connect(relayer).register(...registerArgs(signed));
      const prepared = await prepareOnboarding({
        member: A.wallet,
        domain,
        node: leaver.address,
        quote: signed.registration.quote,
        encryptionPublicKey: signed.registration.encryptionPublicKey,
        secret: fixture.secret,
      });
      await registry.connect(relayer).onboard(prepared.node, prepared.ciphertext, prepared.signature);

      const run = await runTaskOk<{ cause: string }>("evict-node", {
        registry: address,
        node: leaver.address,
        from: leaver.address,
      });
      expect(run.stdout).to.include("the member leaves: the sender is the node itself");
      expect(run.value.cause).to.equal("Left");
    });

    it("refuses when no ground applies, before sending", async function () {
      const { address, stranger, owner } = await networkHelpers.loadFixture(withMemberB);
      const before = await networkHelpers.time.latestBlock();
      const run = await runTask("evict-node", { registry: address, node: B.address, from: stranger.address });
      expect(run.errorMessage).to.match(
        new RegExp(
          `^none of the grounds to evict ${B.address} applies: the sender ${stranger.address} is not the node ` +
            "itself, the app's policy still allows the node, its attestation counts until \\S+Z, and the sender is " +
            `not the app's owner ${owner.address}; the owner can evict it, or narrow the policy \\(remove its ` +
            "compose hash or device\\) so that anyone can$",
        ),
      );
      expect(await networkHelpers.time.latestBlock()).to.equal(before);
    });

    it("refuses a node that is not a member, and asks before evicting the last member", async function () {
      const { address, registry } = await networkHelpers.loadFixture(registryWithGenesis);
      expect((await runTask("evict-node", { registry: address, node: B.address })).errorMessage).to.equal(
        `cannot evict it: node ${B.address} is registered and waiting to be onboarded`,
      );
      expect((await runTask("evict-node", { registry: address, node: A.address })).errorMessage).to.equal(
        `${A.address} is the last member: evicting it leaves the registry without members, so nobody can ever be ` +
          "onboarded again (a new registry is a new deployment). Re-run with --yes to confirm",
      );
      await runTaskOk("evict-node", { registry: address, node: A.address, yes: true });
      expect(await registry.memberCount()).to.equal(0n);
      expect((await runTask("evict-node", { registry: address, node: A.address })).errorMessage).to.equal(
        `cannot evict it: node ${A.address} was evicted; eviction is final, the address can never register or join again`,
      );
    });
  });

  describe("nodes", function () {
    it("lists members and pending registrations with whether the policy allows each now", async function () {
      const { address, appAuth, owner } = await networkHelpers.loadFixture(registryWithGenesis);
      const run = await runTaskOk<RegistryNodes>("nodes", { registry: address });
      expect(run.value.genesis).to.equal(A.address);
      expect(run.value.members.map((n) => [n.address, n.isGenesis, n.allowed])).to.deep.equal([
        [A.address, true, true],
      ]);
      expect(run.value.pending.map((n) => [n.address, n.status, n.bootInfo.composeHash])).to.deep.equal([
        [B.address, "Registered", COMPOSE_B],
      ]);
      expect(run.stdout).to.include("Members (1):");
      expect(run.stdout).to.match(new RegExp(`${A.address}  Member \\(genesis\\)  0x[0-9a-f]{4}…[0-9a-f]{4} .* yes`));
      expect(run.stdout).to.include("Pending registrations (1): registered, not yet onboarded");

      await appAuth.connect(owner).removeComposeHash(COMPOSE_B);
      const after = await runTaskOk<RegistryNodes>("nodes", { registry: address });
      expect(after.value.pending[0]?.reason).to.equal("Compose hash not allowed");
      expect(after.stdout).to.match(new RegExp(`${B.address}  Registered .* no: Compose hash not allowed`));
    });

    it("reads the members page by page", async function () {
      const { registry } = await networkHelpers.loadFixture(withMemberB);
      const nodes = await readRegistryNodes(registry, { pageSize: 1 });
      expect(nodes.members.map((n) => n.address)).to.deep.equal([A.address, B.address]);
    });

    it("shows members onboarded by a member, and a registry without a genesis yet", async function () {
      const { address } = await networkHelpers.loadFixture(withMemberB);
      const run = await runTaskOk<RegistryNodes>("nodes", { registry: address });
      expect(run.value.members.map((n) => [n.address, n.sponsor])).to.deep.equal([
        [A.address, undefined],
        [B.address, A.address],
      ]);
      expect(run.value.pending).to.deep.equal([]);

      const empty = await networkHelpers.loadFixture(emptyRegistry);
      const none = await runTaskOk<RegistryNodes>("nodes", { registry: empty.address });
      expect(none.stdout).to.include("Genesis member: none yet (the app's owner sets it once: npx hardhat set-genesis");
      expect((await runTask("nodes", { registry: empty.address, fromBlock: -1 })).errorMessage).to.equal(
        '--from-block "-1" is not valid: expected a block number (a non-negative integer)',
      );
    });
  });

  describe("verify-node", function () {
    it("re-checks the genesis member from the chain alone and says who admitted it", async function () {
      const { address, owner } = await networkHelpers.loadFixture(registryWithGenesis);
      const run = await runTaskOk<VerifyNodeResult>("verify-node", {
        registry: address,
        node: A.address,
        collateral: COLLATERAL_FILE,
      });
      expect(run.value).to.deep.equal({
        node: A.address,
        status: "Member",
        measuredComposeHash: COMPOSE_A,
        allowed: true,
        reason: "",
        expired: false,
        admittedBy: owner.address,
        sponsors: [],
      });
      expect(run.stdout).to.include(`genesis member, set by the app's owner ${owner.address} in block`);
    });

    it("shows the sponsor of an onboarded member, its eviction, and the policy's verdict without failing on it", async function () {
      const { address, appAuth, owner, stranger } = await networkHelpers.loadFixture(withMemberB);
      await appAuth.connect(owner).removeComposeHash(COMPOSE_B);
      await runTaskOk("evict-node", { registry: address, node: B.address, from: stranger.address });
      const run = await runTaskOk<VerifyNodeResult>("verify-node", {
        registry: address,
        node: B.address,
        collateral: COLLATERAL_FILE,
      });
      expect(run.value.admittedBy).to.equal(A.address);
      expect(run.value.allowed).to.equal(false);
      expect(run.stdout).to.include("does NOT allow its boot info now: Compose hash not allowed");
      expect(run.stdout).to.include(`onboarded by member ${A.address}'s signature in block`);
      // As a joining node does: its sponsor's evidence back to the genesis member verifies.
      expect(run.value.sponsors).to.deep.equal([A.address]);
      expect(run.stdout).to.match(
        new RegExp(`sponsor chain: ${A.address} \\(genesis member\\): evidence verifies, compose hash ${COMPOSE_A}`),
      );
      expect(run.stdout).to.match(
        new RegExp(
          `evicted by ${stranger.address} at \\S+Z, block \\d+: NoLongerAllowed \\("Compose hash not allowed"\\)`,
        ),
      );
    });

    it("refuses to vouch for a node whose evidence does not verify, and knows no unregistered node", async function () {
      const { address, registry, relayer, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const liar = testNode("audited liar");
      await registry
        .connect(relayer)
        .register(
          ...registerArgs(
            await signedStandIn(domain, appId, liar, { composeHash: id("other") }, { composeHash: COMPOSE_A }),
          ),
        );
      expect(
        (await runTask("verify-node", { registry: address, node: liar.address, collateral: COLLATERAL_FILE }))
          .errorMessage,
      ).to.match(
        new RegExp(
          `^cannot vouch for ${liar.address}: the compose hash measured into its RTMR3 is not the one it claims`,
        ),
      );
      const nobody = Wallet.createRandom().address;
      expect((await runTask("verify-node", { registry: address, node: nobody })).errorMessage).to.equal(
        `cannot verify it: node ${nobody} is not registered with this registry (register it first: npx hardhat register-node)`,
      );
    });
  });
});
