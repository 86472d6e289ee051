/**
 * The TimelockedAppAuth section of the benchmark's report: the allow and replace cycles of every subject and their
 * ratios to the TimelockController route, `isAppAllowed` through the KMS, where each cycle's gas goes (storage words,
 * events, the rest) for ours, the floor, the tutorial's contract and the TimelockController route.
 */
import type { GasBreakdown } from "./breakdown.js";
import type { AppAuthGas, Operation, Step, SubjectGas } from "./gas.js";

/** Targets of issue 13, as multiples of the proxied DstackApp behind a TimelockController (or through the KMS). */
export const UPGRADE_CYCLE_TARGET_RATIO = 1.0;
export const REPLACE_CYCLE_TARGET_RATIO = 0.58;
export const IS_APP_ALLOWED_TARGET_RATIO = 1.0;

export const ratio = (a: bigint | number, b: bigint | number) => Number(a) / Number(b);
export const gas = (x: bigint | number) => x.toLocaleString("en-US");
const times = (a: bigint | number, b: bigint | number) => `${ratio(a, b).toFixed(2)}×`;
const row = (...columns: string[]) => `| ${columns.join(" | ")} |`;

/** The three ratios the targets judge. */
export function cycleRatios(a: AppAuthGas) {
  const route = a.dstackAppWithTimelock;
  return {
    upgrade: ratio(a.ours.upgrade.total, route.upgrade.total),
    replace: ratio(a.ours.replace.total, route.replace.total),
    isAppAllowed: ratio(a.ours.isAppAllowedViaKms ?? 0n, a.dstackApp.isAppAllowedViaKms ?? 1n),
  };
}

interface Column {
  key: keyof Omit<
    AppAuthGas,
    "dstackAppImplementationDeployment" | "releaseUriBytes" | "hardfork" | "dstackAppWithTimelockBatchedReplace"
  >;
  name: string;
}

/** Every subject, in the order of the tables. */
export const SUBJECTS: Column[] = [
  { key: "ours", name: "ours (`TimelockedAppAuth`)" },
  { key: "floor", name: "floor (`UpgradeCycleFloor`)" },
  { key: "tutorial", name: "dstack tutorial's `TimelockAppAuth`" },
  { key: "dstackAppWithTimelock", name: "**`DstackApp` (proxied) + `TimelockController`**" },
  { key: "dstackApp", name: "`DstackApp` (proxied), instant" },
  { key: "baselineWithTimelock", name: "`StockAppAuth` + `TimelockController`" },
  { key: "baseline", name: "`StockAppAuth`, instant" },
];

const calls = (op: Operation) => op.steps.map((s) => s.call).join(" + ");

/** The headline table: both cycles and the boot check, every subject, with the ratios the targets judge. */
function cyclesTable(a: AppAuthGas): string[] {
  const route = a.dstackAppWithTimelock;
  const kmsBase = a.dstackApp.isAppAllowedViaKms;
  const lines = [
    row(
      "subject",
      "allow cycle",
      "÷ route",
      "replace cycle",
      "÷ route",
      "`isAppAllowed` through the KMS",
      "÷ proxied `DstackApp`",
      "`isAppAllowed` of the app alone",
    ),
    row("---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"),
  ];
  for (const { key, name } of SUBJECTS) {
    const s: SubjectGas = a[key];
    const viaKms = s.isAppAllowedViaKms;
    lines.push(
      row(
        name,
        `${gas(s.upgrade.total)} <sub>${s.upgrade.steps.length} tx</sub>`,
        times(s.upgrade.total, route.upgrade.total),
        `${gas(s.replace.total)} <sub>${s.replace.steps.length} tx</sub>`,
        times(s.replace.total, route.replace.total),
        viaKms === undefined ? "—" : gas(viaKms),
        viaKms === undefined || kmsBase === undefined ? "—" : times(viaKms, kmsBase),
        s.isAppAllowed === undefined ? "—" : gas(s.isAppAllowed),
      ),
    );
  }
  const batch = a.dstackAppWithTimelockBatchedReplace;
  lines.push(
    row(
      "`DstackApp` (proxied) + `TimelockController`, replace as one batch",
      "",
      "",
      `${gas(batch.total)} <sub>${batch.steps.length} tx</sub>`,
      times(batch.total, route.replace.total),
      "",
      "",
      "",
    ),
  );
  return lines;
}

