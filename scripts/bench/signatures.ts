/**
 * Gas of a signed result checked on-chain (contracts/lib/DstackSignatureChain.sol): the library against the public
 * dstack tutorial's `TeeOracle.verify` on the same calldata, the read of the KMS root from `kmsInfo()`, and a whole
 * settlement of the oracle example's market (examples/oracle/).
 */
import { hkdfSync } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";

import { SigningKey, Wallet, computeAddress, getBytes, keccak256, solidityPacked, toUtf8Bytes } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import { appKeyMessage, dstackSign } from "../../lib/dstack/index.js";
import { ResultsSource, deployOracleContracts, startOracleCvm } from "../../examples/oracle/world.js";
import { createBenchConnection } from "./gas.js";

/**
 * The tutorial's `TeeOracle.verify` (github.com/amiller/dstack-tutorial, 05-onchain-authorization/TeeOracle.sol),
 * as the issue that asked for this comparison measured it: an OP-stack chain, solc 0.8.28, optimizer 200 runs, the IR
 * pipeline, a chain built from dstack's simulator vector.
 */
export const TEE_ORACLE_VERIFY_GAS = 80_365n;
/**
 * The same contract re-measured once, outside this repository (its source is not copied in), on exactly the inputs
 * below: solc 0.8.28 (the `solc` npm package), optimizer 200 runs, via IR, EVM cancun, deployed on Hardhat's
 * in-process OP-stack chain; `eth_estimateGas` of `verify`, which returned true.
 */
export const TEE_ORACLE_VERIFY_GAS_SAME_INPUTS = 80_201n;

const SIM_APP_ID = "0x5bb4ff9a3837357f19dc176407a5709c62eb6c56";
const SIM_KMS_ROOT = "0x0321529e458424ab1f710a3a57ec4dad2fb195ddca572f7469242ba6c7563085b6";

/** When the benchmark's market closes: far enough ahead of any chain's start. */
const SETTLEMENT_CLOSES_AT = 4_102_444_800;

export interface SignatureGas {
  /** `eth_estimateGas` of DstackSignedMessageBench.verify: TeeOracle.verify's function and calldata. */
  verifyTransaction: bigint;
  /** The library call alone (`verifySignedDigest`, root given, chain in memory). */
  verifyLibrary: bigint;
  calldataBytes: number;
  /** `kmsRootOf(kms)`: reading `kmsInfo()` with an empty quote and event log, and with a quote and log stored. */
  kmsRootRead: { empty: bigint; withQuote: bigint; quoteBytes: number; eventLogBytes: number };
  /** A whole `OracleMarket.settle` transaction (kmsInfo read, Stage-1 check, verification, state). */
  settle: bigint;
  tutorial: { reported: bigint; sameInputs: bigint };
}

/** The inputs of the comparison: dstack's simulator app key and KMS signature, a derived key, a price message. */
async function simulatorInputs(root: string) {
  const appKeys = JSON.parse(
    await readFile(path.join(root, "test/fixtures/dstack/simulator-appkeys.json"), "utf8"),
  ) as { k256_key: string; k256_signature: string };
  const appKey = new SigningKey(`0x${appKeys.k256_key}`);
  const derivedBytes = hkdfSync(
    "sha256",
    getBytes(appKey.privateKey),
    toUtf8Bytes("RATLS"),
    toUtf8Bytes("/oracle"),
    32,
  );
  const derived = new SigningKey(new Uint8Array(derivedBytes));
  const purpose = "ethereum";
  const messageHash = keccak256(solidityPacked(["uint256", "uint256"], [9_723_400n, 1_767_225_600n]));
  return {
    messageHash,
    messageSignature: new Wallet(derived).signMessageSync(getBytes(messageHash)),
    appSignature: dstackSign(appKey, appKeyMessage(purpose, derived.compressedPublicKey)),
    kmsSignature: `0x${appKeys.k256_signature}`,
    derivedPublicKey: derived.compressedPublicKey,
    appPublicKey: appKey.compressedPublicKey,
    purpose,
  };
}

