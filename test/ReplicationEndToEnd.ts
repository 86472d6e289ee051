import { expect } from "chai";
import { hexlify, randomBytes } from "ethers";
import { network } from "hardhat";

import {
  ReplicationVerificationError,
  decryptSecret,
  prepareOnboarding,
  readEvidenceContext,
  readNodeEvidence,
  registerArguments,
  verifyNodeEvidence,
} from "../lib/replication/index.js";
import { COMPOSE_A, COMPOSE_B, deployRegistry, testNode } from "./helpers/replication.js";
import type { TestNode } from "./helpers/replication.js";
import { FIXTURE_DEVICE_ID, bootStandIn, loadTdxFixture, signBooted, standInVerified } from "./helpers/tee-stand-in.js";
import type { BootedNode } from "./helpers/tee-stand-in.js";

const { ethers, networkHelpers } = await network.create();
const { quote: template } = await loadTdxFixture();
/** The stand-in quote verification: accepts any parseable quote as if Intel DCAP passed, up to date. */
const verifyQuote = async (quote: string | Uint8Array) => standInVerified(quote);

describe("Replication end to end", function () {
  async function world() {
    const deployed = await deployRegistry(ethers, networkHelpers, { devices: [FIXTURE_DEVICE_ID] });
    return { ...deployed, hosted: deployed.registry.connect(deployed.relayer) };
  }

  /** A member's agent: read a node's latest evidence from the chain and verify it as every member does. */
  async function verifyFromChain(registry: Awaited<ReturnType<typeof world>>["registry"], node: string) {
    const read = await readNodeEvidence(registry, node);
    if (read === undefined) throw new Error(`no registration for ${node}`);
    const context = await readEvidenceContext(registry);
    const checked = await verifyNodeEvidence(read.evidence, { appId: context.appId, kms: context.kms, verifyQuote });
    const [allowed, reason] = await registry.isNodeAllowed(node);
    return { evidence: read.evidence, checked, allowed, reason };
  }

  it("genesis A → B registers → A verifies and onboards → B holds A's secret → policy drops B → anyone evicts B", async function () {
    const { registry, appAuth, domain, appId, owner, stranger, hosted } = await world();

    /** A node, inside its TEE: boot, quote its keys, sign its registration; its host submits it. */
    async function bootAndRegister(node: TestNode, composeHash: string) {
      const booted: BootedNode & { encryptionPublicKey: string } = bootStandIn(template, node, appId, { composeHash });
      await hosted.register(...registerArguments(await signBooted(booted, domain)));
      return booted;
    }

    // 1. Genesis: A boots, registers, and the app's owner makes it the first member. A makes the secret.
    const A = testNode("e2e A");
    await bootAndRegister(A, COMPOSE_A);
    const genesisCheck = await verifyFromChain(registry, A.address); // what an auditor does with the genesis evidence
    expect(genesisCheck.checked.measured.composeHash).to.equal(COMPOSE_A);
    await expect(registry.connect(owner).setGenesis(A.address))
      .to.emit(registry, "GenesisSet")
      .withArgs(A.address, owner.address);
    const secretOfA = randomBytes(32);

    // 2. B boots with the other allowed release and registers.
    const B = testNode("e2e B");
    await bootAndRegister(B, COMPOSE_B);

    // 3. A's agent verifies B and onboards it; the host submits.
    const check = await verifyFromChain(registry, B.address);
    expect(check.checked.measured.composeHash).to.equal(COMPOSE_B);
    expect(check.allowed, check.reason).to.equal(true);
    const onboarding = await prepareOnboarding({
      member: A.wallet,
      domain,
      node: B.address,
      quote: check.evidence.quote,
      encryptionPublicKey: check.evidence.encryptionPublicKey,
      secret: secretOfA,
    });
    await expect(hosted.onboard(onboarding.node, onboarding.ciphertext, onboarding.signature))
      .to.emit(registry, "NodeOnboarded")
      .withArgs(B.address, A.address, (await registry.getNode(B.address)).quoteHash, onboarding.ciphertext);

    // 4. B's agent finds its ciphertext on-chain and decrypts the same secret A holds.
    const [onboarded] = await registry.queryFilter(registry.filters.NodeOnboarded(B.address));
    expect(onboarded).to.not.equal(undefined);
    const secretOfB = decryptSecret(B.encryption.privateKey, onboarded?.args.ciphertext ?? "0x");
    expect(hexlify(secretOfB)).to.equal(hexlify(secretOfA));
    expect(await registry.getMembers(0, 10)).to.deep.equal([A.address, B.address]);

    // 5. The app's owner removes B's release (narrowing: instant); anyone may now evict B.
    await appAuth.connect(owner).removeComposeHash(COMPOSE_B);
    expect(await registry.isNodeAllowed(B.address)).to.deep.equal([false, "Compose hash not allowed"]);
    await expect(registry.connect(stranger).evict(B.address))
      .to.emit(registry, "MemberEvicted")
      .withArgs(B.address, stranger.address, 1n, "Compose hash not allowed");
    expect(await registry.getMembers(0, 10)).to.deep.equal([A.address]);
    expect(await registry.isNodeAllowed(A.address)).to.deep.equal([true, ""]);
  });

  it("a member's agent refuses a node whose quote binds other keys or that lies about its compose hash", async function () {
    const { registry, domain, appId, owner, hosted } = await world();

    async function rejection(node: string): Promise<string> {
      try {
        await verifyFromChain(registry, node);
      } catch (error) {
        if (error instanceof ReplicationVerificationError) return error.code;
        throw error;
      }
      return "accepted";
    }

    const A = testNode("e2e genesis");
    await hosted.register(
      ...registerArguments(await signBooted(bootStandIn(template, A, appId, { composeHash: COMPOSE_A }), domain)),
    );
    await registry.connect(owner).setGenesis(A.address);

    // A host swaps in a key it controls: the contract cannot tell, the quote's report_data can.
    const M = testNode("e2e key swap");
    const swapped = bootStandIn(
      template,
      M,
      appId,
      { composeHash: COMPOSE_A },
      { encryptionPublicKey: hexlify(testNode("host").encryption.publicKey) },
    );
    await hosted.register(...registerArguments(await signBooted(swapped, domain)));
    expect(await rejection(M.address)).to.equal("report-data-mismatch");

    // A node that runs compose B but claims compose A (allowed) is caught by the measured event log.
    const L = testNode("e2e liar");
    const liar = bootStandIn(template, L, appId, { composeHash: COMPOSE_B }, { composeHash: COMPOSE_A });
    await hosted.register(...registerArguments(await signBooted(liar, domain)));
    expect(await rejection(L.address)).to.equal("compose-hash-mismatch");

    // An honest node passes.
    const H = testNode("e2e honest");
    await hosted.register(
      ...registerArguments(await signBooted(bootStandIn(template, H, appId, { composeHash: COMPOSE_A }), domain)),
    );
    expect(await rejection(H.address)).to.equal("accepted");
  });
});