/** Each transaction of each subject's cycles. */
function stepsTable(a: AppAuthGas): string[] {
  const lines = [
    row("subject", "allow cycle: transactions (gas)", "replace cycle: transactions (gas)"),
    row("---", "---", "---"),
  ];
  const list = (op: Operation) => op.steps.map((s) => `\`${s.call}\` ${gas(s.gas)}`).join(" + ");
  for (const { key, name } of SUBJECTS) lines.push(row(name, list(a[key].upgrade), list(a[key].replace)));
  const batch = a.dstackAppWithTimelockBatchedReplace;
  lines.push(row("`DstackApp` (proxied) + `TimelockController`, one batch", "", list(batch)));
  return lines;
}

/** The other operations, for the subjects that have them (ours against the routes users have). */
function operationsTable(a: AppAuthGas): string[] {
  const columns: Column[] = [
    { key: "ours", name: "ours" },
    { key: "dstackApp", name: "`DstackApp` (proxied), instant" },
    { key: "dstackAppWithTimelock", name: "`DstackApp` (proxied) + `TimelockController`" },
    { key: "baseline", name: "`StockAppAuth`, instant" },
    { key: "baselineWithTimelock", name: "`StockAppAuth` + `TimelockController`" },
  ];
  const cell = (op: Operation | undefined) =>
    op === undefined
      ? "—"
      : `${gas(op.total)} <sub>${op.steps.length === 1 ? op.steps[0]!.call : `${op.steps.length} tx`}</sub>`;
  const route = a.dstackAppWithTimelock;
  const lines = [
    row("operation", ...columns.map((c) => c.name), "ours ÷ proxied `DstackApp` + `TimelockController`"),
    row("---", ...columns.map(() => "---:"), "---:"),
  ];
  const add = (what: string, pick: (s: SubjectGas) => Operation | undefined) => {
    const ours = pick(a.ours);
    const theirs = pick(route);
    lines.push(
      row(
        what,
        ...columns.map((c) => cell(pick(a[c.key]))),
        ours === undefined || theirs === undefined ? "" : times(ours.total, theirs.total),
      ),
    );
  };
  add("deployment (every transaction of one app to the genesis state)", (s) => s.deployment);
  add("remove a hash on its own (ours and the instant apps: at once; the timelock: after 7 days)", (s) => s.remove);
  add("add-device cycle", (s) => s.addDevice);
  return lines;
}

/** Storage writes, reads, events and the rest of every transaction of an operation, summed. */
export interface Components {
  transactions: number;
  intrinsic: number;
  writes: Record<"new slot" | "update" | "clear" | "again", { count: number; gas: number }>;
  reads: { count: number; cold: number; gas: number };
  events: { count: number; gas: number; names: string[] };
  other: number;
  refund: number;
  gasUsed: number;
}

export function components(op: Operation): Components | undefined {
  const breakdowns = op.steps.map((s) => s.breakdown);
  if (breakdowns.some((b) => b === undefined)) return undefined;
  const sum: Components = {
    transactions: op.steps.length,
    intrinsic: 0,
    writes: {
      "new slot": { count: 0, gas: 0 },
      update: { count: 0, gas: 0 },
      clear: { count: 0, gas: 0 },
      again: { count: 0, gas: 0 },
    },
    reads: { count: 0, cold: 0, gas: 0 },
    events: { count: 0, gas: 0, names: [] },
    other: 0,
    refund: 0,
    gasUsed: 0,
  };
  for (const b of breakdowns as GasBreakdown[]) {
    sum.intrinsic += b.intrinsic;
    for (const w of b.storageWrites) {
      sum.writes[w.kind].count += w.count;
      sum.writes[w.kind].gas += w.gas;
    }
    sum.reads.count += b.storageReads.count;
    sum.reads.cold += b.storageReads.cold;
    sum.reads.gas += b.storageReads.gas;
    for (const e of b.events) {
      sum.events.count += e.count;
      sum.events.gas += e.gas;
      sum.events.names.push(...Array<string>(e.count).fill(e.name));
    }
    sum.other += b.other;
    sum.refund += b.refund;
    sum.gasUsed += b.gasUsed;
  }
  return sum;
}

/** The compared subjects of the "where the gas goes" tables: ours, the floor, the tutorial, the route. */
const COMPARED: Column[] = [
  { key: "ours", name: "ours" },
  { key: "floor", name: "floor" },
  { key: "tutorial", name: "tutorial" },
  { key: "dstackAppWithTimelock", name: "`DstackApp` + `TimelockController`" },
];

