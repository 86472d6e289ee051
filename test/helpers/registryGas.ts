/**
 * Gas of ReplicationRegistry's operations, and `register` and `onboard` as the membership grows, shared by the gas
 * test (test/ReplicationRegistryGas.ts) and the benchmark (scripts/bench/registry.ts).
 *
 * Every input is derived from a label, never random, so the same membership sizes give the same gas on every run:
 * calldata costs 4 gas per zero byte and 16 per other byte, so a random instance id or ciphertext would move the
 * figures by a few dozen gas from one run to the next.
 */
import { readFile } from "node:fs/promises";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkHelpers } from "@nomicfoundation/hardhat-network-helpers/types";
import { concat, dataSlice, getAddress, hexlify, id } from "ethers";

import {
  encodeEventLogBytes,
  refreshArguments,
  runtimeEvent,
  signOnboarding,
  signRefresh,
} from "../../lib/replication/index.js";
import { COMPOSE_A, deployRegistry, registerArgs, signedRegistration, testNode } from "./replication.js";
import type { TestNode } from "./replication.js";
import { TDX_FIXTURE_DIR } from "./tee-stand-in.js";

/** The gas one node's registration and onboarding used, with `members` members before it joined. */
export interface RegistryGasPoint {
  members: number;
  register: bigint;
  onboard: bigint;
}

/** What a measured node carries, as a real one does: a 5006-byte TDX quote and an RTMR3 event log. */
export interface MeasuredPayload {
  quote: string;
  eventLog: string;
}

/** The real fixture quote and a six-entry RTMR3 event log measuring compose A. */
export async function realisticPayload(): Promise<MeasuredPayload> {
  const quote = hexlify(await readFile(new URL("tdx_quote", TDX_FIXTURE_DIR)));
  const entries = ["system-preparing", "app-id", "compose-hash", "instance-id", "boot-mr-done", "system-ready"].map(
    (name) => runtimeEvent(name, name === "compose-hash" ? COMPOSE_A : id(name)),
  );
  return { quote, eventLog: hexlify(encodeEventLogBytes(JSON.stringify(entries))) };
}

/** `length` bytes derived from `label` (keccak256 chained): a stand-in ciphertext that is the same on every run. */
export function labelledBytes(label: string, length: number): string {
  const words: string[] = [];
  for (let i = 0; words.length * 32 < length; i++) words.push(id(`${label} #${i}`));
  return dataSlice(concat(words), 0, length);
}

/** A filler registration: the smallest accepted quote and an empty event log (the set's size is what matters). */
const FILLER: MeasuredPayload = { quote: "0x01", eventLog: "0x" };

/** Length of an ECIES ciphertext of a 32-byte secret: 65-byte ephemeral key, 16-byte nonce, 16-byte tag, 32. */
export const CIPHERTEXT_LENGTH = 129;

/** One of each operation on a realistic node, and the size of what a registration sends. */
export interface RegistryOperationsGas {
  /** The genesis node's registration (its quote, event log and key chain). */
  register: bigint;
  setGenesis: bigint;
  /** Onboarding the first node after the genesis member. */
  onboard: bigint;
  /** The genesis member's attestation refresh, with a quote and event log as large as its registration's. */
  refreshAttestation: bigint;
  /** A stranger evicting a member whose attestation expired. */
  evict: bigint;
  /** Calldata bytes of the genesis node's `register` transaction. */
  registrationCalldataBytes: number;
}

/** Every figure {@link measureRegistryGas} takes. */
export interface RegistryGasMeasurement {
  operations: RegistryOperationsGas;
  points: RegistryGasPoint[];
}

/**
 * Deploys a policy, a stand-in KMS and a registry (test/helpers/replication.ts), registers a genesis node with
 * `payload` and sets it, then for each count in `memberCounts` (ascending) grows the membership to that count with
 * filler nodes and measures one more node's `register` and `onboard` with `payload`; last, the genesis member
 * refreshes its attestation and a member whose attestation expired is evicted by a stranger. Receipt `gasUsed`, so the
 * 21,000 base and calldata are included.
 */
