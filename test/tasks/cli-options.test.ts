/**
 * The tasks' command line as a user meets it: the options' declared types and defaults, what `npx hardhat <task>
 * --help` prints from them, and how a malformed value is refused. The help and error tests run the real CLI in a
 * subprocess, outside CI mode (runHardhat: Hardhat prints every error's stack trace on CI servers, which a user does
 * not see).
 */
import path from "node:path";
import { stripVTControlCharacters } from "node:util";

import { expect } from "chai";
import { ArgumentType } from "hardhat/types/arguments";
import type { NewTaskDefinition, TaskDefinition } from "hardhat/types/tasks";

import { composeHashOfFile } from "../../lib/composeHash.js";
import { tasks } from "../../tasks/index.js";
import { REPO_ROOT, runHardhat, type CliRun } from "../helpers/cli.js";

const SOME_ADDRESS = "0x000000000000000000000000000000000000dEaD";

/** Runs `hardhat <args>` as a user's terminal would (not in CI mode); colours stripped. */
async function hardhat(...args: string[]): Promise<CliRun> {
  const run = await runHardhat(args);
  expect(run.hung, `hardhat ${args.join(" ")} did not end`).to.equal(false);
  return { ...run, stdout: stripVTControlCharacters(run.stdout), stderr: stripVTControlCharacters(run.stderr) };
}

/** The OPTIONS section of a task's help: option name (`--from-block`) → its line after the name. */
function optionLines(help: string): Map<string, string> {
  const section = help.split(/^OPTIONS:$/m)[1]?.split(/^GLOBAL OPTIONS:$/m)[0];
  expect(section, help).to.be.a("string");
  const lines = new Map<string, string>();
  for (const match of section!.matchAll(/^ {2}(--[a-z-]+) +(.*)$/gm)) lines.set(match[1]!, match[2]!);
  return lines;
}

/** The help's usage line, e.g. `Usage: hardhat [GLOBAL OPTIONS] watch [--app <STRING_WITHOUT_DEFAULT>] …`. */
function usageLine(help: string): string {
  const usage = help.split("\n").find((line) => line.startsWith("Usage: "));
  expect(usage, help).to.be.a("string");
  return usage!;
}

async function helpOf(task: string): Promise<string> {
  const run = await hardhat(task, "--help");
  expect(run.code, run.stderr).to.equal(0);
  return run.stdout;
}

/** The kind of value each option of the project's tasks takes. A new option is classified here, or this test fails. */
const OPTION_KINDS: Record<string, "int" | "file" | "flag" | "string"> = {
  // integers: Hardhat refuses anything else, and --help says INT
  at: "int",
  batch: "int",
  confirmations: "int",
  ctFromIndex: "int",
  fromBlock: "int",
  fromIndex: "int",
  maxResponseBytes: "int",
  port: "int",
  timeout: "int",
  // paths, passed on as given: --help says FILE
  collateral: "file",
  compose: "file",
  cursorFile: "file",
  eventLog: "file",
  file: "file",
  info: "file",
  memberKeyFile: "file",
  onboarding: "file",
  out: "file",
  parameters: "file",
  quote: "file",
  secretFile: "file",
  // switches
  allowInvalidJson: "flag",
  fromDstack: "flag",
  json: "flag",
  memberFromDstack: "flag",
  once: "flag",
  register: "flag",
  retireOthers: "flag",
  verify: "flag",
  yes: "flag",
  // text: addresses, hashes, durations, URLs, names; checked by lib/validate.ts
  app: "string",
  attestationPath: "string",
  composeHash: "string",
  ctLog: "string",
  ctLogKey: "string",
  ctPoll: "string",
  ctSource: "string",
  deploymentId: "string",
  device: "string",
  domain: "string",
  field: "string",
  dstackEndpoint: "string",
  from: "string",
  hash: "string",
  instance: "string",
  kms: "string",
  log: "string",
  logKey: "string",
  node: "string",
  notice: "string",
  osImage: "string",
  pccsUrl: "string",
  poll: "string",
  registry: "string",
  rpc: "string",
  source: "string",
  tcbStatus: "string",
  tlsKey: "string",
  uri: "string",
  url: "string",
  value: "string",
  verifyQuorum: "string",
  verifyRpc: "string",
  webhook: "string",
  message: "string",
  digest: "string",
  signature: "string",
  chain: "string",
  purpose: "string",
  derivedKey: "string",
  appKey: "string",
  kmsRoot: "string",
};

