/**
 * The benchmark's results as tables (printed, and written to BENCHMARKS.md above its hand-written part) and as one
 * JSON object, with the targets marked PASS, MISS or SKIP.
 */
import type { AgentSection } from "./agent.js";
import {
  IS_APP_ALLOWED_TARGET_RATIO,
  REPLACE_CYCLE_TARGET_RATIO,
  UPGRADE_CYCLE_TARGET_RATIO,
  appAuthSections,
  cycleRatios,
  gas,
  ratio,
} from "./cycles.js";
import { RELEASE_URI, type AppAuthGas, type Operation, type SubjectGas } from "./gas.js";
import type { RegistryGas } from "./registry.js";
import type { SignatureGas } from "./signatures.js";
import type { SuiteResult } from "./suite.js";

export interface BuildDescription {
  profile: string;
  solc: string;
  optimizer: string;
  evmVersion: string;
}

export interface BenchResults {
  build: BuildDescription;
  appAuth: AppAuthGas;
  registry: RegistryGas;
  agent: AgentSection;
  suite: SuiteResult | { skipped: string };
  /** Signed results verified on-chain (scripts/bench/signatures.ts); absent when not measured. */
  signatures?: SignatureGas;
}

export type TargetStatus = "PASS" | "MISS" | "SKIP";

export interface Target {
  name: string;
  target: string;
  value: string;
  status: TargetStatus;
}

export { IS_APP_ALLOWED_TARGET_RATIO, REPLACE_CYCLE_TARGET_RATIO, UPGRADE_CYCLE_TARGET_RATIO };
/** The registry must stay flat: max/min over the member counts at most this. */
export const REGISTRY_SPREAD_TARGET = 1.05;

/** The price assumptions of the cost paragraph. */
export const BASE_GAS_PRICE_GWEI = 0.01;
export const ETH_PRICE_USD = 3000;

/** Everything below this line in BENCHMARKS.md is written by hand and kept when the file is regenerated. */
export const HAND_WRITTEN_MARKER =
  "<!-- Everything below this line is written by hand; `npm run bench` regenerates only what is above it. -->";

const round = (x: number, digits = 4) => Number(x.toFixed(digits));
const calldata = (op: Operation) => op.steps.reduce((sum, s) => sum + s.calldataBytes, 0);
const usd = (gasUnits: bigint | number) =>
  `$${((Number(gasUnits) * BASE_GAS_PRICE_GWEI * ETH_PRICE_USD) / 1e9).toFixed(4)}`;

export function targets(results: BenchResults): Target[] {
  const r = cycleRatios(results.appAuth);
  const registrySpread = Math.max(results.registry.registerSpread, results.registry.onboardSpread);
  const agent = "measured" in results.agent ? results.agent.measured : undefined;
  const multiple = (x: number) => `${x.toFixed(3)}×`;
  return [
    {
      name: "allow (upgrade) cycle gas",
      target: `<= ${UPGRADE_CYCLE_TARGET_RATIO.toFixed(2)}× proxied DstackApp + TimelockController`,
      value: multiple(r.upgrade),
      status: r.upgrade <= UPGRADE_CYCLE_TARGET_RATIO ? "PASS" : "MISS",
    },
    {
      name: "replace cycle gas",
      target: `<= ${REPLACE_CYCLE_TARGET_RATIO.toFixed(2)}× proxied DstackApp + TimelockController`,
      value: multiple(r.replace),
      status: r.replace <= REPLACE_CYCLE_TARGET_RATIO ? "PASS" : "MISS",
    },
    {
      name: "isAppAllowed gas through the KMS",
      target: `<= ${IS_APP_ALLOWED_TARGET_RATIO.toFixed(2)}× proxied DstackApp through the KMS`,
      value: multiple(r.isAppAllowed),
      status: r.isAppAllowed <= IS_APP_ALLOWED_TARGET_RATIO ? "PASS" : "MISS",
    },
    {
      name: "registry register/onboard gas, 1 to 1,000 members",
      target: `flat within ${Math.round((REGISTRY_SPREAD_TARGET - 1) * 100)}% (max/min)`,
      value: `${((registrySpread - 1) * 100).toFixed(3)}%`,
      status: registrySpread <= REGISTRY_SPREAD_TARGET ? "PASS" : "MISS",
    },
    ...signatureTargets(results.signatures),
    agent === undefined
      ? {
          name: "guest agent reaction time",
          target: "max within one poll interval of the floor",
          value: "not measured",
          status: "SKIP",
        }
      : {
          name: "guest agent reaction time",
          target: "max within one poll interval of the floor",
          value: `max ${agent.maxMs} ms, floor ${agent.floorMs} ms, poll ${agent.pollIntervalMs} ms`,
          status: agent.maxMs - agent.floorMs <= agent.pollIntervalMs ? "PASS" : "MISS",
        },
  ];
}

