/**
 * Hostile registrations, as anyone can post them: a node's own key signs a registration whose `tcbStatus` and
 * `advisoryIds` are any bytes (not UTF-8, terminal escapes, 100 kB). ethers encodes a `string` only from valid text,
 * so these are encoded with every `string` read as the `bytes` it is on the wire (`rawType`), and the EIP-712 digest is
 * asked of the registry itself (`registrationDigest`), which hashes the bytes as they are.
 */
import { AbiCoder, ParamType, concat, getBytes, hexlify, id, toUtf8Bytes } from "ethers";
import type { BytesLike, Provider, Signer } from "ethers";

import { rawType } from "../../lib/untrusted/decode.js";
import { ReplicationRegistry__factory } from "../../types/ethers-contracts/index.js";
import { COMPOSE_A, DEVICE_1, fakeEventLog, fakeQuote } from "./replication.js";
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

export interface HostileBoot {
  appId: string;
  composeHash?: string;
  deviceId?: string;
  tcbStatus: RawString;
  advisoryIds: RawString[];
}

function bootTuple(boot: HostileBoot) {
  return [
    boot.appId,
    boot.composeHash ?? COMPOSE_A,
    `0x${"00".repeat(20)}`,
    boot.deviceId ?? DEVICE_1,
    id("mrAggregated"),
    id("mrSystem"),
    id("os image"),
    bytesOf(boot.tcbStatus),
    boot.advisoryIds.map(bytesOf),
  ];
}

function rawCall(name: "register" | "registrationDigest", args: unknown[]): string {
  const fragment = registryInterface.getFunction(name);
  return concat([
    fragment.selector,
    coder.encode(
      fragment.inputs.map((input) => rawType(ParamType.from(input))),
      args,
    ),
  ]);
}

/**
 * Registers `node` (signed by its own key, sent by `sender`) with a boot info whose strings are the given bytes. The
 * registry accepts it when the policy allows it: an allowed compose hash and device, and `tcbStatus` "UpToDate" unless
 * the policy accepts an out-of-date TCB. Returns the block it landed in.
 */
export async function registerHostile(
  registry: string,
  sender: Signer,
  node: TestNode,
  boot: HostileBoot,
  evidence: { quote?: BytesLike; eventLog?: BytesLike; encryptionPublicKey?: BytesLike } = {},
): Promise<number> {
  const provider = sender.provider as Provider;
  const key = hexlify(evidence.encryptionPublicKey ?? node.encryption.publicKey);
  const attestation = [
    hexlify(evidence.quote ?? fakeQuote(node.label)),
    hexlify(evidence.eventLog ?? fakeEventLog(boot.composeHash ?? COMPOSE_A)),
  ];
  const digest = coder.decode(
    ["bytes32"],
    await provider.call({
      to: registry,
      data: rawCall("registrationDigest", [node.address, key, bootTuple(boot), attestation]),
    }),
  )[0] as string;
  const signature = node.wallet.signingKey.sign(getBytes(digest)).serialized;
  const tx = await sender.sendTransaction({
    to: registry,
    data: rawCall("register", [node.address, key, bootTuple(boot), attestation, signature]),
  });
  const receipt = await tx.wait();
  if (receipt === null || receipt.status !== 1) throw new Error("the hostile registration was not mined");
  return receipt.blockNumber;
}