function componentsTable(a: AppAuthGas, cycle: "upgrade" | "replace"): string[] {
  const sums = COMPARED.map((c) => components(a[c.key][cycle]));
  if (sums.some((s) => s === undefined)) return [];
  const all = sums as Components[];
  const both = (x: { count: number; gas: number }) => (x.count === 0 ? "—" : `${gas(x.gas)} <sub>${x.count}</sub>`);
  const lines = [
    row("component <sub>(count)</sub>", ...COMPARED.map((c) => c.name)),
    row("---", ...COMPARED.map(() => "---:")),
  ];
  lines.push(row("transactions", ...all.map((s) => String(s.transactions))));
  lines.push(row("intrinsic: 21,000 per transaction + calldata", ...all.map((s) => gas(s.intrinsic))));
  lines.push(row("new storage words (20,000 + 2,100 cold)", ...all.map((s) => both(s.writes["new slot"]))));
  lines.push(row("words changed (2,900 + 2,100 cold)", ...all.map((s) => both(s.writes.update))));
  lines.push(row("words cleared (2,900 + 2,100 cold; refund below)", ...all.map((s) => both(s.writes.clear))));
  lines.push(row("words written again in the same transaction (100)", ...all.map((s) => both(s.writes.again))));
  lines.push(
    row(
      "storage reads <sub>(cold)</sub>",
      ...all.map((s) => `${gas(s.reads.gas)} <sub>${s.reads.count} (${s.reads.cold})</sub>`),
    ),
  );
  lines.push(row("events", ...all.map((s) => both(s.events))));
  lines.push(row("other execution", ...all.map((s) => gas(s.other))));
  lines.push(row("refund", ...all.map((s) => (s.refund === 0 ? "—" : `−${gas(s.refund)}`))));
  lines.push(row("**gasUsed**", ...all.map((s) => `**${gas(s.gasUsed)}**`)));
  const eventNames = (s: Components) => {
    const counts = new Map<string, number>();
    for (const n of s.events.names) counts.set(n, (counts.get(n) ?? 0) + 1);
    return [...counts].map(([n, c]) => (c > 1 ? `${c}× \`${n}\`` : `\`${n}\``)).join(", ");
  };
  lines.push(row("events emitted", ...all.map(eventNames)));
  return lines;
}

function breakdownTable(title: string, b: GasBreakdown): string[] {
  const lines = [
    `**${title}**: ${gas(b.gasUsed)} gas`,
    "",
    "| where | count | gas |",
    "| --- | ---: | ---: |",
    `| intrinsic: 21,000 + calldata | | ${gas(b.intrinsic)} |`,
  ];
  for (const w of b.storageWrites) {
    const refund = w.refund > 0 ? ` (refund ${gas(w.refund)})` : "";
    lines.push(`| storage write, ${w.kind}${refund}: ${w.where.replaceAll("|", "\\|")} | ${w.count} | ${gas(w.gas)} |`);
  }
  const { count, cold } = b.storageReads;
  lines.push(`| storage reads (SLOAD), ${cold} of them cold | ${count} | ${gas(b.storageReads.gas)} |`);
  for (const e of b.events) lines.push(`| event \`${e.name}\` | ${e.count} | ${gas(e.gas)} |`);
  lines.push(`| other execution (dispatch, checks, hashing, memory, calls) | | ${gas(b.other)} |`);
  if (b.refund > 0) lines.push(`| refund for cleared storage | | −${gas(b.refund)} |`);
  lines.push(`| **gasUsed** | | **${gas(b.gasUsed)}** |`, "");
  return lines;
}

/** One table per traced transaction of the compared subjects' cycles, each transaction once. */
function breakdownTables(a: AppAuthGas): string[] {
  const names: Record<string, string> = {
    ours: "TimelockedAppAuth",
    floor: "UpgradeCycleFloor",
    tutorial: "TutorialTimelockAppAuth",
    dstackAppWithTimelock: "TimelockController → DstackApp",
  };
  const out: string[] = [];
  for (const { key } of COMPARED) {
    const seen = new Set<string>();
    for (const s of [...a[key].upgrade.steps, ...a[key].replace.steps] as Step[]) {
      if (s.breakdown === undefined || seen.has(s.call)) continue;
      seen.add(s.call);
      out.push(...breakdownTable(`${names[key]}.${s.call}`, s.breakdown));
    }
  }
  return out;
}