export function signatureTargets(signatures: SignatureGas | undefined): Target[] {
  if (signatures === undefined) return [];
  const { verifyTransaction, tutorial } = signatures;
  return [
    {
      name: "on-chain verification of a signed message and its chain",
      target: `<= the tutorial's TeeOracle.verify (${gas(tutorial.reported)}; ${gas(tutorial.sameInputs)} on these inputs)`,
      value: `${gas(verifyTransaction)} (${((ratio(verifyTransaction, tutorial.sameInputs) - 1) * 100).toFixed(1)}%)`,
      status: verifyTransaction <= tutorial.sameInputs && verifyTransaction <= tutorial.reported ? "PASS" : "MISS",
    },
  ];
}

export function signatureTable(signatures: SignatureGas): string[] {
  const { verifyTransaction, verifyLibrary, calldataBytes, kmsRootRead, settle, tutorial } = signatures;
  return [
    "## Signed results checked on-chain (gas)",
    "",
    "`DstackSignatureChain.verifySignedDigest` (`contracts/lib/`) checks that a key `GetKey` derived signed a digest",
    "and that its chain leads to the KMS root; `kmsRootOf` reads that root from the KMS contract's `kmsInfo()`. The",
    "comparison point is the public dstack tutorial's `TeeOracle.verify`, which checks the same three signatures",
    "against a KMS root fixed at deployment. `contracts/test/DstackSignedMessageBench.sol` exposes the library behind",
    "the same function signature, so both receive the same calldata: dstack's simulator app key and its KMS signature",
    "(test/fixtures/dstack), a key derived from it, purpose `ethereum`, an EIP-191 signature over a 32-byte message",
    `hash (${calldataBytes} bytes of calldata).`,
    "",
    "| what | gas |",
    "| --- | ---: |",
    `| ours: \`DstackSignedMessageBench.verify\`, whole transaction (\`eth_estimateGas\`) | ${gas(verifyTransaction)} |`,
    `| tutorial's \`TeeOracle.verify\`, same calldata, re-measured (solc 0.8.28, optimizer 200, via IR) | ${gas(tutorial.sameInputs)} |`,
    `| tutorial's \`TeeOracle.verify\`, as first reported (OP-stack chain, same compiler settings) | ${gas(tutorial.reported)} |`,
    `| ours: the library call alone (chain in memory, root given) | ${gas(verifyLibrary)} |`,
    `| \`kmsRootOf\`: reading the root from \`kmsInfo()\`, quote and event log empty | ${gas(kmsRootRead.empty)} |`,
    `| \`kmsRootOf\` with a ${gas(kmsRootRead.quoteBytes)}-byte quote and a ${gas(kmsRootRead.eventLogBytes)}-byte event log stored | ${gas(kmsRootRead.withQuote)} |`,
    `| \`OracleMarket.settle\` (examples/oracle), whole transaction: kmsInfo read, Stage-1 check, verification, state | ${gas(settle)} |`,
    "",
    "The tutorial's figure was re-measured once in a scratch build outside this repository (its source is public and",
    "not copied here), with the compiler settings it was first reported with; ours is this build's profile. The",
    "public getter of `kmsInfo()` returns all four fields, so a KMS that stores its quote and event log on-chain",
    "makes every read pay for their storage: a contract that verifies often may cache the root and refresh it, at",
    "the cost of following a rotation late.",
    "",
  ];
}

