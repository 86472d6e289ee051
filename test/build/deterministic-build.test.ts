/**
 * The production build of TimelockedAppAuth is reproducible: the same standard JSON input, compiled twice — once by
 * Hardhat's build system, once by the `solc` npm package called directly, the way an auditor compiles the input
 * Basescan shows — gives the same bytes, metadata hash included. And the production settings are the ones the
 * docs document (the "production-build" block of docs/auditing.md is parsed here).
 */
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import path from "node:path";

import { ethers } from "ethers";
import hre from "hardhat";
import type { CompilerInput, CompilerOutput } from "hardhat/types/solidity";

import { ipfsMultihashOf, splitRuntimeBytecode } from "../../lib/bytecode.js";
import { missingInterfaceFunctions } from "../../lib/verified/timelockedAppAuth.js";

const require = createRequire(import.meta.url);
const solc = require("solc") as { compile(input: string): string; version(): string };

const SOURCE = "contracts/TimelockedAppAuth.sol";
/** What docs/auditing.md tells an auditor to run on the standard JSON input Basescan shows. */
const AUDITOR_COMPILE_COMMAND = `node -e 'process.stdout.write(require("solc").compile(require("fs").readFileSync(0, "utf8")))' < input.json > output.json`;
const CONTRACT = "TimelockedAppAuth";

/** The block under "<!-- production-build -->" in docs/auditing.md. */
async function readmeProductionBuild(): Promise<Record<string, unknown>> {
  const readme = await readFile(path.join(hre.config.paths.root, "docs/auditing.md"), "utf8");
  const match = /<!-- production-build[^>]*-->\s*```json\n([\s\S]*?)```/.exec(readme);
  if (match === null) throw new Error('docs/auditing.md has no "<!-- production-build -->" JSON block');
  return JSON.parse(match[1]!) as Record<string, unknown>;
}

function contractOf(output: CompilerOutput, inputSourceName: string) {
  const errors = (output.errors ?? []).filter((error) => error.severity === "error");
  if (errors.length > 0) throw new Error(errors.map((error) => error.formattedMessage).join("\n"));
  const contract = output.contracts?.[inputSourceName]?.[CONTRACT];
  if (contract === undefined) throw new Error(`no ${CONTRACT} in ${inputSourceName}`);
  return contract;
}

/** Hardhat's compilation job for `source` (a path from the project's root) with the production profile. */
async function productionJob(source: string) {
  const root = path.join(hre.config.paths.root, source);
  const jobs = await hre.solidity.getCompilationJobs([root], { buildProfile: "production", force: true, quiet: true });
  if (!jobs.success) throw new Error(jobs.formattedReason);
  const job = jobs.compilationJobsPerFile.get(root) ?? jobs.indexedIndividualJobs.get(root);
  if (job === undefined) throw new Error(`no compilation job for ${source}`);
  return job;
}

