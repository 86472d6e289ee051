import { readFile } from "node:fs/promises";

import { anyValue } from "@nomicfoundation/hardhat-ethers-chai-matchers/withArgs";
import { expect } from "chai";
import { id, keccak256 } from "ethers";
import { network } from "hardhat";

import { sha256Hex } from "../../../lib/composeHash.js";
import { ORACLE_PURPOSE, sourceOfCompose, type SignedResult } from "../guest/oracle.js";
import {
  ORACLE_V1,
  ORACLE_V2,
  ROGUE_KMS,
  ResultsSource,
  SEVEN_DAYS,
  deployOracleContracts,
  startOracleCvm,
} from "../world.js";

const { ethers, networkHelpers } = await network.getOrCreate();
const { time } = networkHelpers;

const QUESTION = id("Will the devproof oracle example settle a market? (2026-12-31)");
const ONE_ETH = 10n ** 18n;

async function world() {
  const contracts = await deployOracleContracts(ethers);
  const closesAt = (await time.latest()) + 3600;
  await contracts.market.createMarket(QUESTION, closesAt);
  await contracts.market.connect(contracts.alice).stake(1, true, { value: ONE_ETH });
  await contracts.market.connect(contracts.bob).stake(1, false, { value: 3n * ONE_ETH });
  return { ...contracts, closesAt };
}

/** Arguments of `settle` for a signed result. */
function settleArgs(signed: SignedResult, marketId = BigInt(signed.marketId)) {
  return [marketId, signed.outcome, signed.observedAt, signed.signature, signed.chain] as const;
}

