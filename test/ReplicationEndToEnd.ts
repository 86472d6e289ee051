import { expect } from "chai";
import { hexlify, randomBytes } from "ethers";
import { network } from "hardhat";

import {
  ReplicationVerificationError,
  decryptSecret,
  evidenceFromNodeRegistered,
  prepareOnboarding,
  signRegistration,
  verifyRegistration,
} from "../lib/replication/index.js";
import type { NodeRegisteredArgs, Registration } from "../lib/replication/index.js";
import { COMPOSE_A, COMPOSE_B, DEVICE_1, DEVICE_2, deployRegistry, testNode } from "./helpers/replication.js";
import type { TestNode } from "./helpers/replication.js";
import { FIXTURE_TIME, bootStandIn, loadTdxFixture, standInVerifier } from "./helpers/tee-stand-in.js";
import type { BootedNode } from "./helpers/tee-stand-in.js";

const { ethers, networkHelpers } = await network.create();
const { quote: template, collateral } = await loadTdxFixture();

describe("Replication end to end", function () {
  it("genesis A → B registers → A verifies and onboards → B holds A's secret → policy drops B → anyone evicts B", async function () {
    const { registry, appAuth, domain, appId, owner, relayer, stranger } = await deployRegistry(ethers, networkHelpers);
    // Hosts pay the gas: every transaction below is sent by `relayer` unless the policy's owner must act.
    const hosted = registry.connect(relayer);

    /** A node, inside its TEE: boot, quote its keys, sign its registration; its host submits it. */
    async function bootAndRegister(node: TestNode, composeHash: string, deviceId: string) {
      const booted: BootedNode & { encryptionPublicKey: string } = bootStandIn(template, node, appId, {
        composeHash,
        deviceId,
      });
      const registration: Registration = {
        node: node.address,
        encryptionPublicKey: booted.encryptionPublicKey,
        bootInfo: booted.bootInfo,
        quote: booted.quote,
        eventLog: booted.eventLog,
      };
      const signature = await signRegistration(node.wallet, domain, registration);
      await hosted.register(
        node.address,
        registration.encryptionPublicKey,
        registration.bootInfo,
        { quote: registration.quote, eventLog: registration.eventLog },
        signature,
      );
      return booted;
    }

    /** A member's agent: read a registration from the chain, verify it off-chain, check the policy. */
    async function verifyFromChain(node: string) {
      const [event] = await registry.queryFilter(registry.filters.NodeRegistered(node));
      if (event === undefined) throw new Error(`no registration for ${node}`);
      const evidence = evidenceFromNodeRegistered(event.args as unknown as NodeRegisteredArgs);
      const verified = verifyRegistration(evidence, {
        collateral,
        nowSeconds: FIXTURE_TIME,
        verifier: standInVerifier,
      });
      const [allowed, reason] = await registry.isNodeAllowed(node);
      return { evidence, verified, allowed, reason };
    }

    // 1. Genesis: A boots, registers, and the app's owner makes it the first member. A makes the secret.
    const A = testNode("e2e A");
    await bootAndRegister(A, COMPOSE_A, DEVICE_1);
    const genesisCheck = await verifyFromChain(A.address); // what an auditor does with the genesis quote
    expect(genesisCheck.verified.measuredComposeHash).to.equal(COMPOSE_A);
    await expect(registry.connect(owner).setGenesis(A.address))
      .to.emit(registry, "GenesisSet")
      .withArgs(A.address, owner.address);
    const secretOfA = randomBytes(32);

    // 2. B boots on another device with the other allowed release and registers.
    const B = testNode("e2e B");
    await bootAndRegister(B, COMPOSE_B, DEVICE_2);

    // 3. A's agent verifies B and onboards it; the host submits.
    const check = await verifyFromChain(B.address);
    expect(check.verified.measuredComposeHash).to.equal(COMPOSE_B);
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
    const { registry, domain, appId, owner, relayer } = await deployRegistry(ethers, networkHelpers);
    const hosted = registry.connect(relayer);

    async function register(booted: BootedNode & { encryptionPublicKey: string }, encryptionPublicKey: string) {
      const registration: Registration = {
        node: booted.node.address,
        encryptionPublicKey,
        bootInfo: booted.bootInfo,
        quote: booted.quote,
        eventLog: booted.eventLog,
      };
      const signature = await signRegistration(booted.node.wallet, domain, registration);
      await hosted.register(
        registration.node,
        encryptionPublicKey,
        registration.bootInfo,
        { quote: registration.quote, eventLog: registration.eventLog },
        signature,
      );
    }

    async function rejection(node: string): Promise<string> {
      const [event] = await registry.queryFilter(registry.filters.NodeRegistered(node));
      const evidence = evidenceFromNodeRegistered(event?.args as unknown as NodeRegisteredArgs);
      try {
        verifyRegistration(evidence, { collateral, nowSeconds: FIXTURE_TIME, verifier: standInVerifier });
      } catch (error) {
        if (error instanceof ReplicationVerificationError) return error.code;
        throw error;
      }
      return "accepted";
    }

    const A = testNode("e2e genesis");
    const bootedA = bootStandIn(template, A, appId, { composeHash: COMPOSE_A });
    await register(bootedA, bootedA.encryptionPublicKey);
    await registry.connect(owner).setGenesis(A.address);

    // A host swaps in a key it controls: the contract cannot tell, the quote's report_data can.
    const M = testNode("e2e key swap");
    const bootedM = bootStandIn(template, M, appId, { composeHash: COMPOSE_A });
    await register(bootedM, hexlify(testNode("host").encryption.publicKey));
    expect(await rejection(M.address)).to.equal("report-data-mismatch");

    // A node that runs compose B but claims compose A (allowed) is caught by the measured event log.
    const L = testNode("e2e liar");
    const bootedL = bootStandIn(template, L, appId, { composeHash: COMPOSE_B }, { composeHash: COMPOSE_A });
    await register(bootedL, bootedL.encryptionPublicKey);
    expect(await rejection(L.address)).to.equal("compose-hash-mismatch");

    // An honest node passes.
    const H = testNode("e2e honest");
    const bootedH = bootStandIn(template, H, appId, { composeHash: COMPOSE_A });
    await register(bootedH, bootedH.encryptionPublicKey);
    expect(await rejection(H.address)).to.equal("accepted");
  });
});