export async function measureRegistryGas(
  ethers: HardhatEthers,
  networkHelpers: NetworkHelpers<string>,
  memberCounts: readonly number[],
  payload: MeasuredPayload,
): Promise<RegistryGasMeasurement> {
  const { registry, domain, appId, owner, stranger } = await deployRegistry(ethers, networkHelpers);
  const genesis = testNode("gas genesis");

  async function join(node: TestNode, { quote, eventLog }: MeasuredPayload) {
    const instanceId = getAddress(dataSlice(id(`instance of ${node.label}`), 12));
    const signed = await signedRegistration(domain, node, appId, { quote, eventLog, boot: { instanceId } });
    const registerReceipt = await (await registry.register(...registerArgs(signed))).wait();
    const { quoteHash } = await registry.getNode(node.address);
    const ciphertext = labelledBytes(`ciphertext for ${node.label}`, CIPHERTEXT_LENGTH);
    const signature = await signOnboarding(genesis.wallet, domain, { node: node.address, quoteHash, ciphertext });
    const onboardReceipt = await (await registry.onboard(node.address, ciphertext, signature)).wait();
    if (registerReceipt === null || onboardReceipt === null) throw new Error("no receipt");
    return { register: registerReceipt.gasUsed, onboard: onboardReceipt.gasUsed };
  }

  const genesisRegistration = await signedRegistration(domain, genesis, appId, {
    quote: payload.quote,
    eventLog: payload.eventLog,
    boot: { instanceId: getAddress(dataSlice(id("instance of gas genesis"), 12)) },
  });
  const registerTx = await registry.register(...registerArgs(genesisRegistration));
  const registerReceipt = await registerTx.wait();
  const genesisReceipt = await (await registry.connect(owner).setGenesis(genesis.address)).wait();
  if (registerReceipt === null || genesisReceipt === null) throw new Error("no receipt");

  const points: RegistryGasPoint[] = [];
  let firstOnboard: bigint | undefined;
  for (const members of memberCounts) {
    for (let i = Number(await registry.memberCount()); i < members; i++) {
      const filler = await join(testNode(`filler ${i}`), FILLER);
      firstOnboard ??= filler.onboard;
    }
    const count = Number(await registry.memberCount());
    if (count !== members) throw new Error(`expected ${members} members before measuring, found ${count}`);
    const measured = await join(testNode(`measured with ${members} members`), payload);
    firstOnboard ??= measured.onboard;
    points.push({ members, ...measured });
  }

  // The genesis member refreshes; then, a period later, a member that did not is evicted by a stranger.
  const refresh = {
    node: genesis.address,
    nonce: 0n,
    quote: payload.quote,
    eventLog: payload.eventLog,
    tcbStatus: "UpToDate",
    advisoryIds: ["INTEL-SA-00837", "INTEL-SA-00615"],
  };
  const refreshSignature = await signRefresh(genesis.wallet, domain, refresh);
  const refreshReceipt = await (
    await registry.refreshAttestation(...refreshArguments({ refresh, signature: refreshSignature }))
  ).wait();
  await networkHelpers.time.increase(await registry.ATTESTATION_PERIOD());
  const [, expired] = await registry.getMembers(0, 2);
  if (expired === undefined) throw new Error("a second member is needed to measure an eviction");
  const evictReceipt = await (await registry.connect(stranger).evict(expired)).wait();
  if (refreshReceipt === null || evictReceipt === null || firstOnboard === undefined) throw new Error("no receipt");
  return {
    operations: {
      register: registerReceipt.gasUsed,
      setGenesis: genesisReceipt.gasUsed,
      onboard: firstOnboard,
      refreshAttestation: refreshReceipt.gasUsed,
      evict: evictReceipt.gasUsed,
      registrationCalldataBytes: (registerTx.data.length - 2) / 2,
    },
    points,
  };
}
