/**
 * The benchmark's report (scripts/bench/report.ts): the JSON fields other tools read, and the PASS/MISS/SKIP rules
 * of the targets, on made-up figures (the figures themselves come from `npm run bench`).
 */
import { expect } from "chai";

import type { AgentReaction, AgentSection } from "../../scripts/bench/agent.js";
import type { GasBreakdown } from "../../scripts/bench/breakdown.js";
import { components } from "../../scripts/bench/cycles.js";
import type { Operation, SubjectGas } from "../../scripts/bench/gas.js";
import { spread } from "../../scripts/bench/registry.js";
import { HAND_WRITTEN_MARKER, markdown, summary, targets, type BenchResults } from "../../scripts/bench/report.js";

const breakdown: GasBreakdown = {
  gasUsed: 47_220,
  intrinsic: 21000,
  storageWrites: [
    { where: "A.sol:1 `a || b`", kind: "new slot", count: 1, gas: 22100, refund: 0 },
    { where: "A.sol:2 `delete c`", kind: "clear", count: 1, gas: 5000, refund: 4800 },
  ],
  storageReads: { count: 1, cold: 1, gas: 2100 },
  events: [{ name: "E", count: 1, gas: 1000 }],
  other: 820,
  refund: 4800,
};

function op(...gas: number[]): Operation {
  const steps = gas.map((g, i) => ({ call: `call ${i}`, gas: BigInt(g), calldataBytes: 100, breakdown }));
  return { steps, total: steps.reduce((sum, s) => sum + s.gas, 0n) };
}

function subject(upgrade: Operation, replace: Operation, isAppAllowedViaKms: number): SubjectGas {
  return {
    deployment: op(1000),
    upgrade,
    replace,
    remove: op(50),
    addDevice: op(60, 40),
    isAppAllowed: BigInt(isAppAllowedViaKms - 10),
    isAppAllowedViaKms: BigInt(isAppAllowedViaKms),
  };
}

interface Overrides {
  oursUpgrade?: number;
  oursReplace?: number;
  oursBoot?: number;
  agent?: AgentSection;
}

function results(overrides: Overrides = {}): BenchResults {
  return {
    build: { profile: "production", solc: "0.8.28", optimizer: "on (200 runs)", evmVersion: "cancun" },
    appAuth: {
      // The route the targets use: allow 100, replace 200, isAppAllowed through the KMS 100.
      ours: subject(op(overrides.oursUpgrade ?? 50, 10), op(50, overrides.oursReplace ?? 56), overrides.oursBoot ?? 95),
      baseline: subject(op(40), op(40, 20), 80),
      baselineWithTimelock: subject(op(60, 40), op(60, 40, 60, 40), 80),
      dstackApp: subject(op(45), op(45, 25), 100),
      dstackAppWithTimelock: subject(op(55, 45), op(55, 45, 55, 45), 100),
      dstackAppWithTimelockBatchedReplace: op(70, 80),
      dstackAppImplementationDeployment: 5000n,
      tutorial: { ...subject(op(50, 40), op(50, 40, 25), 90), addDevice: undefined },
      floor: { deployment: op(900), upgrade: op(45, 48), replace: op(45, 52) },
      releaseUriBytes: 57,
      hardfork: "op / isthmus",
    },
    registry: {
      operations: {
        register: 600n,
        setGenesis: 180n,
        onboard: 180n,
        refreshAttestation: 300n,
        setTlsKey: 100n,
        evict: 40n,
        registrationCalldataBytes: 8000,
      },
      points: [
        { members: 1, register: 100n, onboard: 50n },
        { members: 1000, register: 101n, onboard: 50n },
      ],
      registerSpread: 1.01,
      onboardSpread: 1,
    },
    agent: overrides.agent ?? { skipped: "skipped: no agent" },
    suite: { skipped: "--skip-suite" },
  };
}

