// Measures the TLS work of issue 15 on this machine: ACME issuance against pebble (HTTP-01 answered by a local
// server, DNS-01 through a hook against pebble-challtestsrv), `verify-app` wall time against the local stand-ins (a
// stand-in member and the in-process chain; the quote check substituted as in the demo), and what a `watch-certs`
// poll costs against the CT stand-in (requests, bytes, time) and against the crt.sh-style stand-in. Prints tables;
// asserts nothing: the numbers depend on the machine.
//
//   npx hardhat run scripts/bench-tls.ts          (BENCH_RUNS=5 by default)
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import hre from "hardhat";

import { sha256Hex } from "../lib/composeHash.js";
import { formatTable } from "../lib/format.js";
import {
  CrtshSearch,
  CrtshWatcher,
  CtLog,
  CtWatcher,
  TlsKeyTimeline,
  decodeLeaf,
  deriveTlsKey,
  encodeLeaf,
  issueCertificate,
  parseLogKey,
  type AcmeOptions,
} from "../lib/tls/index.js";
import { substituteQuoteVerifier } from "../tasks/shared/quote-verifier.js";
import { certificateDer, startCrtshStandIn, startCtStandIn } from "../test/helpers/ct-stand-in.js";
import {
  freePort,
  pebbleInstalled,
  startChallTestSrv,
  startPebble,
  writeChallTestSrvHook,
} from "../test/helpers/pebble.js";
import { FIXTURE_TIME, TDX_FIXTURE_DIR, standInVerifier } from "../test/helpers/tee-stand-in.js";
import { startStandInMember } from "../test/helpers/tls-stand-in.js";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (value: number) => `${value.toFixed(0)} ms`;
async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

