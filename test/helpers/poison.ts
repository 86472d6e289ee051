/**
 * Hostile registrations and refreshes, as any node with a key dstack's KMS issued to the app can post them (the code
 * behind such a key may be a release the owner wrote for this): the node's own key signs a registration or refresh
 * whose `tcbStatus` and `advisoryIds` are any bytes (not UTF-8, terminal escapes, 100 kB), with its genuine key chain.
 * ethers encodes a `string` only from valid text, so these are encoded with every `string` read as the `bytes` it is
 * on the wire (`rawType`), and the EIP-712 digest is asked of the registry itself (`registrationDigest`,
 * `refreshDigest`), which hashes the bytes as they are.
 */
import { AbiCoder, ParamType, concat, getBytes, hexlify, id, toUtf8Bytes } from "ethers";
import type { BytesLike, Provider, Signer } from "ethers";

import { rawType } from "../../lib/untrusted/decode.js";
import { ReplicationRegistry__factory } from "../../types/ethers-contracts/index.js";
import type { AppBootInfo, NodeKeyChain } from "../../lib/replication/index.js";
import { COMPOSE_A, DEVICE_1, fakeEventLog, fakeQuote, keyChainOf } from "./replication.js";
import type { TestNode } from "./replication.js";

const coder = AbiCoder.defaultAbiCoder();
const registryInterface = ReplicationRegistry__factory.createInterface();

/** A string field's bytes: text is taken as its UTF-8, anything else as it is. */
export type RawString = string | Uint8Array;

const bytesOf = (value: RawString): string => hexlify(typeof value === "string" ? toUtf8Bytes(value) : value);

/** Bytes that are not UTF-8: a lone continuation byte, an overlong NUL, and a truncated sequence. */
export const NOT_UTF8 = Uint8Array.from([0x55, 0x70, 0x80, 0xc0, 0x80, 0xe2, 0x82]);
/** A terminal escape: clear the screen, move home, print in red, and a CSI (U+009B) and a right-to-left override. */
export const TERMINAL_ESCAPES = "\u001b[2J\u001b[H\u001b[31mUpToDate\u009b0m\u202eetadpUoT";

/** A boot info whose strings are any bytes; the other fields default to placeholders the fixture's policy allows. */
export interface HostileBoot extends Partial<Omit<AppBootInfo, "tcbStatus" | "advisoryIds">> {
  appId: string;
  tcbStatus: RawString;
  advisoryIds: RawString[];
}

function bootTuple(boot: HostileBoot) {
  return [
    boot.appId,
    boot.composeHash ?? COMPOSE_A,
    boot.instanceId ?? `0x${"00".repeat(20)}`,
    boot.deviceId ?? DEVICE_1,
    boot.mrAggregated ?? id("mrAggregated"),
    boot.mrSystem ?? id("mrSystem"),
    boot.osImageHash ?? id("os image"),
    bytesOf(boot.tcbStatus),
    boot.advisoryIds.map(bytesOf),
  ];
}

type RawCall = "register" | "registrationDigest" | "refreshAttestation" | "refreshDigest";

function rawCall(name: RawCall, args: unknown[]): string {
  const fragment = registryInterface.getFunction(name);
  return concat([
    fragment.selector,
    coder.encode(
      fragment.inputs.map((input) => rawType(ParamType.from(input))),
      args,
    ),
  ]);
}

async function digestOf(provider: Provider, registry: string, name: RawCall, args: unknown[]): Promise<string> {
  return coder.decode(["bytes32"], await provider.call({ to: registry, data: rawCall(name, args) }))[0] as string;
}

async function sendRaw(sender: Signer, registry: string, name: RawCall, args: unknown[]): Promise<number> {
  const tx = await sender.sendTransaction({ to: registry, data: rawCall(name, args) });
  const receipt = await tx.wait();
  if (receipt === null || receipt.status !== 1) throw new Error(`the hostile ${name} was not mined`);
  return receipt.blockNumber;
}

/**
 * Registers `node` (signed by its own key, with the chain the stand-in KMS issues for it to `boot.appId` unless
 * `evidence.keyChain` is given; sent by `sender`) with a boot info whose strings are the given bytes. The registry
 * accepts it when the policy allows it: an allowed compose hash and device, and `tcbStatus` "UpToDate" unless the
 * policy accepts an out-of-date TCB. Returns the block it landed in.
 */
export async function registerHostile(
  registry: string,
  sender: Signer,
  node: TestNode,
  boot: HostileBoot,
  evidence: { quote?: BytesLike; eventLog?: BytesLike; encryptionPublicKey?: BytesLike; keyChain?: NodeKeyChain } = {},
): Promise<number> {
  const provider = sender.provider as Provider;
  const key = hexlify(evidence.encryptionPublicKey ?? node.encryption.publicKey);
  const attestation = [
    hexlify(evidence.quote ?? fakeQuote(node.label)),
    hexlify(evidence.eventLog ?? fakeEventLog(boot.composeHash ?? COMPOSE_A)),
  ];
  const digest = await digestOf(provider, registry, "registrationDigest", [
    node.address,
    key,
    bootTuple(boot),
    attestation,
  ]);
  const signature = node.wallet.signingKey.sign(getBytes(digest)).serialized;
  const chain = evidence.keyChain ?? keyChainOf(node, boot.appId);
  const keyChain = [chain.derivedPublicKey, chain.appPublicKey, chain.appSignature, chain.kmsSignature].map((b) =>
    hexlify(b),
  );
  return sendRaw(sender, registry, "register", [node.address, key, bootTuple(boot), attestation, keyChain, signature]);
}

/**
 * Refreshes the attestation of the registered `node` (signed by its own key with its next nonce, sent by `sender`)
 * with a TCB status and advisories that are the given bytes. The registry records any refresh its node signed (the
 * policy's verdict goes into the event). Returns the block it landed in.
 */
export async function refreshHostile(
  registry: string,
  sender: Signer,
  node: TestNode,
  claim: { tcbStatus: RawString; advisoryIds: RawString[]; quote?: BytesLike; eventLog?: BytesLike },
): Promise<number> {
  const provider = sender.provider as Provider;
  const attestation = [
    hexlify(claim.quote ?? fakeQuote(`${node.label} refreshed`)),
    hexlify(claim.eventLog ?? fakeEventLog(COMPOSE_A)),
  ];
  const strings = [bytesOf(claim.tcbStatus), claim.advisoryIds.map(bytesOf)];
  const digest = await digestOf(provider, registry, "refreshDigest", [node.address, attestation, ...strings]);
  const signature = node.wallet.signingKey.sign(getBytes(digest)).serialized;
  return sendRaw(sender, registry, "refreshAttestation", [node.address, attestation, ...strings, signature]);
}
