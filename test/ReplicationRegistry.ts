import { expect } from "chai";
import { anyValue } from "@nomicfoundation/hardhat-ethers-chai-matchers/withArgs";
import { TypedDataEncoder, ZeroAddress, ZeroHash, hexlify, id, keccak256, randomBytes, recoverAddress } from "ethers";
import type { Result } from "ethers";
import { network } from "hardhat";

import ReplicationRegistryModule from "../ignition/modules/ReplicationRegistry.js";
import {
  ONBOARDING_TYPES,
  REGISTRATION_TYPES,
  onboardingDigest,
  registrationDigest,
  registryDomain,
  signOnboarding,
} from "../lib/replication/index.js";
import {
  COMPOSE_A,
  COMPOSE_B,
  DEVICE_1,
  DEVICE_2,
  deployRegistry,
  registerArgs,
  signedRegistration,
  testNode,
} from "./helpers/replication.js";
import type { TestNode } from "./helpers/replication.js";
import { loadTdxFixture } from "./helpers/tee-stand-in.js";

const { ethers, networkHelpers, ignition } = await network.create();

// NodeStatus and EvictionCause, as the contract numbers them.
const Status = { None: 0n, Registered: 1n, Member: 2n, Evicted: 3n } as const;
const Cause = { Left: 0n, NoLongerAllowed: 1n, RemovedByOwner: 2n } as const;

/** A node's in-TEE key as a transaction sender (nodes hold no gas money; tests fund them for self-calls). */
async function funded(node: TestNode) {
  await networkHelpers.setBalance(node.address, 10n ** 18n);
  return node.wallet.connect(ethers.provider);
}

/** A decoded struct as a plain object (nested structs and arrays included). */
function plain(value: unknown): unknown {
  return (value as Result).toObject(true);
}

const A = testNode("A");
const B = testNode("B");
const C = testNode("C");

async function baseFixture() {
  return deployRegistry(ethers, networkHelpers);
}

/** Genesis A (compose A, device 1) is a member; B (compose B, device 2) and C (compose A) are registered. */
async function genesisFixture() {
  const f = await deployRegistry(ethers, networkHelpers);
  const { registry, domain, appId, owner } = f;
  const regA = await signedRegistration(domain, A, appId);
  const regB = await signedRegistration(domain, B, appId, { boot: { composeHash: COMPOSE_B, deviceId: DEVICE_2 } });
  const regC = await signedRegistration(domain, C, appId);
  await registry.register(...registerArgs(regA));
  await registry.register(...registerArgs(regB));
  await registry.register(...registerArgs(regC));
  await registry.connect(owner).setGenesis(A.address);
  return { ...f, regA, regB, regC };
}

type Fixture = Awaited<ReturnType<typeof genesisFixture>>;

async function onboardingBy(f: Fixture, member: TestNode, node: TestNode, ciphertext = hexlify(randomBytes(97))) {
  const { quoteHash } = await f.registry.getNode(node.address);
  const signature = await signOnboarding(member.wallet, f.domain, { node: node.address, quoteHash, ciphertext });
  return { ciphertext, signature, quoteHash };
}

/** A member (A) onboards B: now A and B are members. */
async function twoMembersFixture() {
  const f = await genesisFixture();
  const { ciphertext, signature } = await onboardingBy(f, A, B);
  await f.registry.onboard(B.address, ciphertext, signature);
  return f;
}

