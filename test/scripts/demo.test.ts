/**
 * The demo as a user runs it (`npx hardhat run scripts/demo.ts`, what `./dev demo` runs), given broken input: it must
 * end by itself, with exit code 1 and one line saying what failed, and leave nothing running or on disk. The broken
 * release is proposed after the guest agent, its RPC port and the dstack stand-in have started, so a missed cleanup
 * would keep the process alive.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { composeHashOfFile } from "../../lib/composeHash.js";
import { REPO_ROOT, cliEnvironment, runHardhat, type CliRun } from "../helpers/cli.js";
import { EXAMPLE_V2 } from "../helpers/guestAgent.js";

/** Command lines of the processes still running that mention `text`. */
async function processesMentioning(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(text)) found.push(cmdline.replaceAll("\0", " "));
  }
  return found;
}

describe("./dev demo, as the README's quick start runs it", function () {
  this.timeout(180_000);

  it("deploys, proposes, waits out the notice, activates, and the agent runs v2 outvoting a lying provider; the nodes share the secret and the TLS key, verify-app passes a member, watch-certs flags a rogue certificate; the oracle market waits out a release", async function () {
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const env = cliEnvironment();
      const child = spawn("bash", ["-c", "./dev demo"], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
    expect(run.code, `${run.stdout}\n${run.stderr}`).to.equal(0);
    const v2 = (await composeHashOfFile(EXAMPLE_V2)).bytesHash.slice(2);
    expect(run.stderr).to.match(/not ready yet: ready at .* \(in 7d 0h 0m\)/);
    expect(run.stdout).to.match(new RegExp(`agent: reloaded: now running 0x${v2}`));
    // One of the three providers lies about the chain: the two others outvote it, and the agent names it.
    expect(run.stdout).to.match(
      /agent: RPC endpoint\(s\) outvoted or refused at block \d+: 2 of 3 endpoints report this header \(quorum 2\) .*http:\/\/127\.0\.0\.1:\d+: head \d+, hash 0x[0-9a-f]{64}/,
    );
    expect(run.stdout).to.match(/Older releases: +1 still allowed \(oldest allowed 7d 0h \d+m ago\)/);
    expect(run.stdout).to.match(/WARN .*1 older release\(s\) still allowed: the owner can downgrade/);
    expect(run.stdout).to.match(
      /R6\. The owner retires v1[^\n]*\n[\s\S]*Done: stop allowing compose hash 0x[0-9a-f]{64}\./,
    );
    expect(run.stdout).to.match(/npx hardhat pin-os --app 0x[0-9a-fA-F]{40} --field os-image --value 0x[0-9a-f]{64}/);
    expect(run.stdout).to.match(/denied: OS not allowed by the app/);
    expect(run.stdout).to.match(/^Stage 1: DevProof/m);
    expect(run.stdout).to.match(/^Stage 0: ruggable/m);
    expect(run.stdout).to.contain("the same secret: yes");
    expect(run.stdout).to.match(
      /^VALID: the digest was signed by 0x[0-9a-fA-F]{40}, a key dstack's KMS issued to app/m,
    );
    // TLS: both nodes derive the key the genesis member published; verify-app passes a member against the registry;
    // a certificate for the domain with another key in the CT log is URGENT, and the user is told what to do.
    const tlsKey = /^A derives (0x[0-9a-f]{64}); B derives \1: the same TLS key: yes$/m.exec(run.stdout)?.[1];
    expect(tlsKey, run.stdout).to.be.a("string");
    expect(run.stdout).to.match(new RegExp(`tlsKey\\(\\): ${tlsKey} \\(1 TlsKeySet event`));
    expect(run.stdout).to.match(
      new RegExp(`PASS +the registry publishes the app's TLS key .*: ${tlsKey}, published by its genesis member`),
    );
    expect(run.stdout).to.match(/PASS +the quote binds the served certificate's key/);
    expect(run.stdout).to.match(/^PASS: every check passed/m);
    expect(run.stdout).to.match(new RegExp(`^INFO entry 0: x509 for app\\.example, key ${tlsKey}`, "m"));
    expect(run.stdout).to.match(/^URGENT entry 1: x509 for app\.example, key 0x[0-9a-f]{64}.*NOT the app's/m);
    expect(run.stdout).not.to.match(new RegExp(`^URGENT entry 1: .*key ${tlsKey}`, "m"));
    expect(run.stdout).to.match(/^What to do: .*revoke it with its CA/m);
    expect(run.stdout).to.match(/^oracle market: refused to settle: a change of the oracle app is open/m);
    expect(run.stdout).to.match(/^oracle market: settled: outcome yes/m);
  });
});

describe("the demo, given broken input", function () {
  this.timeout(180_000);

  let sandbox: string;

  beforeEach(async function () {
    sandbox = await mkdtemp(path.join(tmpdir(), "devproof-demo-test-"));
  });

  afterEach(async function () {
    await rm(sandbox, { recursive: true, force: true });
  });

  /** Runs the demo with `env`, its temporary files under a directory of its own. */
  async function runDemo(env: Record<string, string>): Promise<CliRun> {
    const demoTmp = path.join(sandbox, "tmp");
    await mkdir(demoTmp);
    const run = await runHardhat(["run", "scripts/demo.ts"], { env: { ...env, TMPDIR: demoTmp } });
    expect(run.hung, `the demo did not exit:\n${run.stdout}\n${run.stderr}`).to.equal(false);
    expect(await processesMentioning(demoTmp), "processes the demo left running").to.deep.equal([]);
    // Only the demo's own files: Node's TypeScript loader keeps a cache there too.
    const left = (await readdir(demoTmp)).filter((name) => name.startsWith("devproof-"));
    expect(left, "temporary files the demo left").to.deep.equal([]);
    return run;
  }

  it("stops with exit code 1 and one line when release v2's file does not exist", async function () {
    const missing = path.join(sandbox, "no-such-app-compose.json");
    const run = await runDemo({ DEVPROOF_DEMO_V2: missing });
    expect(run.code).to.equal(1);
    expect(run.stderr).to.contain(missing);
    expect(run.stderr).to.match(/^demo failed: the step "npx hardhat compose-hash" failed/m);
    expect(run.stderr).not.to.match(/report a bug|\n\s+at /);
    expect(run.stdout).not.to.contain("2. The developer proposes");
  });

  it("stops with exit code 1 when release v1's file is not a compose file it can deploy", async function () {
    const empty = path.join(sandbox, "empty.json");
    await writeFile(empty, "");
    const run = await runDemo({ DEVPROOF_DEMO_V1: empty });
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/^demo failed: /m);
    expect(run.stderr).not.to.match(/report a bug|\n\s+at /);
  });
});
