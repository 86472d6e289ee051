/**
 * The oracle example's part of the demo (scripts/demo.ts): a market opens on the oracle, the oracle signs its result
 * from an HTTPS source, the oracle's developer proposes a new release while the market is open, and the market
 * refuses to settle — stakers may leave — until the notice has passed and the release is activated; then it settles.
 */
import { readFile } from "node:fs/promises";

import type { NetworkConnection } from "hardhat/types/network";
import { id, type Interface } from "ethers";

import { sha256Hex } from "../../lib/composeHash.js";
import type { SignedResult } from "./guest/oracle.js";
import { ORACLE_V2, ResultsSource, SEVEN_DAYS, deployOracleContracts, startOracleCvm } from "./world.js";

export interface DemoHooks {
  /** Prints a step's title. */
  step: (title: string) => void;
  /** Runs a task as the command line would, printing the command; false when it failed. */
  runTask: (name: string, args: Record<string, unknown>) => Promise<boolean>;
}

const QUESTION = id("Will the DevProof oracle demo settle its market?");
const ONE_ETH = 10n ** 18n;

/** The custom error a call reverted with, as `Name(arg, …)`; rethrows anything else. */
function refusal(error: unknown, contract: Interface): string {
  const data = (error as { data?: string }).data;
  const parsed = data === undefined ? null : contract.parseError(data);
  if (parsed === null) throw error;
  if (parsed.name === "AppStage1ChangePending") {
    const readyAt = new Date(Number(parsed.args[3]) * 1000).toISOString();
    return `a change of the oracle app is open (proposal ${String(parsed.args[1])}, ready at ${readyAt})`;
  }
  return `${parsed.name}(${parsed.args.map(String).join(", ")})`;
}

export async function demoOracle(connection: NetworkConnection, { step, runTask }: DemoHooks): Promise<void> {
  const { ethers, networkHelpers } = connection;
  const { time } = networkHelpers;

  step("O1. A DevProof oracle: a market that settles only on a result its Stage-1 oracle app signed");
  const { market, app, appAddress, kms, alice, bob, stranger } = await deployOracleContracts(ethers);
  const marketAddress = await market.getAddress();
  console.log(`oracle app (TimelockedAppAuth, 7-day notice): ${appAddress}`);
  console.log(`OracleMarket (minimum notice 7 days, KMS ${await kms.getAddress()}): ${marketAddress}`);
  const closesAt = (await time.latest()) + 3600;
  await (await market.createMarket(QUESTION, closesAt)).wait();
  await (await market.connect(alice).stake(1, true, { value: ONE_ETH })).wait();
  await (await market.connect(bob).stake(1, false, { value: ONE_ETH })).wait();
  console.log("market 1 open: alice stakes 1 ETH on yes, bob 1 ETH on no; it closes in an hour");

  step("O2. The oracle's developer proposes release v2 while the market is open: stakers may leave");
  const v2 = sha256Hex(await readFile(ORACLE_V2));
  await (await app.proposeComposeHash(v2, "https://releases.example.org/devproof-oracle/v2/app-compose.json")).wait();
  await (await market.connect(bob).exit(1)).wait();
  console.log("oracle market: bob takes his stake back: while a change is open, exit is a rule of the contract");

  step("O3. The market closes; the oracle's CVM fetches the outcome over HTTPS and signs it with its GetKey key");
  await time.increaseTo(closesAt + 60);
  const source = await ResultsSource.start();
  const latest = await time.latest();
  const cvm = await startOracleCvm(appAddress, source, () => latest);
  let signed: SignedResult;
  try {
    source.outcomes.set(QUESTION.toLowerCase(), true);
    const { chainId } = await ethers.provider.getNetwork();
    signed = await cvm.oracle.resolve({ chainId, market: marketAddress, marketId: 1n, question: QUESTION });
  } finally {
    await cvm.close();
    await source.close();
  }
  console.log(`oracle: source ${cvm.oracle.source.origin}, outcome ${signed.outcome ? "yes" : "no"}`);
  console.log(`oracle: signed by ${cvm.oracle.signer}, chain [sig0, kmsSig] to the KMS root`);
  const digest = await market.resultDigest(1, signed.outcome, signed.observedAt);
  const verified = await runTask("verify-signature", {
    digest,
    signature: signed.signature,
    chain: `${signed.chain.appSignature},${signed.chain.kmsSignature}`,
    app: appAddress,
    purpose: signed.chain.purpose,
    kms: await kms.getAddress(),
  });
  if (!verified) throw new Error("verify-signature refused the oracle's result");
  const settleArgs = [1n, signed.outcome, signed.observedAt, signed.signature, signed.chain] as const;
  try {
    await market.settle.staticCall(...settleArgs);
    throw new Error("the market settled while a new oracle release was proposed");
  } catch (error) {
    console.log(`oracle market: refused to settle: ${refusal(error, market.interface)}`);
  }

  step("O4. Seven days pass; anyone activates v2; the market settles on the signed result");
  await time.increase(SEVEN_DAYS);
  try {
    await market.settle.staticCall(...settleArgs);
    throw new Error("the market settled while the proposal was still open");
  } catch (error) {
    console.log(`oracle market: still refused (ready, not yet activated): ${refusal(error, market.interface)}`);
  }
  await (await app.connect(stranger).activateComposeHash(v2)).wait();
  const receipt = await (await market.connect(stranger).settle(...settleArgs)).wait();
  console.log(`oracle market: settled: outcome yes, ${receipt!.gasUsed} gas (kmsInfo read, Stage-1 check, chain)`);
  const before = await ethers.provider.getBalance(alice.address);
  await (await market.connect(alice).claim(1)).wait();
  const after = await ethers.provider.getBalance(alice.address);
  console.log(`oracle market: alice claims ${ethers.formatEther(after - before)} ETH (less gas)`);
}
