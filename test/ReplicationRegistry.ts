import { expect } from "chai";
import { anyValue } from "@nomicfoundation/hardhat-ethers-chai-matchers/withArgs";
import {
  TypedDataEncoder,
  ZeroAddress,
  ZeroHash,
  computeAddress,
  hexlify,
  id,
  keccak256,
  randomBytes,
  recoverAddress,
} from "ethers";
import type { Result } from "ethers";
import { network } from "hardhat";

import ReplicationRegistryModule from "../ignition/modules/ReplicationRegistry.js";
import {
  ATTESTATION_REFRESH_TYPES,
  NODE_KEY_PURPOSE,
  ONBOARDING_TYPES,
  TLS_KEY_TYPES,
  REGISTRATION_TYPES,
  onboardingDigest,
  tlsKeyDigest,
  refreshArguments,
  refreshDigest,
  registrationDigest,
  registryDomain,
  signOnboarding,
  signRefresh,
  signTlsKey,
} from "../lib/replication/index.js";
import type { AttestationRefresh } from "../lib/replication/index.js";
import {
  COMPOSE_A,
  COMPOSE_B,
  DEVICE_1,
  DEVICE_2,
  deployRegistry,
  keyChainOf,
  registerArgs,
  signedRegistration,
  testNode,
} from "./helpers/replication.js";
import type { TestNode } from "./helpers/replication.js";
import { ROGUE_KMS, STAND_IN_KMS } from "./helpers/kms-stand-in.js";
import { loadTdxFixture } from "./helpers/tee-stand-in.js";

const { ethers, networkHelpers, ignition } = await network.create();

// NodeStatus and EvictionCause, as the contract numbers them.
const Status = { None: 0n, Registered: 1n, Member: 2n, Evicted: 3n } as const;
const Cause = { Left: 0n, NoLongerAllowed: 1n, RemovedByOwner: 2n, AttestationExpired: 3n } as const;
const PERIOD = 30n * 24n * 3600n;

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