function operationJson(op: Operation | undefined) {
  if (op === undefined) return null;
  return { total: Number(op.total), steps: Object.fromEntries(op.steps.map((s) => [s.call, Number(s.gas)])) };
}

const optionalGas = (x: bigint | undefined) => (x === undefined ? null : Number(x));

function subjectJson(subject: SubjectGas) {
  return {
    deployment: operationJson(subject.deployment),
    upgradeCycle: operationJson(subject.upgrade),
    replaceCycle: operationJson(subject.replace),
    removeHash: operationJson(subject.remove),
    addDeviceCycle: operationJson(subject.addDevice),
    isAppAllowed: optionalGas(subject.isAppAllowed),
    isAppAllowedViaKms: optionalGas(subject.isAppAllowedViaKms),
  };
}

/** ours ÷ theirs for an operation both have, else null. */
function opRatio(ours: Operation | undefined, theirs: Operation | undefined) {
  return ours === undefined || theirs === undefined ? null : round(ratio(ours.total, theirs.total));
}

/** The figures as one JSON-serialisable object (the last line of `npm run bench -- --json`). */
export function summary(results: BenchResults) {
  const a = results.appAuth;
  const { ours, baseline, baselineWithTimelock, dstackApp, dstackAppWithTimelock: route, tutorial, floor } = a;
  const r = cycleRatios(a);
  const agent = "measured" in results.agent ? results.agent.measured : undefined;
  return {
    buildProfile: results.build.profile,
    hardfork: a.hardfork,
    gas: {
      ours: subjectJson(ours),
      baseline: subjectJson(baseline),
      baselineWithTimelock: subjectJson(baselineWithTimelock),
      dstackApp: subjectJson(dstackApp),
      dstackAppWithTimelock: subjectJson(route),
      dstackAppWithTimelockBatchedReplace: operationJson(a.dstackAppWithTimelockBatchedReplace),
      dstackAppImplementationDeployment: Number(a.dstackAppImplementationDeployment),
      tutorial: subjectJson(tutorial),
      floor: subjectJson(floor),
    },
    // The targets' ratios: against the proxied DstackApp behind a TimelockController (isAppAllowed: through the KMS).
    upgradeCycleGasRatio: round(r.upgrade),
    replaceCycleGasRatio: round(r.replace),
    isAppAllowedGasRatio: round(r.isAppAllowed),
    addDeviceCycleGasRatio: opRatio(ours.addDevice, route.addDevice),
    deploymentGasRatio: opRatio(ours.deployment, route.deployment),
    // The same, against the non-proxy StockAppAuth (the earlier baseline; isAppAllowed asked of the app alone).
    stockUpgradeCycleGasRatio: opRatio(ours.upgrade, baselineWithTimelock.upgrade),
    stockReplaceCycleGasRatio: opRatio(ours.replace, baselineWithTimelock.replace),
    stockIsAppAllowedGasRatio: round(ratio(ours.isAppAllowed ?? 0n, baseline.isAppAllowed ?? 1n)),
    // The floor and the tutorial's contract against the same route, and ours against the floor.
    floorUpgradeCycleGasRatio: opRatio(floor.upgrade, route.upgrade),
    floorReplaceCycleGasRatio: opRatio(floor.replace, route.replace),
    tutorialUpgradeCycleGasRatio: opRatio(tutorial.upgrade, route.upgrade),
    tutorialReplaceCycleGasRatio: opRatio(tutorial.replace, route.replace),
    upgradeCycleToFloorRatio: opRatio(ours.upgrade, floor.upgrade),
    replaceCycleToFloorRatio: opRatio(ours.replace, floor.replace),
    registry: {
      operations: Object.fromEntries(
        Object.entries(results.registry.operations).map(([name, value]) => [name, Number(value)]),
      ),
      members: results.registry.points.map((p) => p.members),
      register: results.registry.points.map((p) => Number(p.register)),
      onboard: results.registry.points.map((p) => Number(p.onboard)),
    },
    registryRegisterGasSpread: round(results.registry.registerSpread, 6),
    registryOnboardGasSpread: round(results.registry.onboardSpread, 6),
    agentReactionMs: agent === undefined ? null : { median: agent.medianMs, max: agent.maxMs, floor: agent.floorMs },
    signatures:
      results.signatures === undefined
        ? null
        : {
            verifyTransaction: Number(results.signatures.verifyTransaction),
            verifyLibrary: Number(results.signatures.verifyLibrary),
            kmsRootRead: Number(results.signatures.kmsRootRead.empty),
            kmsRootReadWithQuote: Number(results.signatures.kmsRootRead.withQuote),
            settle: Number(results.signatures.settle),
            teeOracleVerify: Number(results.signatures.tutorial.sameInputs),
          },
    ...("measured" in results.agent && results.agent.baseline !== undefined
      ? {
          agentReactionOneEndpointMs: {
            median: results.agent.baseline.medianMs,
            max: results.agent.baseline.maxMs,
            floor: results.agent.baseline.floorMs,
          },
        }
      : {}),
    ...("measured" in results.agent && results.agent.viewReads !== undefined
      ? { agentViewReadMs: results.agent.viewReads }
      : {}),
    testSuiteSeconds: "seconds" in results.suite ? round(results.suite.seconds, 1) : null,
    targets: targets(results).map(({ name, status, value }) => ({ name, status, value })),
  };
}