export async function benchSignatureGas(hre: HardhatRuntimeEnvironment): Promise<SignatureGas> {
  const connection = await createBenchConnection(hre);
  const { ethers, networkHelpers } = connection;
  const [owner] = await ethers.getSigners();
  const input = await simulatorInputs(hre.config.paths.root);
  const args = [
    input.messageHash,
    input.messageSignature,
    input.appSignature,
    input.kmsSignature,
    input.derivedPublicKey,
    input.appPublicKey,
    input.purpose,
  ] as const;

  const bench = await ethers.deployContract("DstackSignedMessageBench", [SIM_APP_ID, computeAddress(SIM_KMS_ROOT)]);
  if (!(await bench.verify(...args))) throw new Error("bench: the simulator inputs do not verify");
  const verifyTransaction = await bench.verify.estimateGas(...args);
  const calldataBytes = getBytes(bench.interface.encodeFunctionData("verify", [...args])).length;

  const harness = await ethers.deployContract("DstackSignatureChainHarness");
  const digest = keccak256(
    solidityPacked(["string", "bytes32"], ["\x19Ethereum Signed Message:\n32", input.messageHash]),
  );
  const chain = {
    purpose: input.purpose,
    derivedPublicKey: input.derivedPublicKey,
    appPublicKey: input.appPublicKey,
    appSignature: input.appSignature,
    kmsSignature: input.kmsSignature,
  };
  const [, verifyLibrary] = await harness.measureVerifySignedDigest(
    digest,
    input.messageSignature,
    chain,
    SIM_APP_ID,
    computeAddress(SIM_KMS_ROOT),
  );

  // The KMS root as kmsInfo() publishes it, with and without a quote and event log stored beside it.
  const kms = await ethers.deployContract("KmsStandIn", [owner!.address]);
  const info = { k256Pubkey: SIM_KMS_ROOT, caPubkey: `0x${"30".repeat(91)}`, quote: "0x", eventlog: "0x" };
  await kms.setKmsInfo(info);
  const [, empty] = await harness.measureKmsRootOf(await kms.getAddress());
  const quoteBytes = 5_010; // the size of dstack's simulator quote (test/fixtures/dstack)
  const eventLogBytes = 16_384;
  await kms.setKmsInfo({
    ...info,
    quote: `0x${"ab".repeat(quoteBytes)}`,
    eventlog: `0x${"7b".repeat(eventLogBytes)}`,
  });
  const [, withQuote] = await harness.measureKmsRootOf(await kms.getAddress());

  // A whole settlement of the oracle example's market, the result signed by the oracle's guest app.
  const world = await deployOracleContracts(ethers);
  const question = keccak256(toUtf8Bytes("bench question"));
  // A fixed closing time (2100-01-01), not one after the chain's wall-clock start: the timestamps are in the
  // settlement's calldata, whose zero and non-zero bytes cost differently, so the figure would move between runs.
  const closesAt = SETTLEMENT_CLOSES_AT;
  await world.market.createMarket(question, closesAt);
  await networkHelpers.time.increaseTo(closesAt + 60);
  const source = await ResultsSource.start();
  source.outcomes.set(question, true);
  const latest = await networkHelpers.time.latest();
  const cvm = await startOracleCvm(world.appAddress, source, () => latest);
  let settle: bigint;
  try {
    const { chainId } = await ethers.provider.getNetwork();
    const signed = await cvm.oracle.resolve({
      chainId,
      market: await world.market.getAddress(),
      marketId: 1n,
      question,
    });
    const tx = await world.market.settle(1n, signed.outcome, signed.observedAt, signed.signature, signed.chain);
    settle = (await tx.wait())!.gasUsed;
  } finally {
    await cvm.close();
    await source.close();
  }

  return {
    verifyTransaction,
    verifyLibrary,
    calldataBytes,
    kmsRootRead: { empty, withQuote, quoteBytes, eventLogBytes },
    settle,
    tutorial: { reported: TEE_ORACLE_VERIFY_GAS, sameInputs: TEE_ORACLE_VERIFY_GAS_SAME_INPUTS },
  };
}