async function onboardingBy(
  f: Pick<Fixture, "registry" | "domain">,
  member: TestNode,
  node: TestNode,
  ciphertext = hexlify(randomBytes(97)),
) {
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

/** `node`'s next refresh, signed by `signer` (the node itself unless a test says otherwise). */
async function signedRefresh(
  f: { registry: Fixture["registry"]; domain: Fixture["domain"] },
  node: TestNode,
  overrides: Partial<AttestationRefresh> & { signer?: TestNode } = {},
) {
  const { signer, ...fields } = overrides;
  const refresh: AttestationRefresh = {
    node: node.address,
    nonce: (await f.registry.getNode(node.address)).refreshes,
    quote: hexlify(randomBytes(128)),
    eventLog: "0x7b7d",
    tcbStatus: "UpToDate",
    advisoryIds: [],
    ...fields,
  };
  return { refresh, signature: await signRefresh((signer ?? node).wallet, f.domain, refresh) };
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
      expect(domain.version).to.equal("2");
      expect(domain.chainId).to.equal(chainId);
      expect(domain.verifyingContract).to.equal(await registry.getAddress());
    });

    it("reverts with RegistryAppAuthInvalid for an address without code", async function () {
      const { registry, stranger, kms } = await networkHelpers.loadFixture(baseFixture);
      const factory = await ethers.getContractFactory("ReplicationRegistry");
      await expect(factory.deploy(stranger.address, await kms.getAddress()))
        .to.be.revertedWithCustomError(registry, "RegistryAppAuthInvalid")
        .withArgs(stranger.address);
    });

    it("reverts with RegistryAppAuthInvalid for a contract that is not an IAppAuth", async function () {
      const { registry, kms } = await networkHelpers.loadFixture(baseFixture);
      const factory = await ethers.getContractFactory("ReplicationRegistry");
      const notAppAuth = await registry.getAddress();
      await expect(factory.deploy(notAppAuth, await kms.getAddress()))
        .to.be.revertedWithCustomError(registry, "RegistryAppAuthInvalid")
        .withArgs(notAppAuth);
    });
    it("reverts with RegistryAppAuthInvalid for an IAppAuth without a timelock (a stock, instantly changeable one)", async function () {
      const { registry, stranger, kms } = await networkHelpers.loadFixture(baseFixture);
      const stock = await ethers.deployContract("StockAppAuth", [
        stranger.address,
        true,
        ethers.ZeroHash,
        ethers.ZeroHash,
      ]);
      const factory = await ethers.getContractFactory("ReplicationRegistry");
      await expect(factory.deploy(await stock.getAddress(), await kms.getAddress()))
        .to.be.revertedWithCustomError(registry, "RegistryAppAuthInvalid")
        .withArgs(await stock.getAddress());
    });
  });

  describe("Ignition module", function () {
    it("deploys a registry bound to the AppAuth and the KMS given as parameters", async function () {
      const { appAuth, kms } = await networkHelpers.loadFixture(baseFixture);
      const appAuthAddress = await appAuth.getAddress();
      const kmsAddress = await kms.getAddress();
      const deployed = await ignition.deploy(ReplicationRegistryModule, {
        parameters: { ReplicationRegistry: { appAuth: appAuthAddress, kms: kmsAddress } },
      });
      const registry = await ethers.getContractAt("ReplicationRegistry", await deployed.registry.getAddress());
      expect(await registry.appAuth()).to.equal(appAuthAddress);
      expect(await registry.kms()).to.equal(kmsAddress);
      expect(await registry.kmsRoot()).to.equal(computeAddress(STAND_IN_KMS.root.publicKey));
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

    it("computes the TLS key digest ethers computes, with the type the off-chain library signs", async function () {
      const { registry, domain } = await networkHelpers.loadFixture(baseFixture);
      const tlsKeyType = TypedDataEncoder.from(TLS_KEY_TYPES).encodeType("TlsKey");
      expect(tlsKeyType).to.equal("TlsKey(bytes32 spkiSha256,uint64 nonce)");
      expect(await registry.TLS_KEY_TYPEHASH()).to.equal(id(tlsKeyType));
      const spkiSha256 = id("SPKI");
      expect(await registry.tlsKeyDigest(spkiSha256)).to.equal(tlsKeyDigest(domain, { spkiSha256, nonce: 0n }));
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
        .withArgs(A.address, COMPOSE_A, quoteHash, r.encryptionPublicKey, anyValue, anyValue, anyValue);

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
      ["the node address", ([, key, info, att, chain, sig]) => [B.address, key, info, att, chain, sig]],
      [
        "the encryption key",
        ([node, , info, att, chain, sig]) => [node, hexlify(randomBytes(33)), info, att, chain, sig],
      ],
      [
        "the compose hash",
        ([node, key, info, att, chain, sig]) => [node, key, { ...info, composeHash: COMPOSE_B }, att, chain, sig],
      ],
      [
        "the device id",
        ([node, key, info, att, chain, sig]) => [node, key, { ...info, deviceId: DEVICE_2 }, att, chain, sig],
      ],
      [
        "the advisory ids",
        ([node, key, info, att, chain, sig]) => [node, key, { ...info, advisoryIds: [] }, att, chain, sig],
      ],
      ["the quote", ([node, key, info, att, chain, sig]) => [node, key, info, { ...att, quote: "0x1234" }, chain, sig]],
      [
        "the event log",
        ([node, key, info, att, chain, sig]) => [node, key, info, { ...att, eventLog: "0x" }, chain, sig],
      ],
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
      const [node, key, info, att, chain] = registerArgs(await signedRegistration(domain, A, appId));
      await expect(registry.register(node, key, info, att, chain, "0x1234"))
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

  describe("the KMS root", function () {
    it("reads the root from kmsInfo() at deployment and says so in KmsRootBound", async function () {
      const { registry, kms, appAuth } = await networkHelpers.loadFixture(baseFixture);
      const root = computeAddress(STAND_IN_KMS.root.publicKey);
      expect(await registry.kms()).to.equal(await kms.getAddress());
      expect(await registry.kmsRoot()).to.equal(root);
      const again = await ethers.deployContract("ReplicationRegistry", [
        await appAuth.getAddress(),
        await kms.getAddress(),
      ]);
      await expect(again.deploymentTransaction())
        .to.emit(again, "KmsRootBound")
        .withArgs(await kms.getAddress(), root, STAND_IN_KMS.root.compressedPublicKey);
      expect(await registry.ATTESTATION_PERIOD()).to.equal(PERIOD);
      expect(await registry.NODE_KEY_PURPOSE()).to.equal(NODE_KEY_PURPOSE);
    });

    it("reverts with RegistryKmsInvalid for an address without code, a contract without kmsInfo(), and no root", async function () {
      const { registry, appAuth, stranger } = await networkHelpers.loadFixture(baseFixture);
      const factory = await ethers.getContractFactory("ReplicationRegistry");
      const app = await appAuth.getAddress();
      await expect(factory.deploy(app, stranger.address))
        .to.be.revertedWithCustomError(registry, "RegistryKmsInvalid")
        .withArgs(stranger.address);
      await expect(factory.deploy(app, app))
        .to.be.revertedWithCustomError(registry, "RegistryKmsInvalid")
        .withArgs(app);
      const unset = await ethers.deployContract("KmsStandIn", [stranger.address]);
      await expect(factory.deploy(app, await unset.getAddress()))
        .to.be.revertedWithCustomError(registry, "RegistryKmsInvalid")
        .withArgs(await unset.getAddress());
    });

    it("reverts with DstackSignatureChainInvalidPublicKey when kmsInfo() publishes no secp256k1 key", async function () {
      const { registry, appAuth, stranger } = await networkHelpers.loadFixture(baseFixture);
      const bad = await ethers.deployContract("KmsStandIn", [stranger.address]);
      const notAKey = `0x05${"11".repeat(32)}`;
      await bad.connect(stranger).setKmsInfo({ k256Pubkey: notAKey, caPubkey: "0x", quote: "0x", eventlog: "0x" });
      const factory = await ethers.getContractFactory("ReplicationRegistry");
      await expect(factory.deploy(await appAuth.getAddress(), await bad.getAddress()))
        .to.be.revertedWithCustomError(registry, "DstackSignatureChainInvalidPublicKey")
        .withArgs(notAKey);
    });

    it("keeps the root it was bound to when the KMS's owner publishes another: chains to the new one cannot register", async function () {
      const { registry, kms, domain, appId, owner } = await networkHelpers.loadFixture(baseFixture);
      await kms.connect(owner).setKmsInfo({
        k256Pubkey: ROGUE_KMS.root.compressedPublicKey,
        caPubkey: ROGUE_KMS.caPublicKey,
        quote: "0x",
        eventlog: "0x",
      });
      expect(await registry.kmsRoot()).to.equal(computeAddress(STAND_IN_KMS.root.publicKey));
      const signed = await signedRegistration(domain, A, appId, { keyChain: keyChainOf(A, appId, { kms: ROGUE_KMS }) });
      await expect(registry.register(...registerArgs(signed)))
        .to.be.revertedWithCustomError(registry, "DstackSignatureChainKmsRootMismatch")
        .withArgs(computeAddress(ROGUE_KMS.root.publicKey), computeAddress(STAND_IN_KMS.root.publicKey));
    });
  });

  describe("register: the node's key was issued by the KMS to this app", function () {
    it("emits the key chain it verified, and records the registration as the node's first attestation", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const signed = await signedRegistration(domain, A, appId);
      const receipt = await (await registry.register(...registerArgs(signed))).wait();
      const log = receipt?.logs.map((l) => registry.interface.parseLog(l)).find((l) => l?.name === "NodeRegistered");
      expect(plain(log?.args.keyChain)).to.deep.equal(signed.keyChain);
      const record = await registry.getNode(A.address);
      expect(record.attestedAt).to.equal(await networkHelpers.time.latest());
      expect(record.refreshes).to.equal(0n);
      expect(await registry.attestationExpiresAt(A.address)).to.equal(record.attestedAt + PERIOD);
    });

    it("reverts with DstackSignatureChainKmsRootMismatch for a chain from a rogue KMS", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const signed = await signedRegistration(domain, A, appId, { keyChain: keyChainOf(A, appId, { kms: ROGUE_KMS }) });
      await expect(registry.register(...registerArgs(signed)))
        .to.be.revertedWithCustomError(registry, "DstackSignatureChainKmsRootMismatch")
        .withArgs(computeAddress(ROGUE_KMS.root.publicKey), computeAddress(STAND_IN_KMS.root.publicKey));
    });

    it("reverts with DstackSignatureChainKmsRootMismatch for a chain the KMS issued to another app", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const foreign = keyChainOf(A, appId, { chainAppId: await registry.getAddress() });
      const signed = await signedRegistration(domain, A, appId, { keyChain: foreign });
      await expect(registry.register(...registerArgs(signed))).to.be.revertedWithCustomError(
        registry,
        "DstackSignatureChainKmsRootMismatch",
      );
    });

    it("reverts with RegistryNodeKeyNotKmsIssued for a genuine chain of another node's key", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const signed = await signedRegistration(domain, A, appId, { keyChain: keyChainOf(B, appId) });
      await expect(registry.register(...registerArgs(signed)))
        .to.be.revertedWithCustomError(registry, "RegistryNodeKeyNotKmsIssued")
        .withArgs(A.address, B.address);
    });

    it("reverts with DstackSignatureChainAppKeyMismatch for a chain made for another purpose", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const signed = await signedRegistration(domain, A, appId, {
        keyChain: keyChainOf(A, appId, { purpose: "ethereum" }),
      });
      await expect(registry.register(...registerArgs(signed))).to.be.revertedWithCustomError(
        registry,
        "DstackSignatureChainAppKeyMismatch",
      );
    });

    it("reverts with the chain library's errors for a malformed key or signature", async function () {
      const { registry, domain, appId } = await networkHelpers.loadFixture(baseFixture);
      const chain = keyChainOf(A, appId);
      const badKey = await signedRegistration(domain, A, appId, { keyChain: { ...chain, appPublicKey: "0x02" } });
      await expect(registry.register(...registerArgs(badKey)))
        .to.be.revertedWithCustomError(registry, "DstackSignatureChainInvalidPublicKey")
        .withArgs("0x02");
      const badSig = await signedRegistration(domain, A, appId, { keyChain: { ...chain, kmsSignature: "0x1234" } });
      await expect(registry.register(...registerArgs(badSig)))
        .to.be.revertedWithCustomError(registry, "DstackSignatureChainInvalidSignature")
        .withArgs(1n, "0x1234");
    });
  });

  describe("refreshAttestation", function () {
    it("records a member's new quote and TCB, re-judged by the policy, from any submitter", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      await networkHelpers.time.increase(7n * 24n * 3600n);
      const { refresh, signature } = await signedRefresh(f, B, {
        tcbStatus: "OutOfDate",
        advisoryIds: ["INTEL-SA-01"],
      });
      const quoteHash = keccak256(refresh.quote);
      await expect(f.registry.connect(f.stranger).refreshAttestation(...refreshArguments({ refresh, signature })))
        .to.emit(f.registry, "AttestationRefreshed")
        .withArgs(
          B.address,
          quoteHash,
          0n,
          "OutOfDate",
          ["INTEL-SA-01"],
          [refresh.quote, refresh.eventLog],
          false,
          "TCB status is not up to date",
        );
      const record = await f.registry.getNode(B.address);
      expect(record.attestedAt).to.equal(await networkHelpers.time.latest());
      expect(record.refreshes).to.equal(1n);
      expect(record.quoteHash).to.equal(quoteHash);
      expect(record.bootInfo.tcbStatus).to.equal("OutOfDate");
      expect([...record.bootInfo.advisoryIds]).to.deep.equal(["INTEL-SA-01"]);
      expect(record.bootInfo.composeHash).to.equal(COMPOSE_B);
      expect(await f.registry.isNodeAllowed(B.address)).to.deep.equal([false, "TCB status is not up to date"]);
      // Now anyone may evict it.
      await expect(f.registry.connect(f.stranger).evict(B.address))
        .to.emit(f.registry, "MemberEvicted")
        .withArgs(B.address, f.stranger.address, Cause.NoLongerAllowed, "TCB status is not up to date");
    });

    it("lets a registered node refresh, and an up-to-date refresh makes it allowed again", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const outdated = await signedRefresh(f, C, { tcbStatus: "OutOfDate" });
      await f.registry.refreshAttestation(...refreshArguments(outdated));
      const fresh = await signedRefresh(f, C, { advisoryIds: ["A", "B"] });
      expect(fresh.refresh.nonce).to.equal(1n);
      await expect(f.registry.refreshAttestation(...refreshArguments(fresh)))
        .to.emit(f.registry, "AttestationRefreshed")
        .withArgs(C.address, keccak256(fresh.refresh.quote), 1n, "UpToDate", ["A", "B"], anyValue, true, "");
      expect([...(await f.registry.getNode(C.address)).bootInfo.advisoryIds]).to.deep.equal(["A", "B"]);
    });

    it("reverts with RegistrySignerMismatch when a refresh is replayed, or signed by another key", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const signed = await signedRefresh(f, A);
      await f.registry.refreshAttestation(...refreshArguments(signed));
      const replayedSigner = recoverAddress(
        refreshDigest(f.domain, { ...signed.refresh, nonce: 1n }),
        signed.signature,
      );
      await expect(f.registry.refreshAttestation(...refreshArguments(signed)))
        .to.be.revertedWithCustomError(f.registry, "RegistrySignerMismatch")
        .withArgs(A.address, replayedSigner);
      const forged = await signedRefresh(f, A, { signer: B });
      await expect(f.registry.refreshAttestation(...refreshArguments(forged)))
        .to.be.revertedWithCustomError(f.registry, "RegistrySignerMismatch")
        .withArgs(A.address, B.address);
    });

    it("reverts with RegistryNodeCannotRefresh for an unknown or evicted node, RegistryQuoteEmpty without a quote", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      const unknown = testNode("unknown");
      const forUnknown = await signedRefresh(f, unknown);
      await expect(f.registry.refreshAttestation(...refreshArguments(forUnknown)))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeCannotRefresh")
        .withArgs(unknown.address, Status.None);
      await f.registry.connect(f.owner).evict(B.address);
      const forEvicted = await signedRefresh(f, B);
      await expect(f.registry.refreshAttestation(...refreshArguments(forEvicted)))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeCannotRefresh")
        .withArgs(B.address, Status.Evicted);
      const empty = await signedRefresh(f, A, { quote: "0x" });
      await expect(f.registry.refreshAttestation(...refreshArguments(empty)))
        .to.be.revertedWithCustomError(f.registry, "RegistryQuoteEmpty")
        .withArgs(A.address);
    });

    it("computes the refresh digest ethers computes, at the node's current nonce", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const refreshType = TypedDataEncoder.from(ATTESTATION_REFRESH_TYPES).encodeType("AttestationRefresh");
      expect(await f.registry.ATTESTATION_REFRESH_TYPEHASH()).to.equal(id(refreshType));
      const { refresh } = await signedRefresh(f, A, { advisoryIds: ["X", ""] });
      const onChain = await f.registry.refreshDigest(
        A.address,
        { quote: refresh.quote, eventLog: refresh.eventLog },
        refresh.tcbStatus,
        refresh.advisoryIds,
      );
      expect(onChain).to.equal(refreshDigest(f.domain, refresh));
    });
  });

  describe("the attestation period", function () {
    it("a member whose last attestation is older than the period onboards nobody, and a stranger may evict it", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const attestedAt = (await f.registry.getNode(A.address)).attestedAt;
      await networkHelpers.time.increaseTo(attestedAt + PERIOD - 1n);
      // B refreshes, so only the sponsor's attestation is out of date.
      const refreshedB = await signedRefresh(f, B);
      await f.registry.refreshAttestation(...refreshArguments(refreshedB));
      const { ciphertext, signature } = await onboardingBy(f, A, B);
      await expect(f.registry.onboard(B.address, ciphertext, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistrySponsorAttestationExpired")
        .withArgs(A.address, attestedAt, attestedAt + PERIOD);
      await expect(f.registry.connect(f.stranger).evict(A.address))
        .to.emit(f.registry, "MemberEvicted")
        .withArgs(A.address, f.stranger.address, Cause.AttestationExpired, "");
    });

    it("a stranger cannot evict a member one second before its attestation expires; a refresh restarts the period", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      const attestedAt = (await f.registry.getNode(B.address)).attestedAt;
      await networkHelpers.time.increaseTo(attestedAt + PERIOD - 2n); // the eviction is mined at PERIOD - 1
      await expect(f.registry.connect(f.stranger).evict(B.address))
        .to.be.revertedWithCustomError(f.registry, "RegistryEvictionUnauthorized")
        .withArgs(B.address, f.stranger.address);
      await f.registry.refreshAttestation(...refreshArguments(await signedRefresh(f, B)));
      // The next transaction is mined one second later: at the refresh's time + PERIOD - 1.
      await networkHelpers.time.increase(PERIOD - 2n);
      await expect(f.registry.connect(f.stranger).evict(B.address)).to.be.revertedWithCustomError(
        f.registry,
        "RegistryEvictionUnauthorized",
      );
    });

    it("a registration older than the period can neither be onboarded nor made genesis until the node refreshes", async function () {
      const f = await networkHelpers.loadFixture(baseFixture);
      await f.registry.register(...registerArgs(await signedRegistration(f.domain, A, f.appId)));
      const attestedAt = (await f.registry.getNode(A.address)).attestedAt;
      await networkHelpers.time.increaseTo(attestedAt + PERIOD);
      await expect(f.registry.connect(f.owner).setGenesis(A.address))
        .to.be.revertedWithCustomError(f.registry, "RegistryAttestationExpired")
        .withArgs(A.address, attestedAt, attestedAt + PERIOD);
      await f.registry.refreshAttestation(...refreshArguments(await signedRefresh(f, A)));
      await expect(f.registry.connect(f.owner).setGenesis(A.address)).to.emit(f.registry, "GenesisSet");

      await f.registry.register(...registerArgs(await signedRegistration(f.domain, C, f.appId)));
      const cAttestedAt = (await f.registry.getNode(C.address)).attestedAt;
      await networkHelpers.time.increaseTo(cAttestedAt + PERIOD);
      await f.registry.refreshAttestation(...refreshArguments(await signedRefresh(f, A)));
      const { ciphertext, signature } = await onboardingBy(f, A, C);
      await expect(f.registry.onboard(C.address, ciphertext, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistryAttestationExpired")
        .withArgs(C.address, cAttestedAt, cAttestedAt + PERIOD);
    });

    it("the owner's eviction of an expired member is recorded as AttestationExpired, a denied one as NoLongerAllowed", async function () {
      const f = await networkHelpers.loadFixture(twoMembersFixture);
      await networkHelpers.time.increase(PERIOD);
      await expect(f.registry.connect(f.owner).evict(B.address))
        .to.emit(f.registry, "MemberEvicted")
        .withArgs(B.address, f.owner.address, Cause.AttestationExpired, "");
      await f.appAuth.connect(f.owner).removeDevice(DEVICE_1);
      await expect(f.registry.connect(f.stranger).evict(A.address))
        .to.emit(f.registry, "MemberEvicted")
        .withArgs(A.address, f.stranger.address, Cause.NoLongerAllowed, "Device not allowed");
    });

    it("answers zero for a node that never registered", async function () {
      const { registry } = await networkHelpers.loadFixture(baseFixture);
      expect(await registry.attestationExpiresAt(A.address)).to.equal(0n);
    });
  });

  describe("genesis: held to the same evidence", function () {
    it("the owner cannot make its own key, nor a node whose key chain leads elsewhere, the genesis member", async function () {
      const f = await networkHelpers.loadFixture(baseFixture);
      await expect(f.registry.connect(f.owner).setGenesis(f.owner.address))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeNotRegistered")
        .withArgs(f.owner.address, Status.None);
      const rogue = await signedRegistration(f.domain, A, f.appId, {
        keyChain: keyChainOf(A, f.appId, { kms: ROGUE_KMS }),
      });
      await expect(f.registry.register(...registerArgs(rogue))).to.be.revertedWithCustomError(
        f.registry,
        "DstackSignatureChainKmsRootMismatch",
      );
      await expect(f.registry.connect(f.owner).setGenesis(A.address))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeNotRegistered")
        .withArgs(A.address, Status.None);
      expect(await f.registry.genesis()).to.equal(ZeroAddress);
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

  describe("setTlsKey: only the genesis member, while it is a member, publishes the app's TLS key", function () {
    const SPKI = `0x${"5a".repeat(32)}`;

    it("publishes the key signed by the genesis member, and refuses the same signature again", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const signature = await signTlsKey(A.wallet, f.domain, { spkiSha256: SPKI, nonce: 0n });
      await expect(f.registry.setTlsKey(SPKI, signature)).to.emit(f.registry, "TlsKeySet");
      expect(await f.registry.tlsKey()).to.deep.equal([SPKI, 1n]);
      await expect(f.registry.setTlsKey(SPKI, signature)).to.be.revertedWithCustomError(
        f.registry,
        "RegistrySignerNotGenesis",
      );
    });

    it("reverts with RegistryTlsKeyZero for a zero hash", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const signature = await signTlsKey(A.wallet, f.domain, { spkiSha256: ethers.ZeroHash, nonce: 0n });
      await expect(f.registry.setTlsKey(ethers.ZeroHash, signature)).to.be.revertedWithCustomError(
        f.registry,
        "RegistryTlsKeyZero",
      );
    });

    it("reverts with RegistrySignerNotGenesis for another member's signature", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      const signature = await signTlsKey(C.wallet, f.domain, { spkiSha256: SPKI, nonce: 0n });
      await expect(f.registry.setTlsKey(SPKI, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistrySignerNotGenesis")
        .withArgs(C.address, A.address);
    });

    it("reverts with RegistryNodeNotMember once the genesis member has left", async function () {
      const f = await networkHelpers.loadFixture(genesisFixture);
      await f.registry.connect(await funded(A)).evict(A.address);
      const signature = await signTlsKey(A.wallet, f.domain, { spkiSha256: SPKI, nonce: 0n });
      await expect(f.registry.setTlsKey(SPKI, signature))
        .to.be.revertedWithCustomError(f.registry, "RegistryNodeNotMember")
        .withArgs(A.address, Status.Evicted);
    });
  });
});