/** The generated part of BENCHMARKS.md (also what the console shows). */
export function markdown(results: BenchResults): string {
  const { appAuth, registry, agent, suite, build } = results;
  const { ours, dstackAppWithTimelock: tl } = appAuth;
  const extraCycle = ours.upgrade.total - tl.upgrade.total;
  // Ours may cost less than the route: then the difference is said as "less".
  const moreOrLess = extraCycle < 0n ? "less" : "more";
  const difference = extraCycle < 0n ? -extraCycle : extraCycle;
  const out: string[] = [
    "# Benchmarks",
    "",
    "Generated by `npm run bench` (`scripts/bench.ts`, sections in `scripts/bench/`); `npm run bench -- --json` prints the",
    "same figures as one JSON object on its last line, `-- --skip-suite` leaves out the test-suite timing. The gas",
    "figures are deterministic: every run on every machine gives the same numbers.",
    "",
    "## Method",
    "",
    `- **Build**: the \`${build.profile}\` profile, the bytecode \`deploy-app\` deploys: solc ${build.solc}, optimizer ${build.optimizer}, EVM ${build.evmVersion}.`,
    `- **Chain**: Hardhat's in-process chain (EDR) with Base's execution rules — chain type and hardfork \`${appAuth.hardfork}\`, the`,
    "  newest Base hardfork EDR runs —, a fresh chain per subject; every input is fixed, nothing is random.",
    "- **Gas of a transaction**: the receipt's `gasUsed` — the 21,000 base, calldata, execution, minus the refund for",
    "  cleared storage. A two-step change reports both transactions and their sum.",
    "- **`isAppAllowed`**: `eth_estimateGas` of the `eth_call` dstack's KMS makes at every boot, with the same boot info",
    "  for every subject (the new release on the genesis device, TCB `UpToDate`, no advisories, an OS image the KMS",
    "  allows); it also includes the 21,000 base and calldata. Asked of the KMS (which asks the app) and of the app alone.",
    "- **Subjects**: *ours* is `TimelockedAppAuth` with a 7-day notice. *`DstackApp` (proxied)* is",
    "  `contracts/reference/UpgradeableStockAppAuth.sol`, which behaves like dstack's current `DstackApp` (instant changes,",
    "  dstack's events and its `PolicyChanged` audit event, the same storage words) deployed as dstack deploys it:",
    "  OpenZeppelin's `ERC1967Proxy` in front of a UUPS implementation, initialised through the proxy. *+",
    "  `TimelockController`* is that app owned by OpenZeppelin Contracts 5.7.0's `TimelockController` with a 7-day",
    "  minimum delay (proposer: the owner; executor: anyone, `address(0)`; no admin), every change a `schedule` +",
    "  `execute` of the app's call (salt 0, no predecessor): the way to put a notice in front of the app users have, and",
    "  the route the targets compare with. `StockAppAuth` (`contracts/reference/StockAppAuth.sol`) is the same",
    "  behaviour without the proxy and without `PolicyChanged`, the earlier baseline, instant and behind a",
    "  `TimelockController`. The *tutorial's* contract is `contracts/reference/TutorialTimelockAppAuth.sol`, which",
    "  behaves like the public dstack tutorial's minimal `TimelockAppAuth`; the *floor* is",
    "  `contracts/reference/UpgradeCycleFloor.sol` (below). The KMS is `contracts/reference/KmsStandIn.sol`, which",
    "  decides as `DstackKms.isAppAllowed` does (app registered, OS image allowed, code at the app's address, then the",
    "  app's answer); dstack's KMS is itself behind a proxy, which would add the same `delegatecall` to every subject.",
    `- **Story**: deploy to the same genesis state (one release — for ours with its compose URI —, one device, an`,
    "  up-to-date TCB required; `StockAppAuth` needs a `setRequireTcbUpToDate(true)` for that, and behind a timelock an",
    "  ownership transfer; the proxied app is initialised with it, owned by the timelock from the start); the allow",
    `  cycle, to a new release whose compose file is published at \`${RELEASE_URI}\` (${appAuth.releaseUriBytes} bytes,`,
    "  sent by ours and the floor); remove the previous release; add a device; ask `isAppAllowed`. The replace cycle",
    "  runs on a second chain from the same genesis state. Activations and executions are sent by an account that is",
    "  not the owner, except ours' and the floor's activation that retires (narrowing: owner only).",
    "",
    ...appAuthSections(appAuth),
    "## Targets",
    "",
    "| target | required | measured | result |",
    "| --- | --- | --- | --- |",
    ...targets(results).map((t) => `| ${t.name} | ${t.target} | ${t.value} | **${t.status}** |`),
    "",
    "## What the extra gas of the allow cycle buys, and what it costs",
    "",
    `One allow cycle of ours costs ${gas(ours.upgrade.total)} gas, ${gas(difference)} ${moreOrLess} than the proxied DstackApp behind a`,
    `TimelockController (${gas(tl.upgrade.total)}). At an assumed Base L2 gas price of ${BASE_GAS_PRICE_GWEI} gwei and ETH at`,
    `$${ETH_PRICE_USD.toLocaleString("en-US")}, the whole cycle costs ${usd(ours.upgrade.total)} against ${usd(tl.upgrade.total)}: ${usd(difference)} ${moreOrLess} per release`,
    `(L2 execution gas only. Base also charges an L1 data fee for calldata, and ours sends less of it: ${calldata(ours.upgrade)}`,
    `bytes for the cycle, URI included, against ${calldata(tl.upgrade)} for \`schedule\` and \`execute\`, which both carry the encoded call and`,
    "its parameters.) The extra gas buys: the compose file's URI in the proposal's event with its block in storage",
    "(`composeHashUriBlock`, `currentRelease`), so an auditor or guest agent fetches exactly what was allowed with one",
    "`eth_getLogs` checked against storage, without an indexer; enumerable",
    "views of the allowed hashes, devices and open proposals with their state (`getComposeHashes`, `getDevices`,",
    "`getProposals`); expiry of stale proposals; instant revocation while widening waits (a TimelockController delays",
    "removals too); and typed calls such as `proposeComposeHash(hash, uri)` that Basescan shows decoded, where the",
    "TimelockController's `schedule` carries opaque `bytes`.",
    "",
  ];
  if (results.signatures !== undefined) out.push(...signatureTable(results.signatures));
  const ops = registry.operations;
  out.push(
    "## ReplicationRegistry: each operation once (gas)",
    "",
    "A node as a real one registers: a 5,006-byte TDX quote, an RTMR3 event log, two advisory ids and dstack's key",
    `signature chain (verified on-chain against the KMS root); the registration sends ${gas(ops.registrationCalldataBytes)} bytes of calldata.`,
    "The refresh carries a quote and log as large; setTlsKey is the genesis member's first publication of the TLS key;",
    "the eviction is a stranger's, of a member whose attestation expired.",
    "",
    "| register | setGenesis | onboard | refreshAttestation | setTlsKey | evict |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    `| ${gas(ops.register)} | ${gas(ops.setGenesis)} | ${gas(ops.onboard)} | ${gas(ops.refreshAttestation)} | ${gas(ops.setTlsKey)} | ${gas(ops.evict)} |`,
    "",
    "## ReplicationRegistry: register and onboard as the membership grows (gas)",
    "",
    "Each measured node carries what a real one does: a 5,006-byte TDX quote, an RTMR3 event log, its key chain and a",
    "129-byte ciphertext; the members before it joined with small filler registrations (the set's size is what matters).",
    "",
    "| members before the node joins | register | onboard |",
    "| ---: | ---: | ---: |",
    ...registry.points.map((p) => `| ${gas(p.members)} | ${gas(p.register)} | ${gas(p.onboard)} |`),
    `| spread (max / min) | ${registry.registerSpread.toFixed(6)} | ${registry.onboardSpread.toFixed(6)} |`,
    "",
    "## Guest agent reaction time",
    "",
    "measured" in agent
      ? `From the activation block being mined to the agent's \`docker compose up\` with the new compose file (the agent ` +
          `runs as a separate process against a local JSON-RPC chain; a fake \`docker\` records the call): median ` +
          `${agent.measured.medianMs} ms, max ${agent.measured.maxMs} ms over ${agent.measured.samples} activations` +
          `${agent.measured.reads === undefined ? "" : ` reading through a ${agent.measured.reads} (headers from each, values proven)`}, with a ` +
          `poll interval of ${agent.measured.pollIntervalMs} ms, ${agent.measured.confirmations} confirmations and ` +
          `${agent.measured.blockTimeMs} ms blocks. The floor, one poll interval plus confirmations × block time, is ` +
          `${agent.measured.floorMs} ms. \`npm run bench:agent\` measures other settings.` +
          (agent.baseline === undefined
            ? ""
            : ` With ${agent.baseline.reads ?? "one endpoint"}: median ${agent.baseline.medianMs} ms, max ` +
              `${agent.baseline.maxMs} ms.`) +
          (agent.viewReads === undefined
            ? ""
            : ` One view of the chain (head, confirmed header, current release and allowances; median of ` +
              `${agent.viewReads.samples}, in process): ${agent.viewReads.ethCallMs} ms as \`eth_call\` answers of one ` +
              `endpoint (what the agent read before it verified), ${agent.viewReads.oneEndpointMs} ms proven against ` +
              `one endpoint's header, ${agent.viewReads.quorumMs} ms with the header from a quorum of 2 of 3.`)
      : `${agent.skipped[0]!.toUpperCase()}${agent.skipped.slice(1)} (the hook is \`scripts/bench/agent.ts\`).`,
    "",
    "## Test-suite wall time",
    "",
  );
  if ("skipped" in suite) {
    out.push(`Not measured: ${suite.skipped}.`, "");
  } else {
    out.push(
      "Wall time of the two test runners of `npm test` on the machine that ran the benchmark (not deterministic; the",
      "build before them is not timed; mocha without coverage instrumentation):",
      "",
      "| command | seconds | result |",
      "| --- | ---: | --- |",
      ...suite.parts.map((p) => `| \`${p.command}\` | ${p.seconds.toFixed(1)} | ${p.passed ? "passed" : "FAILED"} |`),
      `| total | ${suite.seconds.toFixed(1)} | ${suite.passed ? "passed" : "FAILED"} |`,
      "",
    );
  }
  return out.join("\n");
}