const TYPES_OF_KIND = {
  int: [ArgumentType.INT],
  file: [ArgumentType.FILE, ArgumentType.FILE_WITHOUT_DEFAULT],
  flag: [ArgumentType.FLAG],
  string: [ArgumentType.STRING, ArgumentType.STRING_WITHOUT_DEFAULT],
};

function isNewTask(definition: TaskDefinition): definition is NewTaskDefinition {
  return "options" in definition && "positionalArguments" in definition;
}

describe("the tasks' command line", function () {
  describe("option declarations", function () {
    const projectTasks = tasks.filter(isNewTask);

    it("declares every task with options only, so the documented `--app 0x… --file …` forms keep working", function () {
      expect(projectTasks).to.have.length(tasks.length);
      for (const definition of projectTasks)
        expect(definition.positionalArguments, definition.id.join(" ")).to.deep.equal([]);
    });

    it("types every option by the value it takes: integers INT, paths FILE, switches FLAG", function () {
      for (const definition of projectTasks) {
        for (const [name, option] of Object.entries(definition.options)) {
          const where = `${definition.id.join(" ")} --${name}`;
          const kind = OPTION_KINDS[name];
          expect(kind, `${where} is not classified in OPTION_KINDS`).to.not.equal(undefined);
          expect(TYPES_OF_KIND[kind!], where).to.include(option.type);
        }
      }
    });

    it("says, for every option without a default, whether it is required or what applies without it", function () {
      for (const definition of projectTasks) {
        for (const [name, option] of Object.entries(definition.options)) {
          const where = `${definition.id.join(" ")} --${name}: ${option.description}`;
          if (option.defaultValue === undefined) {
            expect(option.description, where).to.match(/\((required|default: |optional)[^()]*\)$/);
          } else {
            // Hardhat prints the default itself: the description must not name another, or call it required.
            expect(option.description, where).to.not.match(/\(default|required/);
          }
        }
      }
    });
  });

  describe("--help", function () {
    this.timeout(60_000);

    it("shows watch's integer options with their defaults, its files and flags, and --app as required", async function () {
      const help = await helpOf("watch");
      const usage = usageLine(help);
      for (const shown of [
        "[--app <STRING_WITHOUT_DEFAULT>]",
        "[--confirmations <INT>]",
        "[--cursor-file <FILE_WITHOUT_DEFAULT>]",
        "[--from-block <INT>]",
        "[--json]",
        "[--once]",
        "[--poll <STRING>]",
      ]) {
        expect(usage).to.contain(shown);
      }
      const options = optionLines(help);
      expect(options.get("--app")).to.equal("Address of the app's auth contract (required)");
      expect(options.get("--confirmations")).to.match(/ \(default: 3\)$/);
      expect(options.get("--poll")).to.match(/ \(default: 5s\)$/);
      expect(options.get("--from-block")).to.equal(
        "Start at this block when there is no cursor; -1 starts at the confirmed head (default: -1)",
      );
      expect(options.get("--once")).to.match(/ \(default: false\)$/);
    });

    it("shows status-page's port as an INT defaulting to 8080", async function () {
      const help = await helpOf("status-page");
      expect(usageLine(help)).to.contain("[--port <INT>]");
      const options = optionLines(help);
      expect(options.get("--port")).to.equal("Port on 127.0.0.1; 0 picks a free one (default: 8080)");
      expect(options.get("--app")).to.match(/ \(required\)$/);
    });

    it("shows check-boot's defaults (UpToDate, the zero instance) and its required boot info", async function () {
      const options = optionLines(await helpOf("check-boot"));
      expect(options.get("--tcb-status")).to.match(/ \(default: UpToDate\)$/);
      expect(options.get("--instance")).to.match(/ \(default: 0x0{40}\)$/);
      for (const required of ["--app", "--compose-hash", "--device"]) {
        expect(options.get(required), required).to.match(/ \(required\)$/);
      }
      expect(options.get("--os-image")).to.match(/\(required with --kms\b/);
    });

    it("shows propose-hash's --file as a FILE and the choice between --hash and --file", async function () {
      const help = await helpOf("propose-hash");
      expect(usageLine(help)).to.contain("[--file <FILE_WITHOUT_DEFAULT>]");
      const options = optionLines(help);
      expect(options.get("--hash")).to.match(/ \(required unless --file\)$/);
      expect(options.get("--file")).to.match(/ \(required unless --hash\)$/);
      expect(options.get("--uri")).to.match(/ \(required\)$/);
      expect(options.get("--from")).to.match(/ \(default: the network's first account\)$/);
    });
  });

  describe("malformed values", function () {
    this.timeout(120_000);

    for (const { args, line } of [
      {
        args: ["status-page", "--app", SOME_ADDRESS, "--port", "abc"],
        line: 'Error HHE500: Invalid value "abc" for argument "port" of type "INT"',
      },
      {
        args: ["watch", "--app", SOME_ADDRESS, "--confirmations", "1.5"],
        line: 'Error HHE500: Invalid value "1.5" for argument "confirmations" of type "INT"',
      },
      {
        args: ["app-status", "--app", SOME_ADDRESS, "--from-block", "-5"],
        line: 'Error HHE500: Invalid value "-5" for argument "fromBlock" of type "INT"',
      },
      {
        args: ["verify-node", "--registry", SOME_ADDRESS, "--node", SOME_ADDRESS, "--at", "yesterday"],
        line: 'Error HHE500: Invalid value "yesterday" for argument "at" of type "INT"',
      },
    ]) {
      it(`refuses \`${args.join(" ")}\` in one line, without a stack trace, exit code 1`, async function () {
        const run = await hardhat(...args);
        expect(run.code, run.stderr).to.equal(1);
        expect(run.stdout).to.equal("");
        const lines = run.stderr.split("\n").filter((text) => text.trim() !== "");
        expect(lines[0]).to.equal(line);
        expect(run.stderr).to.not.match(/^\s+at /m);
        // Hardhat's pointer to its error page is all that follows.
        expect(lines.slice(1)).to.deep.equal([
          "For more info go to https://hardhat.org/HHE500 or run Hardhat with --show-stack-traces",
        ]);
      });
    }

    it("keeps the domain checks: an integer out of range or a bad address is one red line from the task", async function () {
      const port = await hardhat("status-page", "--app", SOME_ADDRESS, "--port", "70000");
      expect(port.code, port.stderr).to.equal(1);
      expect(port.stderr.trim()).to.equal(
        'Error: --port "70000" is not valid: expected a port number from 0 (any free port) to 65535',
      );
      const app = await hardhat("app-status", "--app", "0x1234", "--from-block", "0");
      expect(app.code, app.stderr).to.equal(1);
      expect(app.stderr.trim()).to.equal(
        'Error: --app "0x1234" is not valid: expected an address: 0x followed by 40 hex digits',
      );
    });

    it("still runs a documented command line: compose-hash --file", async function () {
      const file = path.join(REPO_ROOT, "examples", "app-compose.v1.json");
      const run = await hardhat("compose-hash", "--file", file);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.contain((await composeHashOfFile(file)).bytesHash);
    });
  });
});