// ---- ACME issuance against pebble -------------------------------------------------------------------------------
const key = deriveTlsKey(new Uint8Array(32).fill(0x42));
if (pebbleInstalled()) {
  const rows: string[][] = [];
  const answers = new Map<string, string>();
  const httpPort = await freePort();
  const server = createServer((req, res) => {
    const token = (req.url ?? "").split("/").at(-1) ?? "";
    res.writeHead(answers.has(token) ? 200 : 404).end(answers.get(token) ?? "");
  });
  await new Promise<void>((resolve) => server.listen(httpPort, "127.0.0.1", resolve));
  const dns = await startChallTestSrv();
  // Two pebbles: one resolving through the system (HTTP-01 to localhost), one through challtestsrv (DNS-01).
  const pebble = await startPebble(httpPort);
  const dnsPebble = await startPebble(await freePort(), { dnsServer: dns.dnsServer });
  const dir = await mkdtemp(path.join(tmpdir(), "bench-tls-"));
  const { hook } = await writeChallTestSrvHook(dir, dns.managementUrl);
  try {
    const base = { directoryUrl: pebble.directoryUrl, directoryCa: pebble.ca, challengePort: httpPort };
    const viaDns = { directoryUrl: dnsPebble.directoryUrl, directoryCa: dnsPebble.ca };
    const settings: Array<[string, AcmeOptions]> = [
      ["HTTP-01, 1 name", { ...base, domains: ["localhost"] }],
      ["DNS-01 hook, 1 name", { ...viaDns, domains: ["bench.devproof.test"], challenge: "dns-01", dnsHook: hook }],
      [
        "DNS-01 hook, name + wildcard",
        { ...viaDns, domains: ["bench.devproof.test", "*.bench.devproof.test"], challenge: "dns-01", dnsHook: hook },
      ],
    ];
    for (const [name, options] of settings) {
      const times: number[] = [];
      for (let run = 0; run < RUNS; run += 1) times.push(await timed(() => issueCertificate(key, options, answers)));
      rows.push([name, String(RUNS), ms(median(times)), ms(Math.min(...times)), ms(Math.max(...times))]);
    }
  } finally {
    await pebble.stop();
    await dnsPebble.stop();
    await dns.stop();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
  console.log("\nACME issuance against pebble (a new account, order, challenge(s), finalize, download; no VA sleeps)");
  console.log(formatTable(["challenge", "runs", "median", "min", "max"], rows));
} else {
  console.log("\nACME issuance: skipped, pebble is not installed");
}

// ---- verify-app against the local stand-ins ---------------------------------------------------------------------
{
  const connection = await hre.network.getOrCreate();
  const compose = await readFile(new URL("../examples/app-compose.v1.json", import.meta.url), "utf8");
  const composeHash = sha256Hex(new TextEncoder().encode(compose));
  const [owner] = await connection.ethers.getSigners();
  const appAuth = await connection.ethers.deployContract("TimelockedAppAuth", [
    owner!.address,
    7n * 24n * 3600n,
    composeHash,
    "https://example.org/releases/v1/app-compose.json",
    [`0x${"a1".repeat(32)}`],
    false,
    true,
  ]);
  const app = await appAuth.getAddress();
  const member = await startStandInMember({
    secret: new Uint8Array(32).fill(0x42),
    app,
    composeHash,
    appCompose: compose,
  });
  const restore = substituteQuoteVerifier(standInVerifier, "bench stand-in");
  const collateral = path.relative(process.cwd(), fileURLToPath(new URL("tdx_quote_collateral.json", TDX_FIXTURE_DIR)));
  const times: number[] = [];
  const log = console.log;
  try {
    for (let run = 0; run < RUNS + 1; run += 1) {
      console.log = () => undefined;
      let outcome: unknown;
      const time = await timed(async () => {
        outcome = await hre.tasks.getTask("verify-app").run({
          url: member.url,
          app,
          tlsKey: member.key.spkiSha256,
          collateral,
          at: FIXTURE_TIME,
          attestationPath: "/attestation",
          timeout: 5000,
          json: true,
        });
      });
      console.log = log;
      if ((outcome as { success?: boolean }).success !== true) {
        throw new Error(`verify-app did not pass the stand-in: ${JSON.stringify(outcome)}`);
      }
      if (run > 0) times.push(time); // the first run loads the task's modules
    }
  } finally {
    console.log = log;
    restore();
    await member.close();
  }
  console.log(
    "\nverify-app against a stand-in member and the in-process chain (first run, which loads modules, left out)",
  );
  console.log(
    formatTable(
      ["runs", "median", "min", "max"],
      [[String(times.length), ms(median(times)), ms(Math.min(...times)), ms(Math.max(...times))]],
    ),
  );
}

// ---- watch-certs poll cost --------------------------------------------------------------------------------------
{
  const DOMAIN = "app.example";
  const foreign = deriveTlsKey(new Uint8Array(32).fill(0x66));
  const log = await startCtStandIn({ maxPerRequest: 256 });
  const filler = await certificateDer(foreign, ["other.example"]);
  const ours = await certificateDer(key, [DOMAIN]);
  for (let i = 0; i < 1000; i += 1) log.addCertificate(i % 100 === 0 ? ours : filler);
  let events = 0;
  const watcher = new CtWatcher({
    log: new CtLog(log.url, parseLogKey(log.publicKey)),
    domain: DOMAIN,
    keys: new TlsKeyTimeline(key.spkiSha256),
    batch: 256,
    start: 0,
    onEvent: async () => void (events += 1),
  });
  const rows: string[][] = [];
  const measure = async (what: string, pass: () => Promise<unknown>) => {
    const [requests, bytes] = [log.requestsByPath(), log.bytesServed()];
    const time = await timed(pass);
    const after = log.requestsByPath();
    const made = Object.entries(after)
      .map(([name, n]) => [name, n - (requests[name] ?? 0)] as const)
      .filter(([, n]) => n > 0)
      .map(([name, n]) => `${n} ${name}`)
      .join(", ");
    rows.push([what, made, `${((log.bytesServed() - bytes) / 1024).toFixed(1)} KiB`, ms(time)]);
  };
  await measure("first pass: 1000 entries, 10 for the domain", () => watcher.pass());
  const leaf = encodeLeaf({ kind: "x509", der: filler }, Date.now());
  const parsing = await timed(async () => {
    for (let i = 0; i < 1000; i += 1) decodeLeaf(i, leaf);
  });
  const skipping = await timed(async () => {
    for (let i = 0; i < 1000; i += 1) decodeLeaf(i, leaf, DOMAIN);
  });
  rows.push(["(no network: parsing 1000 certificates as X.509)", "—", "—", ms(parsing)]);
  rows.push(["(no network: 1000 entries of other domains, skipped unparsed)", "—", "—", ms(skipping)]);
  await measure("idle poll: no new entry", () => watcher.pass());
  for (let i = 0; i < 10; i += 1) log.addCertificate(i === 0 ? ours : filler);
  await measure("poll: 10 new entries, 1 for the domain", () => watcher.pass());
  await log.close();

  const search = await startCrtshStandIn();
  for (let i = 0; i < 10; i += 1) search.addCertificate(ours, [DOMAIN]);
  const crtsh = new CrtshWatcher({
    search: new CrtshSearch(search.url, { maxBytes: 4_000_000, timeoutMs: 10_000 }),
    domain: DOMAIN,
    keys: new TlsKeyTimeline(key.spkiSha256),
    batch: 256,
    start: 0,
    onEvent: async () => void (events += 1),
  });
  const crtshRow = async (what: string) => {
    const before = search.requests();
    const time = await timed(() => crtsh.pass());
    rows.push([what, `${search.requests() - before} requests (2 searches + 1 per new certificate)`, "—", ms(time)]);
  };
  await crtshRow("crt.sh-style: first pass, 10 listed");
  await crtshRow("crt.sh-style: idle poll");
  await search.close();
  console.log(
    `\nwatch-certs passes against the local stand-ins (${events} events; the stand-ins' own hashing included)`,
  );
  console.log(formatTable(["pass", "requests", "bytes served", "time"], rows));
}