describe("ReplicationRegistry", function () {
  describe("constructor", function () {
    it("binds the registry to the policy and starts empty", async function () {
      const { registry, appAuth } = await networkHelpers.loadFixture(baseFixture);
      expect(await registry.appAuth()).to.equal(await appAuth.getAddress());
      expect(await registry.genesis()).to.equal(ZeroAddress);
      expect(await registry.memberCount()).to.equal(0n);
      expect(await registry.getMembers(0, 10)).to.deep.equal([]);
    });

    it("exposes its EIP-712 domain (ERC-5267): name, version, chain id and its own address", async function () {
      const { registry, chainId } = await networkHelpers.loadFixture(baseFixture);
      const domain = await registry.eip712Domain();
      expect(domain.name).to.equal("ReplicationRegistry");
      expect(domain.version).to.equal("1");
      expect(domain.chainId).to.equal(chainId);
      expect(domain.verifyingContract).to.equal(await registry.getAddress());
    });

    it("reverts with RegistryAppAuthInvalid for an address without code", async function () {
      const { registry, stranger } = await networkHelpers.loadFixture(baseFixture);
      const factory = await ethers.getContractFactory("ReplicationRegistry");
      await expect(factory.deploy(stranger.address))
        .to.be.revertedWithCustomError(registry, "RegistryAppAuthInvalid")
        .withArgs(stranger.address);
    });

    it("reverts with RegistryAppAuthInvalid for a contract that is not an IAppAuth", async function () {
      const { registry } = await networkHelpers.loadFixture(baseFixture);
      const factory = await ethers.getContractFactory("ReplicationRegistry");
      const notAppAuth = await registry.getAddress();
      await expect(factory.deploy(notAppAuth))
        .to.be.revertedWithCustomError(registry, "RegistryAppAuthInvalid")
        .withArgs(notAppAuth);
    });
    it("reverts with RegistryAppAuthInvalid for an IAppAuth without a timelock (a stock, instantly changeable one)", async function () {
      const { registry, stranger } = await networkHelpers.loadFixture(baseFixture);
      const stock = await ethers.deployContract("StockAppAuth", [
        stranger.address,
        true,
        ethers.ZeroHash,
        ethers.ZeroHash,
      ]);
      const factory = await ethers.getContractFactory("ReplicationRegistry");
      await expect(factory.deploy(await stock.getAddress()))
        .to.be.revertedWithCustomError(registry, "RegistryAppAuthInvalid")
        .withArgs(await stock.getAddress());
    });
  });

  describe("Ignition module", function () {
    it("deploys a registry bound to the AppAuth given as a parameter", async function () {
      const { appAuth } = await networkHelpers.loadFixture(baseFixture);
      const appAuthAddress = await appAuth.getAddress();
      const deployed = await ignition.deploy(ReplicationRegistryModule, {
        parameters: { ReplicationRegistry: { appAuth: appAuthAddress } },
      });
      const registry = await ethers.getContractAt("ReplicationRegistry", await deployed.registry.getAddress());
      expect(await registry.appAuth()).to.equal(appAuthAddress);
      expect(await registry.memberCount()).to.equal(0n);
    });
  });

  describe("EIP-712 messages", function () {
    it("has the typehashes of the types the off-chain library signs", async function () {
      const { registry } = await networkHelpers.loadFixture(baseFixture);
      const registrationType = TypedDataEncoder.from(REGISTRATION_TYPES).encodeType("Registration");
      const bootInfoType = TypedDataEncoder.from(REGISTRATION_TYPES).encodeType("AppBootInfo");
      const onboardingType = TypedDataEncoder.from(ONBOARDING_TYPES).encodeType("Onboarding");
      expect(registrationType).to.equal(
        "Registration(address node,bytes encryptionPublicKey,AppBootInfo bootInfo,bytes quote,bytes eventLog)" +
          "AppBootInfo(address appId,bytes32 composeHash,address instanceId,bytes32 deviceId,bytes32 mrAggregated," +
          "bytes32 mrSystem,bytes32 osImageHash,string tcbStatus,string[] advisoryIds)",
      );
      expect(onboardingType).to.equal("Onboarding(address node,bytes32 quoteHash,bytes ciphertext)");
      expect(await registry.REGISTRATION_TYPEHASH()).to.equal(id(registrationType));
      expect(await registry.APP_BOOT_INFO_TYPEHASH()).to.equal(id(bootInfoType));
      expect(await registry.ONBOARDING_TYPEHASH()).to.equal(id(onboardingType));
    });

    for (const advisoryIds of [[], ["INTEL-SA-00837"], ["INTEL-SA-00837", "INTEL-SA-00615", ""]]) {
      it(`computes the registration digest ethers computes (${advisoryIds.length} advisory ids)`, async function () {
        const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
        const { registration: r } = await signedRegistration(domain, A, appId, { boot: { advisoryIds } });
        const onChain = await registry.registrationDigest(r.node, r.encryptionPublicKey, r.bootInfo, {
          quote: r.quote,
          eventLog: r.eventLog,
        });
        expect(onChain).to.equal(registrationDigest(domain, r));
      });
    }

    it("computes the onboarding digest ethers computes", async function () {
      const { registry, domain } = await networkHelpers.loadFixture(baseFixture);
      const message = { node: B.address, quoteHash: id("quote"), ciphertext: hexlify(randomBytes(130)) };
      expect(await registry.onboardingDigest(message.node, message.quoteHash, message.ciphertext)).to.equal(
        onboardingDigest(domain, message),
      );
    });
  });

  describe("register", function () {
    it("records the node and emits everything an auditor needs, quote and event log included", async function () {
      const { registry, domain, appId, relayer } = await networkHelpers.loadFixture(baseFixture);
      const signed = await signedRegistration(domain, A, appId);
      const r = signed.registration;
      const quoteHash = keccak256(r.quote);

      const tx = registry.connect(relayer).register(...registerArgs(signed));
      await expect(tx)
        .to.emit(registry, "NodeRegistered")
        .withArgs(A.address, COMPOSE_A, quoteHash, r.encryptionPublicKey, anyValue, anyValue);

      const receipt = await (await tx).wait();
      const log = receipt?.logs.map((l) => registry.interface.parseLog(l)).find((l) => l?.name === "NodeRegistered");
      expect(plain(log?.args.bootInfo)).to.deep.equal(r.bootInfo);
      expect(log?.args.attestation.quote).to.equal(r.quote);
      expect(log?.args.attestation.eventLog).to.equal(r.eventLog);

      const record = await registry.getNode(A.address);
      expect(record.status).to.equal(Status.Registered);
      expect(record.registeredAt).to.equal(await networkHelpers.time.latest());
      expect(record.sponsor).to.equal(ZeroAddress);
      expect(record.joinedAt).to.equal(0n);
      expect(record.quoteHash).to.equal(quoteHash);
      expect(record.encryptionPublicKey).to.equal(r.encryptionPublicKey);
      expect(plain(record.bootInfo)).to.deep.equal(r.bootInfo);
      expect(await registry.nodeStatus(A.address)).to.equal(Status.Registered);
      expect(await registry.isMember(A.address)).to.equal(false);
    });

    it("accepts a real 5006-byte TDX quote and a key of the maximum length", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const quote = hexlify((await loadTdxFixture()).quote);
      const signed = await signedRegistration(domain, A, appId, {
        quote,
        encryptionPublicKey: hexlify(randomBytes(Number(await registry.MAX_ENCRYPTION_KEY_LENGTH()))),
      });
      await expect(registry.register(...registerArgs(signed))).to.emit(registry, "NodeRegistered");
      expect((await registry.getNode(A.address)).quoteHash).to.equal(keccak256(quote));
    });

    it("reverts with RegistryNodeAlreadyRegistered when the same signed registration is replayed", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const signed = await signedRegistration(domain, A, appId);
      await registry.register(...registerArgs(signed));
      await expect(registry.register(...registerArgs(signed)))
        .to.be.revertedWithCustomError(registry, "RegistryNodeAlreadyRegistered")
        .withArgs(A.address, Status.Registered);
    });

    it("reverts with RegistryNodeAlreadyRegistered for a member and for an evicted node, even with new keys", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      const again = await signedRegistration(f.domain, B, f.appId, { encryptionPublicKey: hexlify(randomBytes(33)) });
      await expect(f.registry.register(...registerArgs(again)))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeAlreadyRegistered")
        .withArgs(B.address, Status.Member);
      await f.registry.connect(await funded(B)).evict(B.address);
      await expect(f.registry.register(...registerArgs(again)))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeAlreadyRegistered")
        .withArgs(B.address, Status.Evicted);
    });

    it("reverts with RegistrySignerMismatch when another key signed it", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const signed = await signedRegistration(domain, A, appId, { signer: B.wallet });
      await expect(registry.register(...registerArgs(signed)))
        .to.be.revertedWithCustomError(registry, "RegistrySignerMismatch")
        .withArgs(A.address, B.address);
    });

    const tampered: Array<[string, (args: ReturnType<typeof registerArgs>) => ReturnType<typeof registerArgs>]> = [
      ["the node address", ([, key, info, att, sig]) => [B.address, key, info, att, sig]],
      ["the encryption key", ([node, , info, att, sig]) => [node, hexlify(randomBytes(33)), info, att, sig]],
      ["the compose hash", ([node, key, info, att, sig]) => [node, key, { ...info, composeHash: COMPOSE_B }, att, sig]],
      ["the device id", ([node, key, info, att, sig]) => [node, key, { ...info, deviceId: DEVICE_2 }, att, sig]],
      ["the advisory ids", ([node, key, info, att, sig]) => [node, key, { ...info, advisoryIds: [] }, att, sig]],
      ["the quote", ([node, key, info, att, sig]) => [node, key, info, { ...att, quote: "0x1234" }, sig]],
      ["the event log", ([node, key, info, att, sig]) => [node, key, info, { ...att, eventLog: "0x" }, sig]],
    ];
    for (const [field, tamper] of tampered) {
      it(`reverts with RegistrySignerMismatch when ${field} differs from what the node signed`, async function () {
        const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
        const args = tamper(registerArgs(await signedRegistration(domain, A, appId)));
        await expect(registry.register(...args)).to.be.revertedWithCustomError(registry, "RegistrySignerMismatch");
      });
    }

    it("reverts with RegistrySignerMismatch for a signature made for another chain or another registry", async function () {
      const { registry, domain, appId, chainId } = await networkHelpers.loadFixture(baseFixture);
      for (const otherDomain of [
        registryDomain(chainId + 1n, await registry.getAddress()),
        registryDomain(chainId, appId),
      ]) {
        const signed = await signedRegistration(otherDomain, A, appId);
        const recovered = recoverAddress(registrationDigest(domain, signed.registration), signed.signature);
        await expect(registry.register(...registerArgs(signed)))
          .to.be.revertedWithCustomError(registry, "RegistrySignerMismatch")
          .withArgs(A.address, recovered);
      }
    });

    it("reverts with ECDSAInvalidSignatureLength for a malformed signature", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const [node, key, info, att] = registerArgs(await signedRegistration(domain, A, appId));
      await expect(registry.register(node, key, info, att, "0x1234"))
        .to.be.revertedWithCustomError(registry, "ECDSAInvalidSignatureLength")
        .withArgs(2);
    });

    it("reverts with RegistryAppIdMismatch when the boot info names another app", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const other = await registry.getAddress();
      const signed = await signedRegistration(domain, A, appId, { boot: { appId: other } });
      await expect(registry.register(...registerArgs(signed)))
        .to.be.revertedWithCustomError(registry, "RegistryAppIdMismatch")
        .withArgs(other, appId);
    });

    for (const length of [0, 129]) {
      it(`reverts with RegistryEncryptionKeyLengthInvalid for a ${length}-byte key`, async function () {
        const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
        const signed = await signedRegistration(domain, A, appId, {
          encryptionPublicKey: hexlify(randomBytes(length)),
        });
        await expect(registry.register(...registerArgs(signed)))
          .to.be.revertedWithCustomError(registry, "RegistryEncryptionKeyLengthInvalid")
          .withArgs(length, 128);
      });
    }

    it("reverts with RegistryQuoteEmpty without a quote", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const signed = await signedRegistration(domain, A, appId, { quote: "0x" });
      await expect(registry.register(...registerArgs(signed)))
        .to.be.revertedWithCustomError(registry, "RegistryQuoteEmpty")
        .withArgs(A.address);
    });

    const denied: Array<[string, Record<string, unknown>, string]> = [
      ["an outdated TCB", { tcbStatus: "OutOfDate" }, "TCB status is not up to date"],
      ["a compose hash the policy does not allow", { composeHash: id("compose X") }, "Compose hash not allowed"],
      ["a device the policy does not allow", { deviceId: id("device X") }, "Device not allowed"],
    ];
    for (const [what, boot, reason] of denied) {
      it(`reverts with RegistryBootInfoNotAllowed and the policy's reason for ${what}`, async function () {
        const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
        const signed = await signedRegistration(domain, A, appId, { boot });
        await expect(registry.register(...registerArgs(signed)))
          .to.be.revertedWithCustomError(registry, "RegistryBootInfoNotAllowed")
          .withArgs(A.address, reason);
      });
    }
  });

  describe("setGenesis", function () {
    it("lets the policy's owner make a registered node the first member", async function () {
      const { registry, domain, appId, owner } = await networkHelpers.loadFixture(baseFixture);
      await registry.register(...registerArgs(await signedRegistration(domain, A, appId)));
      await expect(registry.connect(owner).setGenesis(A.address))
        .to.emit(registry, "GenesisSet")
        .withArgs(A.address, owner.address);
      expect(await registry.genesis()).to.equal(A.address);
      expect(await registry.memberCount()).to.equal(1n);
      expect(await registry.getMembers(0, 10)).to.deep.equal([A.address]);
      const record = await registry.getNode(A.address);
      expect(record.status).to.equal(Status.Member);
      expect(record.sponsor).to.equal(ZeroAddress);
      expect(record.joinedAt).to.equal(await networkHelpers.time.latest());
    });

    it("reverts with RegistryCallerNotAppAuthOwner for anyone else, the node included", async function () {
      const { registry, domain, appId, owner, stranger } = await networkHelpers.loadFixture(baseFixture);
      await registry.register(...registerArgs(await signedRegistration(domain, A, appId)));
      await expect(registry.connect(stranger).setGenesis(A.address))
        .to.be.revertedWithCustomError(registry, "RegistryCallerNotAppAuthOwner")
        .withArgs(stranger.address, owner.address);
      const nodeSigner = await funded(A);
      await expect(registry.connect(nodeSigner).setGenesis(A.address))
        .to.be.revertedWithCustomError(registry, "RegistryCallerNotAppAuthOwner")
        .withArgs(A.address, owner.address);
    });

    it("follows the policy's current owner after an ownership transfer", async function () {
      const { registry, appAuth, domain, appId, owner, stranger } = await networkHelpers.loadFixture(baseFixture);
      await registry.register(...registerArgs(await signedRegistration(domain, A, appId)));
      await appAuth.connect(owner).transferOwnership(stranger.address);
      await appAuth.connect(stranger).acceptOwnership();
      await expect(registry.connect(owner).setGenesis(A.address))
        .to.be.revertedWithCustomError(registry, "RegistryCallerNotAppAuthOwner")
        .withArgs(owner.address, stranger.address);
      await expect(registry.connect(stranger).setGenesis(A.address)).to.emit(registry, "GenesisSet");
    });

    it("reverts with RegistryGenesisAlreadySet on a second call, even after the genesis member left", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      await expect(f.registry.connect(f.owner).setGenesis(C.address))
        .to.be.revertedWithCustomError(f.registry, "RegistryGenesisAlreadySet")
        .withArgs(A.address);
      await f.registry.connect(await funded(A)).evict(A.address);
      expect(await f.registry.memberCount()).to.equal(0n);
      await expect(f.registry.connect(f.owner).setGenesis(C.address))
        .to.be.revertedWithCustomError(f.registry, "RegistryGenesisAlreadySet")
        .withArgs(A.address);
    });

    it("reverts with RegistryNodeNotRegistered for a node that never registered", async function () {
      const { registry, owner } = await networkHelpers.loadFixture(baseFixture);
      await expect(registry.connect(owner).setGenesis(A.address))
        .to.be.revertedWithCustomError(registry, "RegistryNodeNotRegistered")
        .withArgs(A.address, Status.None);
    });

    it("reverts with RegistryBootInfoNotAllowed when the policy stopped allowing the node", async function () {
      const { registry, appAuth, domain, appId, owner } = await networkHelpers.loadFixture(baseFixture);
      await registry.register(...registerArgs(await signedRegistration(domain, A, appId)));
      await appAuth.connect(owner).removeDevice(DEVICE_1);
      await expect(registry.connect(owner).setGenesis(A.address))
        .to.be.revertedWithCustomError(registry, "RegistryBootInfoNotAllowed")
        .withArgs(A.address, "Device not allowed");
    });
  });

  describe("onboard", function () {
    it("makes a registered node a member with a member's signature, submitted by anyone", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const { ciphertext, signature, quoteHash } = await onboardingBy(f, A, B);
      await expect(f.registry.connect(f.stranger).onboard(B.address, ciphertext, signature))
        .to.emit(f.registry, "NodeOnboarded")
        .withArgs(B.address, A.address, quoteHash, ciphertext);
      const record = await f.registry.getNode(B.address);
      expect(record.status).to.equal(Status.Member);
      expect(record.sponsor).to.equal(A.address);
      expect(record.joinedAt).to.equal(await networkHelpers.time.latest());
      expect(await f.registry.memberCount()).to.equal(2n);
      expect(await f.registry.getMembers(0, 10)).to.deep.equal([A.address, B.address]);
    });

    it("lets any member onboard, not only the genesis member", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      const { ciphertext, signature } = await onboardingBy(f, B, C);
      await expect(f.registry.onboard(C.address, ciphertext, signature))
        .to.emit(f.registry, "NodeOnboarded")
        .withArgs(C.address, B.address, anyValue, ciphertext);
    });

    it("reverts with RegistryNodeAlreadyMember when the onboarding is replayed", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const { ciphertext, signature } = await onboardingBy(f, A, B);
      await f.registry.onboard(B.address, ciphertext, signature);
      await expect(f.registry.onboard(B.address, ciphertext, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeAlreadyMember")
        .withArgs(B.address);
    });

    it("reverts with RegistryNodeNotRegistered for an unknown node and for an evicted one", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      const stranger = testNode("never registered");
      const ciphertext = hexlify(randomBytes(97));
      const signature = await signOnboarding(A.wallet, f.domain, {
        node: stranger.address,
        quoteHash: ZeroHash,
        ciphertext,
      });
      await expect(f.registry.onboard(stranger.address, ciphertext, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeNotRegistered")
        .withArgs(stranger.address, Status.None);

      const { quoteHash } = await f.registry.getNode(B.address);
      await f.registry.connect(f.owner).evict(B.address);
      const again = await signOnboarding(A.wallet, f.domain, { node: B.address, quoteHash, ciphertext });
      await expect(f.registry.onboard(B.address, ciphertext, again))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeNotRegistered")
        .withArgs(B.address, Status.Evicted);
    });

    it("reverts with RegistryCiphertextEmpty without a ciphertext", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const { signature } = await onboardingBy(f, A, B, "0x");
      await expect(f.registry.onboard(B.address, "0x", signature))
        .to.be.revertedWithCustomError(f.registry, "RegistryCiphertextEmpty")
        .withArgs(B.address);
    });

    it("reverts with RegistrySignerNotMember when the node signs its own onboarding", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const { ciphertext, signature } = await onboardingBy(f, B, B);
      await expect(f.registry.onboard(B.address, ciphertext, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistrySignerNotMember")
        .withArgs(B.address);
    });

    it("reverts with RegistrySignerNotMember when a registered non-member signs", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const { ciphertext, signature } = await onboardingBy(f, C, B);
      await expect(f.registry.onboard(B.address, ciphertext, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistrySignerNotMember")
        .withArgs(C.address);
    });

    it("reverts with RegistrySignerNotMember when a former member signs", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      await f.registry.connect(f.owner).evict(B.address);
      const { ciphertext, signature } = await onboardingBy(f, B, C);
      await expect(f.registry.onboard(C.address, ciphertext, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistrySignerNotMember")
        .withArgs(B.address);
    });

    it("reverts with RegistrySignerNotMember when a member's signature for one node is used for another", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const { ciphertext, signature } = await onboardingBy(f, A, B);
      const { quoteHash } = await f.registry.getNode(C.address);
      const recovered = recoverAddress(
        onboardingDigest(f.domain, { node: C.address, quoteHash, ciphertext }),
        signature,
      );
      expect(recovered).to.not.equal(A.address);
      await expect(f.registry.onboard(C.address, ciphertext, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistrySignerNotMember")
        .withArgs(recovered);
    });

    it("reverts with RegistrySignerNotMember when the ciphertext was swapped", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const { signature, quoteHash } = await onboardingBy(f, A, B);
      const swapped = hexlify(randomBytes(97));
      const recovered = recoverAddress(
        onboardingDigest(f.domain, { node: B.address, quoteHash, ciphertext: swapped }),
        signature,
      );
      await expect(f.registry.onboard(B.address, swapped, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistrySignerNotMember")
        .withArgs(recovered);
    });

    it("reverts with RegistrySignerNotMember for a signature over another quote hash", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const ciphertext = hexlify(randomBytes(97));
      const message = { node: B.address, quoteHash: id("some other quote"), ciphertext };
      const signature = await signOnboarding(A.wallet, f.domain, message);
      await expect(f.registry.onboard(B.address, ciphertext, signature)).to.be.revertedWithCustomError(
        f.registry,
        "RegistrySignerNotMember",
      );
    });

    it("reverts with RegistrySignerNotMember for a signature made for another chain or another registry", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const { quoteHash } = await f.registry.getNode(B.address);
      const ciphertext = hexlify(randomBytes(97));
      const message = { node: B.address, quoteHash, ciphertext };
      for (const domain of [
        registryDomain(f.chainId + 1n, await f.registry.getAddress()),
        registryDomain(f.chainId, f.appId),
      ]) {
        const signature = await signOnboarding(A.wallet, domain, message);
        await expect(f.registry.onboard(B.address, ciphertext, signature))
          .to.be.revertedWithCustomError(f.registry, "RegistrySignerNotMember")
          .withArgs(recoverAddress(onboardingDigest(f.domain, message), signature));
      }
    });

    it("reverts with RegistryBootInfoNotAllowed when the policy stopped allowing the node", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      await f.appAuth.connect(f.owner).removeComposeHash(COMPOSE_B);
      const { ciphertext, signature } = await onboardingBy(f, A, B);
      await expect(f.registry.onboard(B.address, ciphertext, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistryBootInfoNotAllowed")
        .withArgs(B.address, "Compose hash not allowed");
    });

    it("reverts with RegistrySponsorNotAllowed when the policy stopped allowing the signing member", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      await f.appAuth.connect(f.owner).removeDevice(DEVICE_1);
      const { ciphertext, signature } = await onboardingBy(f, A, B);
      await expect(f.registry.onboard(B.address, ciphertext, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistrySponsorNotAllowed")
        .withArgs(A.address, "Device not allowed");
    });
  });

  describe("evict", function () {
    it("lets a member leave", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      const nodeSigner = await funded(B);
      await expect(f.registry.connect(nodeSigner).evict(B.address))
        .to.emit(f.registry, "MemberEvicted")
        .withArgs(B.address, B.address, Cause.Left, "");
      const record = await f.registry.getNode(B.address);
      expect(record.status).to.equal(Status.Evicted);
      expect(record.evictedAt).to.equal(await networkHelpers.time.latest());
      expect(await f.registry.memberCount()).to.equal(1n);
      expect(await f.registry.isMember(B.address)).to.equal(false);
    });

    it("lets anyone remove a member whose compose hash the policy removed, with the policy's reason", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      await f.appAuth.connect(f.owner).removeComposeHash(COMPOSE_B);
      expect(await f.registry.isNodeAllowed(B.address)).to.deep.equal([false, "Compose hash not allowed"]);
      await expect(f.registry.connect(f.stranger).evict(B.address))
        .to.emit(f.registry, "MemberEvicted")
        .withArgs(B.address, f.stranger.address, Cause.NoLongerAllowed, "Compose hash not allowed");
      expect(await f.registry.getMembers(0, 10)).to.deep.equal([A.address]);
    });

    it("lets anyone remove a member whose device the policy removed", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      await f.appAuth.connect(f.owner).removeDevice(DEVICE_2);
      await expect(f.registry.connect(f.stranger).evict(B.address))
        .to.emit(f.registry, "MemberEvicted")
        .withArgs(B.address, f.stranger.address, Cause.NoLongerAllowed, "Device not allowed");
    });

    it("records NoLongerAllowed, not RemovedByOwner, when the owner removes a member the policy denies", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      await f.appAuth.connect(f.owner).removeComposeHash(COMPOSE_B);
      await expect(f.registry.connect(f.owner).evict(B.address))
        .to.emit(f.registry, "MemberEvicted")
        .withArgs(B.address, f.owner.address, Cause.NoLongerAllowed, "Compose hash not allowed");
    });

    it("lets the policy's owner remove any member at once", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      await expect(f.registry.connect(f.owner).evict(A.address))
        .to.emit(f.registry, "MemberEvicted")
        .withArgs(A.address, f.owner.address, Cause.RemovedByOwner, "");
      expect(await f.registry.getMembers(0, 10)).to.deep.equal([B.address]);
    });

    it("reverts with RegistryEvictionUnauthorized when a stranger or another member removes an allowed member", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      await expect(f.registry.connect(f.stranger).evict(B.address))
        .to.be.revertedWithCustomError(f.registry, "RegistryEvictionUnauthorized")
        .withArgs(B.address, f.stranger.address);
      const memberA = await funded(A);
      await expect(f.registry.connect(memberA).evict(B.address))
        .to.be.revertedWithCustomError(f.registry, "RegistryEvictionUnauthorized")
        .withArgs(B.address, A.address);
    });

    it("reverts with RegistryNodeNotMember for unknown, registered and evicted nodes", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      const unknown = testNode("unknown").address;
      await expect(f.registry.connect(f.owner).evict(unknown))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeNotMember")
        .withArgs(unknown, Status.None);
      await expect(f.registry.connect(f.owner).evict(C.address))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeNotMember")
        .withArgs(C.address, Status.Registered);
      await f.registry.connect(f.owner).evict(B.address);
      await expect(f.registry.connect(f.owner).evict(B.address))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeNotMember")
        .withArgs(B.address, Status.Evicted);
    });
  });

  describe("views", function () {
    it("pages members: offsets past the end, zero limits and short last pages", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      const { ciphertext, signature } = await onboardingBy(f, A, C);
      await f.registry.onboard(C.address, ciphertext, signature);
      expect(await f.registry.getMembers(0, 2)).to.deep.equal([A.address, B.address]);
      expect(await f.registry.getMembers(2, 2)).to.deep.equal([C.address]);
      expect(await f.registry.getMembers(1, 0)).to.deep.equal([]);
      expect(await f.registry.getMembers(3, 5)).to.deep.equal([]);
      expect(await f.registry.getMembers(1, ethers.MaxUint256)).to.deep.equal([B.address, C.address]);
      // An eviction moves the last member into the freed place.
      await f.registry.connect(f.owner).evict(A.address);
      expect(await f.registry.getMembers(0, 10)).to.deep.equal([C.address, B.address]);
    });

    it("returns an empty record and status None for an unknown node", async function () {
      const { registry } = await networkHelpers.loadFixture(baseFixture);
      const record = await registry.getNode(A.address);
      expect(record.status).to.equal(Status.None);
      expect(record.quoteHash).to.equal(ZeroHash);
      expect(record.encryptionPublicKey).to.equal("0x");
      expect(await registry.nodeStatus(A.address)).to.equal(Status.None);
    });

    it("tells whether the policy allows a node now", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      expect(await f.registry.isNodeAllowed(A.address)).to.deep.equal([true, ""]);
      await f.appAuth.connect(f.owner).removeComposeHash(COMPOSE_A);
      expect(await f.registry.isNodeAllowed(A.address)).to.deep.equal([false, "Compose hash not allowed"]);
    });
  });
});