describe("deterministic build of TimelockedAppAuth (production profile)", function () {
  // Two compilations with the optimizer on, by the wasm compiler.
  this.timeout(300_000);

  let input: CompilerInput;
  let solcLongVersion: string;
  let inputSourceName: string;
  let viaHardhat: CompilerOutput;
  let viaSolc: CompilerOutput;

  before(async function () {
    // Coverage instruments the sources, so a coverage run would compare instrumented builds; `npm test` runs this
    // file without coverage (`npm run test:build`).
    if (hre.globalOptions.coverage) this.skip();
    const job = await productionJob(SOURCE);
    input = await job.getSolcInput();
    solcLongVersion = job.solcLongVersion;
    inputSourceName = Object.keys(input.sources).find((name) => name.endsWith(SOURCE))!;

    viaHardhat = (await hre.solidity.runCompilationJob(job, { buildProfile: "production", quiet: true })).output;
    // The same input, plus the metadata JSON in the output selection (which changes no byte of the bytecode).
    const withMetadata = structuredClone(input);
    withMetadata.settings.outputSelection["*"]!["*"]!.push("metadata");
    viaSolc = JSON.parse(solc.compile(JSON.stringify(withMetadata))) as CompilerOutput;
  });

  it("uses the settings the docs document", async function () {
    const profile = hre.config.solidity.profiles["production"];
    expect(await readmeProductionBuild()).to.deep.equal({
      solc: solcLongVersion,
      optimizer: input.settings.optimizer,
      evmVersion: input.settings.evmVersion,
      viaIR: (input.settings as { viaIR?: boolean }).viaIR ?? false,
      bytecodeHash: (input.settings as { metadata?: { bytecodeHash?: string } }).metadata?.bytecodeHash ?? "ipfs",
      isolated: profile?.isolated,
      sources: Object.keys(input.sources).length,
    });
  });

  it("compiles with solc 0.8.28 from the solc npm package, pinned exactly and locked by its integrity hash", async function () {
    const pkg = JSON.parse(await readFile("package.json", "utf8")) as { devDependencies: Record<string, string> };
    const lock = JSON.parse(await readFile("package-lock.json", "utf8")) as {
      packages: Record<string, { version: string; integrity?: string }>;
    };
    expect(pkg.devDependencies["solc"]).to.equal("0.8.28");
    expect(lock.packages["node_modules/solc"]?.version).to.equal("0.8.28");
    expect(lock.packages["node_modules/solc"]?.integrity).to.match(/^sha512-/);
    expect(solc.version()).to.equal(`${solcLongVersion}.Emscripten.clang`);
    for (const compiler of hre.config.solidity.profiles["production"]?.compilers ?? []) {
      expect(compiler.path).to.equal(require.resolve("solc/soljson.js"));
    }
  });

  it("gives identical creation and runtime bytecode from two compilations, metadata hash included", function () {
    const a = contractOf(viaHardhat, inputSourceName);
    const b = contractOf(viaSolc, inputSourceName);
    expect(a.evm?.bytecode?.object).to.have.length.above(1000);
    expect(b.evm?.bytecode?.object).to.equal(a.evm?.bytecode?.object);
    expect(b.evm?.deployedBytecode?.object).to.equal(a.evm?.deployedBytecode?.object);
  });

  it("gives the same bytes with the command docs/auditing.md gives auditors, run in a shell", async function () {
    const docs = await readFile(path.join(hre.config.paths.root, "docs/auditing.md"), "utf8");
    expect(docs, "the command is no longer in docs/auditing.md").to.contain(AUDITOR_COMPILE_COMMAND);
    const dir = await mkdtemp(path.join(tmpdir(), "devproof-auditor-"));
    try {
      await writeFile(path.join(dir, "input.json"), JSON.stringify(input));
      // The auditor's shell resolves require("solc") from this repository's node_modules.
      const result = spawnSync("bash", ["-euo", "pipefail", "-c", AUDITOR_COMPILE_COMMAND], {
        cwd: dir,
        env: { ...process.env, NODE_PATH: path.join(hre.config.paths.root, "node_modules") },
        encoding: "utf8",
      });
      expect(result.status, result.stderr).to.equal(0);
      const output = JSON.parse(await readFile(path.join(dir, "output.json"), "utf8")) as CompilerOutput;
      expect(contractOf(output, inputSourceName).evm?.deployedBytecode?.object).to.equal(
        contractOf(viaHardhat, inputSourceName).evm?.deployedBytecode?.object,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("gives runtime bytecode the guest agent's proven-code check takes for a TimelockedAppAuth", function () {
    // solc's standard JSON gives the bytecode without 0x; the chain answers eth_getCode with it.
    const runtime = `0x${contractOf(viaHardhat, inputSourceName).evm!.deployedBytecode!.object}`;
    // The check looks for the dispatched selectors, not for the interface id: the optimizer may push a bytes4
    // constant shifted (an earlier interface id, 0x32f8b882, was pushed as 0x197c5c41 << 225), so the id's 4 bytes
    // need not be in the code.
    expect(missingInterfaceFunctions(runtime)).to.deep.equal([]);
  });

  it("ends the runtime bytecode with the IPFS hash of the metadata, which pins the compiler, settings and sources", function () {
    const contract = contractOf(viaSolc, inputSourceName) as ReturnType<typeof contractOf> & { metadata: string };
    const { trailer } = splitRuntimeBytecode(contract.evm!.deployedBytecode!.object);
    expect(trailer?.solc).to.equal("0.8.28");
    expect(trailer?.ipfs).to.equal(ipfsMultihashOf(contract.metadata));

    const metadata = JSON.parse(contract.metadata) as {
      compiler: { version: string };
      settings: { optimizer: unknown; evmVersion: string };
      sources: Record<string, { keccak256: string }>;
    };
    expect(metadata.compiler.version).to.equal(solcLongVersion);
    expect(metadata.settings.evmVersion).to.equal(input.settings.evmVersion);
    expect(Object.keys(metadata.sources).sort()).to.deep.equal(Object.keys(input.sources).sort());
    for (const [name, { keccak256 }] of Object.entries(metadata.sources)) {
      expect(keccak256, name).to.equal(ethers.keccak256(ethers.toUtf8Bytes(input.sources[name]!.content!)));
    }
  });
});

describe("production build of the deployed contracts", function () {
  this.timeout(300_000);

  // EIP-170: a chain refuses to create a contract whose runtime code is longer. Tests run on unoptimized (and, under
  // coverage, instrumented) builds that may be larger, so the limit is checked here, on the bytes that get deployed.
  const MAX_RUNTIME_BYTES = 24_576;

  for (const [source, name] of [
    ["contracts/TimelockedAppAuth.sol", "TimelockedAppAuth"],
    ["contracts/ReplicationRegistry.sol", "ReplicationRegistry"],
  ] as const) {
    it(`keeps ${name}'s runtime code within EIP-170's ${MAX_RUNTIME_BYTES} bytes`, async function () {
      if (hre.globalOptions.coverage) this.skip();
      const job = await productionJob(source);
      const { output } = await hre.solidity.runCompilationJob(job, { buildProfile: "production", quiet: true });
      const inputSourceName = Object.keys(output.contracts ?? {}).find((sourceName) => sourceName.endsWith(source))!;
      const runtime = output.contracts?.[inputSourceName]?.[name]?.evm?.deployedBytecode?.object ?? "";
      const bytes = runtime.replace(/^0x/, "").length / 2;
      console.log(`      ${name}: ${bytes} bytes of runtime code`);
      expect(bytes).to.be.greaterThan(0);
      expect(bytes).to.be.at.most(MAX_RUNTIME_BYTES);
    });
  }
});