/** The TimelockedAppAuth sections of BENCHMARKS.md. */
export function appAuthSections(a: AppAuthGas): string[] {
  const route = a.dstackAppWithTimelock;
  const { ours, floor, tutorial } = a;
  const out = [
    "## The two cycles users run, and the boot check (gas)",
    "",
    "*Allow cycle*: a new release becomes allowed (ours, the floor and the tutorial's contract: propose, wait 7 days,",
    "activate; through a `TimelockController`: `schedule`, wait, `execute` of `addComposeHash`; instant apps: one",
    "call). *Replace cycle*: the new release allowed and the previous one no longer (ours and the floor retire it in",
    "the owner's activation, `activateComposeHashAndRetire(v2, [v1])`; the tutorial's contract and the instant apps",
    "remove it in one more call; through a `TimelockController` the removal is scheduled and executed too, since a",
    "removal through it waits like any call). **÷ route** divides by the proxied `DstackApp` owned by a",
    "`TimelockController`, the way to put a notice period in front of the app users have: the targets use it.",
    "`isAppAllowed` is asked the way dstack asks it, through the KMS (`KmsStandIn`, which checks the app's",
    "registration, the OS image and code at the app's address as `DstackKms` does, then calls the app), with the same",
    "boot info for every subject.",
    "",
    ...cyclesTable(a),
    "",
    ...stepsTable(a),
    "",
    "The tutorial's contract lists no devices and has no TCB rule, so its `isAppAllowed` checks less than the others",
    "(any device is allowed in its genesis state); the floor answers no boots. The proxied `DstackApp`'s boot check",
    "costs more than the non-proxy `StockAppAuth`'s by the proxy's `delegatecall` (the implementation's code is cold)",
    "and by reading its TCB flag from a word of its own. Its implementation, deployed once per KMS and shared by every",
    `app, cost ${gas(a.dstackAppImplementationDeployment)} gas; the deployment row counts only an app's own proxy.`,
    "",
    "### Other operations",
    "",
    ...operationsTable(a),
    "",
    "## The floor, and how far ours is from it",
    "",
    "`contracts/reference/UpgradeCycleFloor.sol` stores the least a timelocked upgrade can: proposing writes one new",
    "word (when the hash may be activated) and puts the compose URI in its event; activating clears that word and adds",
    "the hash to one `EnumerableSet` (its membership word, its array element and the array's length), with dstack's",
    "`ComposeHashAdded` and `PolicyChanged`; retiring on activation removes the old hash from the set. It is sent the",
    "same calldata as ours.",
    "",
    row("cycle", "floor", "floor ÷ route", "ours", "ours − floor", "ours ÷ floor"),
    row("---", "---:", "---:", "---:", "---:", "---:"),
    row(
      "allow",
      gas(floor.upgrade.total),
      times(floor.upgrade.total, route.upgrade.total),
      gas(ours.upgrade.total),
      gas(ours.upgrade.total - floor.upgrade.total),
      times(ours.upgrade.total, floor.upgrade.total),
    ),
    row(
      "replace",
      gas(floor.replace.total),
      times(floor.replace.total, route.replace.total),
      gas(ours.replace.total),
      gas(ours.replace.total - floor.replace.total),
      times(ours.replace.total, floor.replace.total),
    ),
    "",
    `The floor's allow cycle is ${times(floor.upgrade.total, route.upgrade.total)} the route's: two transactions with`,
    "one new word each and an enumerable entry cost about what `schedule` + `execute` cost, so the 1.00× target leaves",
    `almost no room beyond the floor. Its replace cycle is ${times(floor.replace.total, route.replace.total)}: retiring`,
    "rides on the activation, where the route pays a second `schedule` + `execute`. The tutorial's contract is cheaper",
    `than the floor on the allow cycle (${gas(tutorial.upgrade.total)}) because it keeps no enumerable list and emits`,
    "neither dstack event; its replace cycle needs a third transaction.",
    "",
    "## Where the gas of the cycles goes",
    "",
    "From `debug_traceTransaction`, summed over each cycle's transactions. A new word costs 22,100 (20,000 + 2,100 for",
    "the first access), changing a non-zero word 5,000 (2,900 once warm), a word already written in the same",
    "transaction 100; clearing a word earns a 4,800 refund, capped at a fifth of the gas used (writing zero back to a",
    "word that was zero when the transaction began refunds 19,900).",
    "",
    "**Allow cycle**",
    "",
    ...componentsTable(a, "upgrade"),
    "",
    "**Replace cycle**",
    "",
    ...componentsTable(a, "replace"),
    "",
    "Per transaction, each storage write with the source line that made it (inside a library, the line of the contract",
    "that called it, then the library's line), each event, storage reads and the rest:",
    "",
    ...breakdownTables(a),
  ];
  return out;
}
