/**
 * The benchmark's report (scripts/bench/report.ts): the JSON fields other tools read, and the PASS/MISS/SKIP rules
 * of the targets, on made-up figures (the figures themselves come from `npm run bench`).
 */
import { expect } from "chai";

import type { AgentReaction, AgentSection } from "../../scripts/bench/agent.js";
import type { GasBreakdown } from "../../scripts/bench/breakdown.js";
import type { Operation, SubjectGas } from "../../scripts/bench/gas.js";
import { spread } from "../../scripts/bench/registry.js";
import { HAND_WRITTEN_MARKER, markdown, summary, targets, type BenchResults } from "../../scripts/bench/report.js";

function op(...gas: number[]): Operation {
  const steps = gas.map((g, i) => ({ call: `call ${i}`, gas: BigInt(g), calldataBytes: 100 }));
  return { steps, total: steps.reduce((sum, s) => sum + s.gas, 0n) };
}

function subject(upgrade: Operation, isAppAllowed: number): SubjectGas {
  return { deployment: op(1000), upgrade, remove: op(50), addDevice: op(60, 40), isAppAllowed: BigInt(isAppAllowed) };
}

const breakdown: GasBreakdown = {
  gasUsed: 100,
  intrinsic: 21000,
  storageWrites: [{ where: "A.sol:1 `a || b`", kind: "new slot", count: 1, gas: 22100, refund: 0 }],
  storageReads: { count: 1, cold: 1, gas: 2100 },
  events: [{ name: "E", count: 1, gas: 1000 }],
  other: 10,
  refund: 0,
};

function results(overrides: { oursUpgrade?: number; oursBoot?: number; agent?: AgentSection } = {}): BenchResults {
  return {
    build: { profile: "production", solc: "0.8.28", optimizer: "on (200 runs)", evmVersion: "cancun" },
    appAuth: {
      ours: subject(op(overrides.oursUpgrade ?? 50, 10), overrides.oursBoot ?? 105),
      baseline: subject(op(40), 100),
      baselineWithTimelock: subject(op(60, 40), 100),
      upgradeBreakdowns: [{ subject: "A", call: "f", breakdown }],
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
      isAppAllowedGasRatio: 1.05,
      registryRegisterGasSpread: 1.01,
      registryOnboardGasSpread: 1,
      agentReactionMs: null,
      testSuiteSeconds: null,
    });
    expect(json.gas.ours.upgradeCycle).to.deep.equal({ total: 60, steps: { "call 0": 50, "call 1": 10 } });
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

  it("passes the upgrade-cycle target at exactly 60% and misses it above", function () {
    expect(targets(results({ oursUpgrade: 50 }))[0]?.status).to.equal("PASS");
    expect(targets(results({ oursUpgrade: 51 }))[0]?.status).to.equal("MISS");
  });

  it("passes isAppAllowed within +10% of the baseline and misses it above", function () {
    expect(targets(results({ oursBoot: 110 }))[1]?.status).to.equal("PASS");
    expect(targets(results({ oursBoot: 111 }))[1]?.status).to.equal("MISS");
  });

  it("skips the agent target until the agent is measured, then judges max against floor + one poll interval", function () {
    expect(targets(results())[3]?.status).to.equal("SKIP");
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
    expect(targets(results({ agent: measured(1500) }))[3]?.status).to.equal("PASS");
    expect(targets(results({ agent: measured(1501) }))[3]?.status).to.equal("MISS");
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
