/**
 * Shared set-up for the ReplicationRegistry tests: a policy, a stand-in dstack KMS publishing its root, a registry
 * bound to both, and in-TEE keys played by wallets, each with the signature chain the stand-in KMS issues for it.
 */
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkHelpers } from "@nomicfoundation/hardhat-network-helpers/types";
import { Wallet, hexlify, id, toUtf8Bytes } from "ethers";
import type { Signer, TypedDataDomain } from "ethers";

import { appKeyMessage, dstackSign, kmsIssuedMessage } from "../../lib/dstack/index.js";
import {
  NODE_KEY_PURPOSE,
  encodeEventLogBytes,
  encryptionKeyPairFromPrivateKey,
  registryDomain,
  runtimeEvent,
  signRegistration,
} from "../../lib/replication/index.js";
import type { AppBootInfo, EncryptionKeyPair, NodeKeyChain, Registration } from "../../lib/replication/index.js";
import { KmsStandIn__factory } from "../../types/ethers-contracts/index.js";
import { STAND_IN_KMS, standInAppKey } from "./kms-stand-in.js";
import type { StandInKms } from "./kms-stand-in.js";

export const NOTICE = 3600n;
export const COMPOSE_A = id("compose A");
export const COMPOSE_B = id("compose B");
export const DEVICE_1 = id("device 1");
export const DEVICE_2 = id("device 2");

/** A node's in-TEE keys, made deterministic from a label. */
export interface TestNode {
  label: string;
  wallet: Wallet;
  address: string;
  encryption: EncryptionKeyPair;
}

export function testNode(label: string): TestNode {
  const wallet = new Wallet(id(`eth key of ${label}`));
  return {
    label,
    wallet,
    address: wallet.address,
    encryption: encryptionKeyPairFromPrivateKey(id(`enc key of ${label}`)),
  };
}

/** A boot info the fixture's policy allows (compose A on device 1, up-to-date TCB). */
export function bootInfo(appId: string, overrides: Partial<AppBootInfo> = {}): AppBootInfo {
  return {
    appId,
    composeHash: COMPOSE_A,
    instanceId: Wallet.createRandom().address,
    deviceId: DEVICE_1,
    mrAggregated: id("mrAggregated"),
    mrSystem: id("mrSystem"),
    osImageHash: id("os image"),
    tcbStatus: "UpToDate",
    advisoryIds: ["INTEL-SA-00837", "INTEL-SA-00615"],
    ...overrides,
  };
}

/** A stand-in quote: contract tests do not verify quotes, they only record them. */
export function fakeQuote(label: string): string {
  return hexlify(toUtf8Bytes(`TDX quote of ${label}`.padEnd(96, ".")));
}

/** A stand-in RTMR3 event log measuring `composeHash`. */
export function fakeEventLog(composeHash: string): string {
  return hexlify(encodeEventLogBytes(JSON.stringify([runtimeEvent("compose-hash", composeHash)])));
}

/**
 * dstack's chain for `node`'s key as `kms` would issue it to `appId` for `purpose` (default: the protocol's): the app
 * key `kms` derives for `appId` signs the node's key, and the KMS root signs the app key. An app key can sign any key,
 * so a test node's key gets a genuine chain without being derived by HKDF.
 */
export function keyChainOf(
  node: Pick<TestNode, "wallet">,
  appId: string,
  options: { kms?: StandInKms; purpose?: string; chainAppId?: string } = {},
): NodeKeyChain {
  const kms = options.kms ?? STAND_IN_KMS;
  const chainAppId = options.chainAppId ?? appId;
  const appKey = standInAppKey(chainAppId, kms);
  const derived = node.wallet.signingKey.compressedPublicKey;
  return {
    derivedPublicKey: derived,
    appPublicKey: appKey.compressedPublicKey,
    appSignature: hexlify(dstackSign(appKey, appKeyMessage(options.purpose ?? NODE_KEY_PURPOSE, derived))),
    kmsSignature: hexlify(dstackSign(kms.root, kmsIssuedMessage(chainAppId, appKey.compressedPublicKey))),
  };
}

export interface SignedRegistration {
  registration: Registration;
  keyChain: NodeKeyChain;
  signature: string;
}

/** A registration of `node`, signed by `signer` (the node itself unless a test says otherwise), with its chain. */
export async function signedRegistration(
  domain: TypedDataDomain,
  node: TestNode,
  appId: string,
  overrides: Partial<Registration> & { signer?: Wallet; boot?: Partial<AppBootInfo>; keyChain?: NodeKeyChain } = {},
): Promise<SignedRegistration> {
  const { signer, boot, keyChain, ...fields } = overrides;
  const info = bootInfo(appId, boot);
  const registration: Registration = {
    node: node.address,
    encryptionPublicKey: hexlify(node.encryption.publicKey),
    bootInfo: info,
    quote: fakeQuote(node.label),
    eventLog: fakeEventLog(info.composeHash),
    ...fields,
  };
  const signature = await signRegistration(signer ?? node.wallet, domain, registration);
  return { registration, keyChain: keyChain ?? keyChainOf(node, appId), signature };
}

/** The arguments of `registry.register` for a signed registration. */
export { registerArguments as registerArgs } from "../../lib/replication/index.js";

/** A stand-in dstack KMS contract (`KmsStandIn`) whose `kmsInfo()` publishes `kms`'s root and CA keys. */
export async function deployKms(ethers: HardhatEthers, kms: StandInKms = STAND_IN_KMS) {
  const [owner] = await ethers.getSigners();
  if (owner === undefined) throw new Error("need a signer");
  return deployKmsFrom(owner, kms);
}

/** {@link deployKms}, deployed and owned by `owner` (any signer, e.g. over JSON-RPC). */
export async function deployKmsFrom(owner: Signer, kms: StandInKms = STAND_IN_KMS) {
  const contract = await new KmsStandIn__factory(owner).deploy(await owner.getAddress());
  await contract.waitForDeployment();
  await (
    await contract.setKmsInfo({
      k256Pubkey: kms.root.compressedPublicKey,
      caPubkey: kms.caPublicKey,
      quote: "0x",
      eventlog: "0x",
    })
  ).wait();
  return contract;
}

/**
 * A policy allowing compose A and B on devices 1 and 2 (B activated after the notice), a stand-in dstack KMS
 * publishing {@link STAND_IN_KMS}'s keys, and a registry bound to both.
 */
export async function deployRegistry(
  ethers: HardhatEthers,
  networkHelpers: NetworkHelpers<string>,
  options: { devices?: string[] } = {},
) {
  const [owner, relayer, stranger] = await ethers.getSigners();
  if (owner === undefined || relayer === undefined || stranger === undefined) throw new Error("need 3 signers");
  const appAuth = await ethers.deployContract("TimelockedAppAuth", [
    owner.address,
    NOTICE,
    COMPOSE_A,
    "https://example.org/compose-a.json",
    options.devices ?? [DEVICE_1, DEVICE_2],
    false,
    true,
  ]);
  await appAuth.proposeComposeHash(COMPOSE_B, "https://example.org/compose-b.json");
  await networkHelpers.time.increase(NOTICE);
  await appAuth.activateComposeHash(COMPOSE_B);

  const kms = await deployKms(ethers);
  const registry = await ethers.deployContract("ReplicationRegistry", [
    await appAuth.getAddress(),
    await kms.getAddress(),
  ]);
  const appId = await appAuth.getAddress();
  const { chainId } = await ethers.provider.getNetwork();
  const domain = registryDomain(chainId, await registry.getAddress());
  return { owner, relayer, stranger, appAuth, kms, registry, appId, chainId, domain };
}
