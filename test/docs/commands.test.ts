/**
 * Every command shown in README.md and docs/ is run here as written, or by the test its block names, so none can
 * rot (test/helpers/docs.ts says how a block is marked). Shell blocks run in bash, in a scratch copy of the
 * repository (so what they write never lands in the checkout), with the Node that runs these tests first on PATH —
 * what `eval "$(./dev env)"` gives a reader. Blocks about Base run against a local node with Base's chain id and
 * type, a stand-in of dstack's KMS at the address config/kms.json names, and an app deployed there.
 */
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { stripVTControlCharacters } from "node:util";

import hre from "hardhat";
import { parse as parseShell } from "shell-quote";

import { REPO_ROOT, cliEnvironment, runProcess, type CliRun } from "../helpers/cli.js";
import { startWebhookReceiver, type WebhookReceiver } from "../helpers/webhook.js";
import {
  assignedVariable,
  camelCase,
  hardhatTask,
  readDocBlocks,
  readInlineCommands,
  readRelativeLinks,
  type DocBlock,
  type DocCommand,
} from "../helpers/docs.js";
import { startBaseScenario, type BaseScenario } from "./base-scenario.js";

/** The documents whose commands are tested: the README and the manual. */
async function documents(): Promise<string[]> {
  const manual = (await readdir(path.join(REPO_ROOT, "docs"))).filter((name) => name.endsWith(".md")).sort();
  return ["README.md", ...manual.map((name) => `docs/${name}`)];
}

const where = (block: DocBlock) => `${block.file}:${block.line}`;

/** A scratch copy of the checkout: its tracked and new files, with the installed dependencies linked in. */
async function scratchCopy(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "devproof-docs-"));
  const files = await gitFiles();
  for (const file of files) {
    await mkdir(path.join(dir, path.dirname(file)), { recursive: true });
    await cp(path.join(REPO_ROOT, file), path.join(dir, file));
  }
  await symlink(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"));
  // ./dev runs `npm ci` when the lockfile looks newer than the installed tree, which here is the checkout's own:
  // date the copy's lockfile back so that it never does.
  await utimes(path.join(dir, "package-lock.json"), 0, 0);
  await mkdir(path.join(dir, "home"));
  return dir;
}

async function gitFiles(): Promise<string[]> {
  const { stdout } = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO_ROOT);
  return stdout
    .split("\0")
    .filter((file) => file !== "")
    .filter((file) => file !== "node_modules");
}

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout }));
  });
}

/** The environment of a documented command: a reader's shell with this Node first on PATH, nothing of CI's. */
function readerEnv(sandbox: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return cliEnvironment({
    configHome: path.join(sandbox, "home/.config"),
    env: {
      PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: path.join(sandbox, "home"),
      LANG: "C.UTF-8",
      ...extra,
    },
  });
}

/** How long one block may run before it counts as hung (a compile of the scratch copy on a loaded machine is slow). */
const HANG_LIMIT_MS = 600_000;