describe("bench report", function () {
  it("puts the ratios, spreads, agent reaction and suite time in the JSON summary", function () {
    const json = summary(results());
    expect(json).to.include({
      upgradeCycleGasRatio: 0.6,
      replaceCycleGasRatio: 0.53,
      isAppAllowedGasRatio: 0.95,
      stockUpgradeCycleGasRatio: 0.6,
      floorUpgradeCycleGasRatio: 0.93,
      tutorialReplaceCycleGasRatio: 0.575,
      upgradeCycleToFloorRatio: 0.6452,
      registryRegisterGasSpread: 1.01,
      registryOnboardGasSpread: 1,
      agentReactionMs: null,
      testSuiteSeconds: null,
    });
    expect(json.gas.ours.upgradeCycle).to.deep.equal({ total: 60, steps: { "call 0": 50, "call 1": 10 } });
    expect(json.gas.floor).to.include({ removeHash: null, addDeviceCycle: null, isAppAllowedViaKms: null });
    expect(json.gas.dstackAppWithTimelock.isAppAllowedViaKms).to.equal(100);
    expect(JSON.parse(JSON.stringify(json))).to.deep.equal(json);
  });

  it("judges on-chain signature verification against the tutorial's TeeOracle.verify, and tables it", function () {
    const signatures = (verifyTransaction: bigint) => ({
      verifyTransaction,
      verifyLibrary: 22_000n,
      calldataBytes: 868,
      kmsRootRead: { empty: 30_000n, withQuote: 1_500_000n, quoteBytes: 5010, eventLogBytes: 16384 },
      settle: 107_000n,
      tutorial: { reported: 80_365n, sameInputs: 80_201n },
    });
    const named = (r: BenchResults) => targets(r).find((t) => t.name.startsWith("on-chain verification"));
    expect(named(results())).to.equal(undefined);
    expect(named({ ...results(), signatures: signatures(80_201n) })?.status).to.equal("PASS");
    expect(named({ ...results(), signatures: signatures(80_202n) })?.status).to.equal("MISS");
    const md = markdown({ ...results(), signatures: signatures(53_491n) });
    expect(md).to.contain(
      "| ours: `DstackSignedMessageBench.verify`, whole transaction (`eth_estimateGas`) | 53,491 |",
    );
    expect(summary({ ...results(), signatures: signatures(53_491n) }).signatures).to.include({ settle: 107_000 });
  });

  it("passes the allow-cycle target at exactly 1.00× the TimelockController route and misses it above", function () {
    expect(targets(results({ oursUpgrade: 90 }))[0]?.status).to.equal("PASS");
    expect(targets(results({ oursUpgrade: 91 }))[0]?.status).to.equal("MISS");
  });

  it("passes the replace-cycle target at exactly 0.58× the TimelockController route and misses it above", function () {
    expect(targets(results({ oursReplace: 66 }))[1]?.status).to.equal("PASS");
    expect(targets(results({ oursReplace: 67 }))[1]?.status).to.equal("MISS");
  });

  it("passes isAppAllowed through the KMS at the proxied DstackApp's cost and misses it above", function () {
    expect(targets(results({ oursBoot: 100 }))[2]?.status).to.equal("PASS");
    expect(targets(results({ oursBoot: 101 }))[2]?.status).to.equal("MISS");
  });

  it("sums a cycle's storage writes, reads, events and refunds over its transactions", function () {
    const sum = components(op(47_220, 47_220));
    expect(sum).to.deep.include({ transactions: 2, intrinsic: 42_000, other: 1_640, refund: 9_600, gasUsed: 94_440 });
    expect(sum?.writes["new slot"]).to.deep.equal({ count: 2, gas: 44_200 });
    expect(sum?.writes.clear).to.deep.equal({ count: 2, gas: 10_000 });
    expect(sum?.events).to.deep.equal({ count: 2, gas: 2_000, names: ["E", "E"] });
    const untraced: Operation = { steps: [{ call: "f", gas: 1n, calldataBytes: 4 }], total: 1n };
    expect(components(untraced)).to.equal(undefined);
  });

  it("skips the agent target until the agent is measured, then judges max against floor + one poll interval", function () {
    expect(targets(results())[4]?.status).to.equal("SKIP");
    const measured = (maxMs: number): AgentSection => ({
      measured: {
        medianMs: 1100,
        maxMs,
        floorMs: 1000,
        pollIntervalMs: 500,
        confirmations: 1,
        blockTimeMs: 500,
        samples: 5,
      },
    });
    expect(targets(results({ agent: measured(1500) }))[4]?.status).to.equal("PASS");
    expect(targets(results({ agent: measured(1501) }))[4]?.status).to.equal("MISS");
    expect(summary(results({ agent: measured(1500) })).agentReactionMs).to.deep.equal({
      median: 1100,
      max: 1500,
      floor: 1000,
    });

    const withBaseline: AgentSection = {
      measured: { ...(measured(1400) as { measured: AgentReaction }).measured, reads: "quorum 2 of 3 endpoints" },
      baseline: { ...(measured(1300) as { measured: AgentReaction }).measured, reads: "1 endpoint, no quorum" },
      viewReads: { ethCallMs: 4.5, oneEndpointMs: 9.1, quorumMs: 12.3, samples: 20 },
    };
    const text = markdown(results({ agent: withBaseline }));
    expect(text).to.include("reading through a quorum 2 of 3 endpoints (headers from each, values proven)");
    expect(text).to.include("With 1 endpoint, no quorum: median 1100 ms, max 1300 ms.");
    expect(text).to.include("4.5 ms as `eth_call` answers of one endpoint");
    expect(summary(results({ agent: withBaseline })).agentViewReadMs).to.deep.equal(withBaseline.viewReads);
  });

  it("reports one of each registry operation, and the registration's size, in the JSON and the table", function () {
    expect(summary(results()).registry.operations).to.deep.equal({
      register: 600,
      setGenesis: 180,
      onboard: 180,
      refreshAttestation: 300,
      setTlsKey: 100,
      evict: 40,
      registrationCalldataBytes: 8000,
    });
    const text = markdown(results());
    expect(text).to.include("the registration sends 8,000 bytes of calldata");
    expect(text).to.include("| 600 | 180 | 180 | 300 | 100 | 40 |");
  });

  it("computes a spread as max / min", function () {
    expect(spread([100n, 105n, 101n])).to.equal(1.05);
  });

  it("escapes table separators in source lines and leaves the hand-written marker out of the generated part", function () {
    const text = markdown(results());
    expect(text).to.include("`a \\|\\| b`");
    expect(text).not.to.include(HAND_WRITTEN_MARKER);
  });
});