describe("examples/oracle: OracleMarket settles only on a verified result of a Stage-1 oracle", function () {
  let source: ResultsSource;
  let stops: Array<() => Promise<void>>;

  before(async function () {
    source = await ResultsSource.start();
    source.outcomes.set(QUESTION.toLowerCase(), true);
  });
  after(async function () {
    await source.close();
  });
  beforeEach(function () {
    stops = [];
  });
  afterEach(async function () {
    for (const stop of stops.reverse()) await stop();
  });

  /** The oracle's CVM for the deployed app, its clock the chain's, and a signed result for market 1. */
  async function resolveMarket(
    appAddress: string,
    market: string,
    kms = undefined as typeof ROGUE_KMS | undefined,
    marketId = 1n,
  ) {
    const latest = await time.latest();
    const oracle = await startOracleCvm(appAddress, source, () => latest, kms);
    stops.push(oracle.close);
    const { chainId } = await ethers.provider.getNetwork();
    return oracle.oracle.resolve({ chainId, market, marketId, question: QUESTION });
  }

  it("the guest app takes its source from the compose file the CVM measured, and only over https", async function () {
    const v1 = await readFile(ORACLE_V1, "utf8");
    expect(sourceOfCompose(v1).href).to.equal("https://results.example.org/markets");
    expect(() => sourceOfCompose(v1.replace("https://results", "http://results"))).to.throw(/is not https/);
    expect(() => sourceOfCompose(v1.replace("ORACLE_SOURCE_URL", "OTHER"))).to.throw(/sets no ORACLE_SOURCE_URL/);
  });

  it("happy path: the oracle fetches over HTTPS, signs, and the market settles and pays the winners", async function () {
    const { market, alice, bob, stranger, closesAt } = await networkHelpers.loadFixture(world);
    await time.increaseTo(closesAt + 60);
    const signed = await resolveMarket(await market.oracleApp(), await market.getAddress());
    expect(source.requests).to.include(`/markets/${QUESTION}`);
    expect(signed.outcome).to.equal(true);
    expect(signed.chain.purpose).to.equal(ORACLE_PURPOSE);

    const tx = market.connect(stranger).settle(...settleArgs(signed));
    await expect(tx)
      .to.emit(market, "MarketSettled")
      .withArgs(1n, true, signed.observedAt, ethers.computeAddress(signed.chain.derivedPublicKey));
    const receipt = await (await tx).wait();
    console.log(`      gas: OracleMarket.settle ${receipt!.gasUsed} (whole transaction, kmsInfo read included)`);

    await expect(market.connect(alice).claim(1)).to.changeEtherBalance(ethers, alice, 4n * ONE_ETH);
    await expect(market.connect(bob).claim(1))
      .to.be.revertedWithCustomError(market, "MarketNothingToPay")
      .withArgs(1n, bob.address);
  });

  it("the guest app publishes signed results over HTTP, and refuses a request it cannot answer", async function () {
    const { market, closesAt } = await networkHelpers.loadFixture(world);
    await time.increaseTo(closesAt + 60);
    const latest = await time.latest();
    const cvm = await startOracleCvm(await market.oracleApp(), source, () => latest);
    stops.push(cvm.close);
    const server = await cvm.oracle.serve(0);
    stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as { port: number };
    const { chainId } = await ethers.provider.getNetwork();
    const query = `chainId=${chainId}&market=${await market.getAddress()}&marketId=1&question=${QUESTION}`;
    const answer = await fetch(`http://127.0.0.1:${port}/result?${query}`);
    expect(answer.status).to.equal(200);
    const signed = (await answer.json()) as SignedResult;
    await expect(market.settle(...settleArgs(signed))).to.emit(market, "MarketSettled");
    expect((await fetch(`http://127.0.0.1:${port}/result?chainId=1`)).status).to.equal(400);
    const unknown = await fetch(`http://127.0.0.1:${port}/result?${query.replace(QUESTION, id("unresolved"))}`);
    expect(unknown.status).to.equal(502);
    expect(((await unknown.json()) as { error: string }).error).to.match(/has not resolved/);
  });

  it("refuses to rely on a Stage-0 app: a stock, instantly changeable AppAuth cannot back a market", async function () {
    const { owner, kms, codehash } = await networkHelpers.loadFixture(world);
    const stock = await ethers.deployContract("StockAppAuth", [owner.address, true, `0x${"00".repeat(32)}`, id("v1")]);
    const stockAddress = await stock.getAddress();
    const factory = await ethers.getContractFactory("OracleMarket");
    await expect(factory.deploy(await kms.getAddress(), stockAddress, codehash, SEVEN_DAYS, ORACLE_PURPOSE))
      .to.be.revertedWithCustomError(factory, "AppStage1NotTimelocked")
      .withArgs(stockAddress, keccak256(await ethers.provider.getCode(stockAddress)), codehash);
  });

  it("refuses a result signed by a Stage-0 app's key: it is not the market's app", async function () {
    const { owner, market, closesAt } = await networkHelpers.loadFixture(world);
    const stock = await ethers.deployContract("StockAppAuth", [owner.address, true, `0x${"00".repeat(32)}`, id("v1")]);
    await time.increaseTo(closesAt + 60);
    const signed = await resolveMarket(await stock.getAddress(), await market.getAddress());
    await expect(market.settle(...settleArgs(signed))).to.be.revertedWithCustomError(
      market,
      "DstackSignatureChainKmsRootMismatch",
    );
  });

  it("refuses an app whose notice is shorter than the market's minimum", async function () {
    const short = await deployOracleContracts(ethers, 24 * 60 * 60, SEVEN_DAYS);
    const closesAt = (await time.latest()) + 3600;
    await expect(short.market.createMarket(QUESTION, closesAt))
      .to.be.revertedWithCustomError(short.market, "AppStage1NoticeTooShort")
      .withArgs(short.appAddress, 24 * 60 * 60, SEVEN_DAYS);
  });

  it("pauses while a new release is proposed: stakers may exit while the market is open, settlement waits for the release", async function () {
    const { market, app, alice, bob, stranger, closesAt } = await networkHelpers.loadFixture(world);
    await expect(market.connect(alice).exit(1)).to.be.revertedWithCustomError(market, "MarketExitClosed");

    const v2 = sha256Hex(await readFile(ORACLE_V2));
    await app.proposeComposeHash(v2, "https://releases.example.org/devproof-oracle/v2/app-compose.json");
    const proposal = (await app.getProposals())[0]!;
    expect(await market.oracleIsStage1()).to.equal(false);
    // Nobody stakes into an open change; the exit window is a rule of the contract: alice leaves with her stake.
    await expect(market.connect(stranger).stake(1, true, { value: ONE_ETH })).to.be.revertedWithCustomError(
      market,
      "AppStage1ChangePending",
    );
    await expect(market.connect(alice).exit(1)).to.changeEtherBalance(ethers, alice, ONE_ETH);

    // After closing nobody exits alone (the outcome may be known), and settlement waits for the release.
    await time.increaseTo(closesAt + 60);
    await expect(market.connect(bob).exit(1)).to.be.revertedWithCustomError(market, "MarketExitClosed");
    const signed = await resolveMarket(await market.oracleApp(), await market.getAddress());
    await expect(market.settle(...settleArgs(signed)))
      .to.be.revertedWithCustomError(market, "AppStage1ChangePending")
      .withArgs(await app.getAddress(), proposal.id, 0n, proposal.readyAt);

    // Ready but not activated is still open; once anyone activates it, settlement resumes.
    await time.increaseTo(proposal.readyAt);
    await expect(market.settle(...settleArgs(signed))).to.be.revertedWithCustomError(market, "AppStage1ChangePending");
    await app.connect(stranger).activateComposeHash(v2);
    await expect(market.settle(...settleArgs(signed))).to.emit(market, "MarketSettled");
  });

  it("cannot settle after its deadline (a stalled market): then every staker takes their stake back", async function () {
    const { market, alice, bob, closesAt } = await networkHelpers.loadFixture(world);
    await time.increaseTo(closesAt + 60);
    const signed = await resolveMarket(await market.oracleApp(), await market.getAddress());
    const deadline = BigInt(closesAt) + (await market.SETTLEMENT_DEADLINE());
    await time.increaseTo(deadline);
    await expect(market.settle(...settleArgs(signed)))
      .to.be.revertedWithCustomError(market, "MarketExpired")
      .withArgs(1n, deadline);
    await expect(market.connect(alice).exit(1)).to.changeEtherBalance(ethers, alice, ONE_ETH);
    await expect(market.connect(bob).exit(1)).to.changeEtherBalance(ethers, bob, 3n * ONE_ETH);
  });

  it("refuses a forged chain: keys from a KMS that kmsInfo() does not publish", async function () {
    const { market, closesAt } = await networkHelpers.loadFixture(world);
    await time.increaseTo(closesAt + 60);
    const signed = await resolveMarket(await market.oracleApp(), await market.getAddress(), ROGUE_KMS);
    await expect(market.settle(...settleArgs(signed))).to.be.revertedWithCustomError(
      market,
      "DstackSignatureChainKmsRootMismatch",
    );
  });

  it("refuses a replay: on the same market twice, on another market with the same question, and out of time", async function () {
    const { market, closesAt } = await networkHelpers.loadFixture(world);
    await market.createMarket(QUESTION, closesAt);
    await time.increaseTo(closesAt + 60);
    const signed = await resolveMarket(await market.oracleApp(), await market.getAddress());
    await market.settle(...settleArgs(signed));
    await expect(market.settle(...settleArgs(signed)))
      .to.be.revertedWithCustomError(market, "MarketAlreadySettled")
      .withArgs(1n);
    await expect(market.settle(...settleArgs(signed, 2n))).to.be.revertedWithCustomError(
      market,
      "DstackSignatureChainMessageSignerMismatch",
    );
    // The outcome flipped, or a time before the market closed: the signature no longer matches or is refused.
    await expect(
      market.settle(2n, false, signed.observedAt, signed.signature, signed.chain),
    ).to.be.revertedWithCustomError(market, "DstackSignatureChainMessageSignerMismatch");
    await expect(market.settle(2n, true, closesAt - 1, signed.signature, signed.chain))
      .to.be.revertedWithCustomError(market, "MarketResultOutOfTime")
      .withArgs(2n, closesAt - 1, closesAt, anyValue);
  });
});