/** Runs `script` in bash, stopping at the first failing command. */
function bash(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<CliRun> {
  return runProcess("bash", ["-euo", "pipefail", "-c", script], { cwd, env, killAfterMs: HANG_LIMIT_MS });
}

/** The keystore password the docs test types at the keystore's prompts. */
const KEYSTORE_PASSWORD = "docs test keystore password";

/**
 * Runs `command` on a terminal (util-linux `script`), typing the answers to what it prompts for: the keystore's
 * password, and for `keystore set NAME` the value of NAME in `values`.
 */
function onTerminal(command: string, cwd: string, env: NodeJS.ProcessEnv, values: Record<string, string>) {
  const secret = values[/keystore set ([A-Z_][A-Z0-9_]*)/.exec(command)?.[1] ?? ""] ?? "";
  let answered = 0;
  return runProcess("script", ["-qefc", `bash -euo pipefail -c ${JSON.stringify(command)}`, "/dev/null"], {
    cwd,
    env,
    killAfterMs: HANG_LIMIT_MS,
    // Answer each prompt once, after it has appeared.
    onStdout: (stdout, stdin) => {
      const prompts = [...stripVTControlCharacters(stdout).matchAll(/(password|Enter secret)[^:\n]*: /gi)];
      for (const prompt of prompts.slice(answered)) {
        stdin.write(`${/password/i.test(prompt[0]) ? KEYSTORE_PASSWORD : secret}\n`);
        answered += 1;
      }
    },
  });
}

/** A command that runs until stopped, started in the background. */
class Background {
  stdout = "";
  stderr = "";
  exited: number | null | undefined = undefined;
  private readonly child: ChildProcess;

  constructor(
    readonly command: DocCommand,
    cwd: string,
    env: NodeJS.ProcessEnv,
  ) {
    // Its own process group, so that stopping it stops what it started (npx starts node).
    this.child = spawn("bash", ["-c", `exec ${command.text}`], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    this.child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (this.stdout += chunk));
    this.child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    this.child.on("close", (code) => (this.exited = code));
  }

  /** Waits for its first line of output; fails if it exits first. */
  async started(): Promise<void> {
    const deadline = Date.now() + HANG_LIMIT_MS;
    while (!this.stdout.includes("\n")) {
      if (this.exited !== undefined) {
        throw new Error(`"${this.command.text}" exited with ${this.exited} before printing:\n${this.stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`"${this.command.text}" printed nothing in ${HANG_LIMIT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Stops it (SIGINT, as Ctrl-C would) and fails if it had already exited. */
  async stop(): Promise<void> {
    if (this.exited !== undefined) {
      throw new Error(`"${this.command.text}" stopped by itself with ${this.exited}:\n${this.stderr}`);
    }
    const closed = new Promise((resolve) => this.child.once("close", resolve));
    process.kill(-this.child.pid!, "SIGINT");
    const killer = setTimeout(() => process.kill(-this.child.pid!, "SIGKILL"), 10_000);
    await closed;
    clearTimeout(killer);
  }
}

describe("the commands of the README and docs/", function () {
  // A hang detector, far above a normal run (about 4 minutes beside the coverage run on 2 cores).
  this.timeout(1_800_000);

  let blocks: DocBlock[] = [];

  before(async function () {
    for (const file of await documents()) blocks.push(...(await readDocBlocks(REPO_ROOT, file)));
  });

  it("says for every shell example how it is tested", function () {
    const unmarked = blocks.filter((block) => block.annotation === undefined);
    expect(
      unmarked.map((block) => `${where(block)}: ${block.annotationError ?? "no <!-- docs-test: … --> before it"}`),
    ).to.deep.equal([]);
    expect(blocks.length).to.be.greaterThan(5);
  });

  it("names every task and option of the blocks run elsewhere in the files that run them", async function () {
    const missing: string[] = [];
    for (const block of blocks) {
      if (block.annotation?.kind !== "elsewhere") continue;
      const sources = await Promise.all(
        block.annotation.files.map((file) => readFile(path.join(REPO_ROOT, file), "utf8")),
      );
      const text = sources.join("\n");
      for (const command of block.commands) {
        const words = parseShell(command.text).filter((word): word is string => typeof word === "string");
        const task = hardhatTask(words);
        if (task === undefined) {
          if (!text.includes(command.text))
            missing.push(`${where(block)}: "${command.text}" is not in ${block.annotation.files.join(", ")}`);
          continue;
        }
        const name = task.task.join(" ");
        if (!text.includes(`"${name}"`) && !text.includes(`hardhat ${name}`))
          missing.push(`${where(block)}: task "${name}" is not run in ${block.annotation.files.join(", ")}`);
        for (const option of task.options.filter((option) => option !== "network")) {
          if (!new RegExp(`\\b${camelCase(option)}\\b|--${option}\\b`).test(text)) {
            missing.push(`${where(block)}: ${name} --${option} is not used in ${block.annotation.files.join(", ")}`);
          }
        }
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it("shows in its prose only commands that a tested block runs, task and options alike", async function () {
    const tested = blocks.flatMap((block) =>
      block.commands.flatMap((command) => {
        const task = hardhatTask(command.text.split(/\s+/));
        return task === undefined ? [] : [task];
      }),
    );
    const untested: string[] = [];
    for (const file of await documents()) {
      for (const text of await readInlineCommands(REPO_ROOT, file)) {
        const words = text.split(/\s+/);
        const task = hardhatTask(words);
        if (task === undefined) {
          // ./dev <script>: a tested block must run that script.
          const ran = blocks.some((block) =>
            block.commands.some((command) => command.text.startsWith(words.slice(0, 2).join(" "))),
          );
          if (!ran) untested.push(`${file}: \`${text}\``);
          continue;
        }
        const match = tested.some(
          (candidate) =>
            candidate.task.join(" ") === task.task.join(" ") &&
            task.options.every((option) => candidate.options.includes(option)),
        );
        if (!match && task.task.length > 0) untested.push(`${file}: \`${text}\``);
      }
    }
    expect(untested, "inline commands no tested block runs").to.deep.equal([]);
  });

  it("links only to files that exist", async function () {
    const broken: string[] = [];
    for (const file of await documents()) {
      for (const target of await readRelativeLinks(REPO_ROOT, file)) {
        const resolved = path.join(REPO_ROOT, path.dirname(file), target);
        if (!(await stat(resolved).catch(() => undefined))) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).to.deep.equal([]);
  });

  describe("run as written", function () {
    let sandbox: string | undefined;
    let base: BaseScenario | undefined;
    let hook: WebhookReceiver | undefined;

    before(async function () {
      // Under coverage the suite's own processes are instrumented; these are the reader's: `npm run test:docs`
      // (scripts/test.sh runs it beside the coverage run).
      if (hre.globalOptions.coverage) this.skip();
      sandbox = await scratchCopy();
    });

    after(async function () {
      await hook?.close();
      await base?.stop();
      if (sandbox !== undefined) await rm(sandbox, { recursive: true, force: true });
    });

    /** The Base scenario, started the first time a block needs it. */
    async function baseScenario(): Promise<Record<string, string>> {
      hook ??= await startWebhookReceiver();
      base ??= await startBaseScenario(sandbox!);
      return { ...base.variables, WEBHOOK_URL: hook.url };
    }

    const SETUPS: Record<string, (dir: string, scenario: Record<string, string>) => Promise<void>> = {
      /** The reader fetched the app's current release (v1 in the scenario) as app-compose.json. */
      "app-compose-from-release": async (dir) => {
        await cp(path.join(dir, "examples/app-compose.v1.json"), path.join(dir, "app-compose.json"));
      },
      /** What docs/deploy.md asks the reader to fill in by hand in ignition/parameters/base.json. */
      "fill-base-parameters": async (dir, scenario) => {
        const file = path.join(dir, "ignition/parameters/base.json");
        const parameters = JSON.parse(await readFile(file, "utf8")) as { TimelockedAppAuth: Record<string, unknown> };
        Object.assign(parameters.TimelockedAppAuth, {
          owner: scenario["OWNER"],
          initialComposeHash: scenario["COMPOSE_HASH"],
          initialComposeUri: "https://example.org/releases/v1/app-compose.json",
          initialDevices: [scenario["DEVICE"]],
        });
        await writeFile(file, JSON.stringify(parameters, null, 2));
      },
    };

    it("runs every shell block of each document in order", async function () {
      const failures: string[] = [];
      for (const file of await documents()) {
        const background: Background[] = [];
        try {
          for (const block of blocks.filter((b) => b.file === file)) {
            if (block.annotation?.kind !== "shell") continue;
            const annotation = block.annotation;
            const started = Date.now();
            const scenario = annotation.chain === "base" ? await baseScenario() : {};
            if (annotation.setup !== undefined) {
              const setup = SETUPS[annotation.setup];
              if (setup === undefined) throw new Error(`${where(block)}: unknown setup "${annotation.setup}"`);
              await setup(sandbox!, scenario);
            }
            const env = readerEnv(sandbox!, scenario);
            // The reader's placeholders for what the scenario provides are skipped; everything else runs.
            const commands = block.commands.filter((command) => {
              const name = assignedVariable(command.text);
              return name === undefined || !(name in scenario);
            });
            let script: string[] = [];
            const flush = async () => {
              if (script.length === 0) return;
              const result = annotation.tty
                ? await onTerminal(script.join("\n"), sandbox!, env, { ...scenario, ETHERSCAN_API_KEY: "docs-test" })
                : await bash(script.join("\n"), sandbox!, env);
              const shown = `${where(block)}:\n$ ${script.join("\n$ ")}\nexit ${result.code}${result.hung ? " (killed: it hung)" : ""}\n${result.stdout}\n${result.stderr}`;
              if (result.hung || result.code !== annotation.exit) failures.push(shown);
              // On a terminal, stderr and stdout are one stream.
              else if (
                annotation.stderr !== undefined &&
                !annotation.stderr.test(annotation.tty ? result.stdout : result.stderr)
              ) {
                failures.push(`${shown}\n(stderr does not match ${String(annotation.stderr)})`);
              }
              script = [];
            };
            for (const command of commands) {
              if (!command.longRunning) {
                script.push(command.text);
                // On a terminal, one command at a time: each gets its own answers.
                if (annotation.tty) await flush();
                continue;
              }
              await flush();
              const process = new Background(command, sandbox!, env);
              background.push(process);
              await process.started();
            }
            await flush();
            console.log(`      ${where(block)}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
          }
        } finally {
          for (const process of background.reverse()) {
            await process.stop().catch((error: unknown) => failures.push(`${file}: ${(error as Error).message}`));
          }
          // Each document starts from a fresh chain: its blocks must not depend on another document's.
          await base?.stop();
          base = undefined;
        }
      }
      expect(failures, failures.join("\n\n────────\n")).to.deep.equal([]);
      if (hook !== undefined) expect(hook.received.length, "webhook deliveries of watch").to.be.greaterThan(0);
    });
  });
});
