/**
 * Harness for running the guest agent for real, as a separate process, against Hardhat's in-process chain served
 * over HTTP, with the fake `docker` of test/guest/fixtures/bin and the dstack stand-in. Used by the agent's tests,
 * the demo and the reaction-time benchmark.
 *
 * - {@link buildAgentBundle}: the agent exactly as the container image ships it (guest/build.mjs), built once.
 * - {@link AgentChain}: a fresh chain with a TimelockedAppAuth at release v1, served at one or more JSON-RPC URLs
 *   whose faults a test sets (errors, HTTP 500, a fixed old head, down).
 * - {@link FakeDocker}: the fake CLI's control file and its log of calls.
 * - {@link ComposeHost}: an HTTP server for compose files, which can serve wrong bytes or nothing.
 * - {@link AgentProcess}: the agent's process, its JSON log lines, `/status`, signals.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

import { AbiCoder, concat, Interface, type Signer } from "ethers";

import { buildAgent } from "../../guest/build.mjs";
import { sha256Hex } from "../../lib/composeHash.js";
import { serveJsonRpc, type Interception, type JsonRpcRequest, type JsonRpcServer } from "../../lib/jsonRpcServer.js";
import { RELEASE_READER_ABI } from "../../lib/release.js";
import { computeHeaderHash } from "../../lib/verified/header.js";
import { composeHashListSlot } from "../../lib/verified/timelockedAppAuth.js";
import type { TimelockedAppAuth } from "../../types/ethers-contracts/index.js";
import { deployTimelockedAppAuth, MIN_NOTICE_PERIOD } from "./appAuth.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const FAKE_DOCKER = path.join(REPO_ROOT, "test/guest/fixtures/bin/docker");
export const EXAMPLE_V1 = path.join(REPO_ROOT, "examples/app-compose.v1.json");
export const EXAMPLE_V2 = path.join(REPO_ROOT, "examples/app-compose.v2.json");

/** A fresh temporary directory; removed by {@link cleanUp}. */
const temporaryDirs: string[] = [];
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `devproof-${prefix}-`));
  temporaryDirs.push(dir);
  return dir;
}

/** Polls `check` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  describe?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `\n${describe()}` : ""}`);
    await sleep(25);
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------------
// Releases
// ---------------------------------------------------------------------------------------------------------------

export interface ReleaseFile {
  name: string;
  bytes: Buffer;
  hash: string;
  /** The `docker_compose_file` the agent must hand to docker. */
  dockerCompose: string;
  file: string;
  fileUri: string;
}

export async function releaseFromFile(name: string, file: string): Promise<ReleaseFile> {
  const bytes = await readFile(file);
  const compose = JSON.parse(bytes.toString("utf8")) as { docker_compose_file: string };
  return {
    name,
    bytes,
    hash: sha256Hex(bytes),
    dockerCompose: compose.docker_compose_file,
    file,
    fileUri: pathToFileURL(file).href,
  };
}

/** A further release like the examples, with its own image digest, written canonically to a temporary file. */
export async function makeRelease(name: string): Promise<ReleaseFile> {
  const digest = sha256Hex(new TextEncoder().encode(name)).slice(2);
  const app = JSON.parse(await readFile(EXAMPLE_V1, "utf8")) as Record<string, unknown>;
  app["docker_compose_file"] = String(app["docker_compose_file"]).replace(/sha256:[0-9a-f]{64}/, `sha256:${digest}`);
  const file = path.join(await tempDir("release"), `app-compose.${name}.json`);
  await writeFile(file, JSON.stringify(app));
  return releaseFromFile(name, file);
}

// ---------------------------------------------------------------------------------------------------------------
// Chain
// ---------------------------------------------------------------------------------------------------------------

/** How one JSON-RPC URL misbehaves. */
export type RpcFault =
  | { kind: "none" }
  /** Every request (or only those of `methods`) answers a JSON-RPC error. */
  | { kind: "error"; methods?: string[] }
  | { kind: "http500" }
  /** eth_blockNumber answers this block, as a lagging node (or one on a shorter fork) would. */
  | { kind: "head"; block: number }
  /**
   * Lies about the current release: `currentRelease()` (eth_call) names `composeHash`, and eth_getProof claims that
   * value for the slots of the compose-hash list, beside the real proof — all a naive reader looks at.
   */
  | { kind: "release"; composeHash: string }
  /** Forges the storage proof of the current compose hash: the leaf holds `composeHash`, the claimed value too. */
  | { kind: "forged-proof"; composeHash: string }
  /** Answers every header with another state root, and the hash that goes with it (a view of another chain). */
  | { kind: "header"; stateRoot: string }
  /**
   * Any lie a test writes: `answer` gets each request and the chain's own answer to it (a copy), and returns the
   * result to give instead, or undefined to give the chain's.
   */
  | { kind: "rewrite"; answer: (request: JsonRpcRequest, honest: unknown) => unknown };

const releaseReader = new Interface(RELEASE_READER_ABI);
/**
 * The slots that can hold the current release's hash: the first positions of the compose-hash list (the current
 * release is the one the policy word's `currentPosition` names; these tests never list more than a few).
 */
const RELEASE_SLOTS = new Set(Array.from({ length: 64 }, (_, i) => composeHashListSlot(BigInt(i))));

export class RpcEndpoint {
  fault: RpcFault = { kind: "none" };
  requests = 0;
  /** Sees every request before the fault does (e.g. to time a method). */
  onRequest: ((request: JsonRpcRequest) => void) | undefined;
  private server: JsonRpcServer | undefined;
  private port = 0;

  constructor(private readonly connection: NetworkConnection) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = await serveJsonRpc(this.connection.provider, {
      port: this.port,
      intercept: (request) => this.intercept(request),
    });
    this.port = this.server.port;
    return this;
  }

  /** Stops listening: clients get "connection refused" until {@link start} is called again (same port). */
  async down(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }

  private async chainAnswer(request: JsonRpcRequest): Promise<unknown> {
    return this.connection.provider.request({ method: request.method, params: request.params as unknown[] });
  }

  private async intercept(request: JsonRpcRequest): Promise<Interception> {
    this.requests += 1;
    this.onRequest?.(request);
    const fault = this.fault;
    switch (fault.kind) {
      case "none":
        return undefined;
      case "error":
        if (fault.methods !== undefined && !fault.methods.includes(request.method)) return undefined;
        return { error: { code: -32603, message: "internal error (injected)" } };
      case "http500":
        return { httpStatus: 500, body: "injected failure" };
      case "head":
        return request.method === "eth_blockNumber" ? { result: `0x${fault.block.toString(16)}` } : undefined;
      case "release": {
        const data = (request.params as Array<{ data?: string }> | undefined)?.[0]?.data;
        if (request.method === "eth_call" && data?.startsWith(releaseReader.getFunction("currentRelease")!.selector)) {
          const encoded = AbiCoder.defaultAbiCoder().encode(["bytes32", "uint64", "uint64"], [fault.composeHash, 1, 1]);
          return { result: encoded };
        }
        if (request.method !== "eth_getProof") return undefined;
        const answer = (await this.chainAnswer(request)) as { storageProof: Array<{ key: string; value: string }> };
        for (const item of answer.storageProof) {
          if (RELEASE_SLOTS.has(BigInt(item.key))) item.value = fault.composeHash;
        }
        return { result: answer };
      }
      case "forged-proof": {
        if (request.method !== "eth_getProof") return undefined;
        const answer = (await this.chainAnswer(request)) as {
          storageProof: Array<{ key: string; value: string; proof: string[] }>;
        };
        for (const item of answer.storageProof) {
          if (!RELEASE_SLOTS.has(BigInt(item.key)) || item.proof.length === 0) continue;
          const real = BigInt(item.value).toString(16).padStart(64, "0");
          const leaf = item.proof.length - 1;
          item.proof[leaf] = item.proof[leaf]!.replace(real, fault.composeHash.slice(2));
          item.value = fault.composeHash;
        }
        return { result: answer };
      }
      case "rewrite": {
        let honest: unknown;
        try {
          honest = await this.chainAnswer(request);
        } catch {
          return undefined; // the chain's own error, as it gives it
        }
        const result = fault.answer(request, structuredClone(honest));
        return result === undefined ? { result: honest } : { result };
      }
      case "header": {
        if (request.method !== "eth_getBlockByNumber") return undefined;
        const block = (await this.chainAnswer(request)) as Record<string, unknown> | null;
        if (block === null) return { result: null };
        const forged = { ...block, stateRoot: fault.stateRoot };
        return { result: { ...forged, hash: computeHeaderHash(forged) } };
      }
    }
  }
}

export class AgentChain {
  readonly endpoints: RpcEndpoint[] = [];

  private constructor(
    readonly connection: NetworkConnection,
    readonly appAuth: TimelockedAppAuth,
    readonly address: string,
  ) {}

  /** A fresh in-process chain with a TimelockedAppAuth whose release is `v1` (notice: the minimum, one hour). */
  static async create(v1: { hash: string; uri: string }, endpointCount = 1): Promise<AgentChain> {
    const connection = await network.create();
    const appAuth = await deployTimelockedAppAuth(connection.ethers, {
      noticePeriod: MIN_NOTICE_PERIOD,
      composeHash: v1.hash,
      composeUri: v1.uri,
    });
    const chain = new AgentChain(connection, appAuth, await appAuth.getAddress());
    // Bury the deployment, so an agent reading a few blocks behind the head already finds the contract.
    await chain.mine(5);
    for (let i = 0; i < endpointCount; i++) chain.endpoints.push(await new RpcEndpoint(connection).start());
    return chain;
  }

  get urls(): string[] {
    return this.endpoints.map((endpoint) => endpoint.url);
  }

  async blockNumber(): Promise<number> {
    return Number(await this.connection.provider.request({ method: "eth_blockNumber", params: [] }));
  }

  async mine(blocks = 1): Promise<void> {
    for (let i = 0; i < blocks; i++) await this.connection.provider.request({ method: "evm_mine", params: [] });
  }

  /**
   * Proposes a release and lets its notice pass (without activating it). A URI given as bytes is stored as they are
   * (an owner can store bytes that are not UTF-8, which ethers will not encode as a string).
   */
  async proposeAndWait(release: { hash: string; uri: string | Uint8Array }): Promise<void> {
    if (typeof release.uri === "string") {
      await (await this.appAuth.proposeComposeHash(release.hash, release.uri)).wait();
    } else {
      const fragment = this.appAuth.interface.getFunction("proposeComposeHash");
      const data = concat([
        fragment.selector,
        AbiCoder.defaultAbiCoder().encode(["bytes32", "bytes"], [release.hash, release.uri]),
      ]);
      const owner = this.appAuth.runner as Signer;
      await (await owner.sendTransaction({ to: this.address, data })).wait();
    }
    await this.connection.networkHelpers.time.increase(MIN_NOTICE_PERIOD);
  }

  /** Activates a ready release; returns the activation's block number and the wall time it was mined. */
  async activate(release: { hash: string }): Promise<{ block: number; wallTime: number }> {
    const receipt = await (await this.appAuth.activateComposeHash(release.hash)).wait();
    if (receipt == null) throw new Error("no activation receipt");
    return { block: receipt.blockNumber, wallTime: Date.now() };
  }

  /** Proposes, waits the notice, activates, then mines `confirmations` blocks so the agent may act on it. */
  async release(
    release: { hash: string; uri: string | Uint8Array },
    confirmations: number,
  ): Promise<{ block: number; wallTime: number }> {
    await this.proposeAndWait(release);
    const activation = await this.activate(release);
    await this.mine(confirmations);
    return activation;
  }

  async close(): Promise<void> {
    for (const endpoint of this.endpoints) await endpoint.down();
    await this.connection.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Fake docker
// ---------------------------------------------------------------------------------------------------------------

export interface DockerCall {
  t: number;
  pid: number;
  args: string[];
  composeFile?: string;
  compose?: string;
  action: string;
}

export interface DockerRule {
  match: string;
  action: "ok" | "fail" | "hang";
  sleepMs?: number;
}

export class FakeDocker {
  readonly logFile: string;
  readonly controlFile: string;

  private constructor(readonly dir: string) {
    this.logFile = path.join(dir, "docker-calls.jsonl");
    this.controlFile = path.join(dir, "docker-control.json");
  }

  static async create(): Promise<FakeDocker> {
    const docker = new FakeDocker(await tempDir("docker"));
    await docker.control([]);
    return docker;
  }

  /** What the next calls do: the first rule whose text occurs in the arguments or compose file wins. */
  async control(rules: DockerRule[], defaultAction: "ok" | "fail" | "hang" = "ok"): Promise<void> {
    await writeFile(this.controlFile, JSON.stringify({ default: defaultAction, rules }));
  }

  env(): Record<string, string> {
    return { FAKE_DOCKER_LOG: this.logFile, FAKE_DOCKER_CONTROL: this.controlFile, FAKE_DOCKER_HANG_MS: "20000" };
  }

  async calls(): Promise<DockerCall[]> {
    let text = "";
    try {
      text = await readFile(this.logFile, "utf8");
    } catch {
      return [];
    }
    // The fake docker may be writing a line right now: only whole lines (up to the last newline) are calls.
    return text
      .slice(0, text.lastIndexOf("\n") + 1)
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as DockerCall);
  }

  /** The `compose … up` calls, each with the compose file content it was given. */
  async ups(): Promise<DockerCall[]> {
    return (await this.calls()).filter((call) => call.args.includes("up"));
  }

  async downs(): Promise<DockerCall[]> {
    return (await this.calls()).filter((call) => call.args.includes("down"));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Compose file host
// ---------------------------------------------------------------------------------------------------------------

export class ComposeHost {
  /** path → bytes; a path mapped to "404" answers 404. */
  readonly files = new Map<string, Buffer | "404">();
  requests = 0;
  private server: Server | undefined;
  private port = 0;

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.requests += 1;
      const body = this.files.get(req.url ?? "");
      if (body === undefined || body === "404") {
        res.writeHead(404);
        res.end("not found");
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", () => resolve()));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  url(urlPath: string): string {
    return `http://127.0.0.1:${this.port}${urlPath}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The agent process
// ---------------------------------------------------------------------------------------------------------------

let bundle: Promise<string> | undefined;

/** Builds the agent bundle once per process (as the Dockerfile does) and returns its path. */
export function buildAgentBundle(): Promise<string> {
  bundle ??= (async () => {
    const file = path.join(await tempDir("bundle"), "agent.mjs");
    await buildAgent(file);
    return file;
  })();
  return bundle;
}

export interface LogLine {
  level?: string;
  msg?: string;
  event?: string;
  [key: string]: unknown;
}

export interface AgentSettings {
  rpcUrls: string[];
  appAuth: string;
  stateDir: string;
  docker: FakeDocker;
  dstackSocket?: string;
  confirmations?: number;
  pollInterval?: string;
  /** `--rpc-quorum`; default: `none` with one URL (the tests of everything but the quorum), the agent's own otherwise. */
  rpcQuorum?: string;
  /** Any further flags, e.g. { "docker-timeout": "1s" }. */
  flags?: Record<string, string>;
  /** Extra environment, e.g. FAKE_DOCKER_ECHO. */
  env?: Record<string, string>;
}

export class AgentProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  port: number | undefined;

  private constructor(readonly child: ChildProcess) {
    let buffered = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      for (const part of parts) this.addLine(part);
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => this.stderr.push(chunk));
    // "close", not "exit": it comes after the output pipes are drained, so no log line is lost.
    this.exited = new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  }

  private addLine(text: string): void {
    if (text.trim() === "") return;
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text, level: "raw" };
    }
    if (line.event === "listening" && typeof line["port"] === "number") this.port = line["port"];
    this.lines.push(line);
  }

  static async start(settings: AgentSettings): Promise<AgentProcess> {
    const file = await buildAgentBundle();
    const flags: Record<string, string> = {
      "app-auth": settings.appAuth,
      "state-dir": settings.stateDir,
      docker: FAKE_DOCKER,
      confirmations: String(settings.confirmations ?? 1),
      "poll-interval": settings.pollInterval ?? "100ms",
      project: "app",
      "http-host": "127.0.0.1",
      "http-port": "0",
      "rpc-timeout": "1s",
      "fetch-timeout": "2s",
      "docker-timeout": "5s",
      "retry-initial": "300ms",
      "retry-max": "2s",
      "log-level": "debug",
      ...(settings.rpcQuorum !== undefined
        ? { "rpc-quorum": settings.rpcQuorum }
        : settings.rpcUrls.length === 1
          ? { "rpc-quorum": "none" }
          : {}),
      ...(settings.dstackSocket === undefined ? {} : { "dstack-endpoint": settings.dstackSocket }),
      ...settings.flags,
    };
    const args = [file, ...settings.rpcUrls.flatMap((url) => ["--rpc-url", url])];
    for (const [flag, value] of Object.entries(flags)) args.push(`--${flag}`, value);
    const env: NodeJS.ProcessEnv = {
      PATH: `${path.dirname(process.execPath)}:${process.env["PATH"] ?? ""}`,
      HOME: process.env["HOME"] ?? tmpdir(),
      ...settings.docker.env(),
      ...settings.env,
    };
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const agent = new AgentProcess(child);
    running.add(agent);
    void agent.exited.then(() => running.delete(agent));
    try {
      // The port comes from the "listening" line, logged at info: keep the log level at info or below.
      await waitFor(
        "the agent's status server",
        () => agent.port ?? agent.exitedEarly(),
        10_000,
        () => agent.tail(),
      );
    } catch (error) {
      await agent.stop("SIGKILL");
      throw error;
    }
    return agent;
  }

  private exitedEarly(): false {
    if (this.child.exitCode !== null) throw new Error(`the agent exited with ${this.child.exitCode}\n${this.tail()}`);
    return false;
  }

  /** The last log lines and stderr, for failure messages. */
  tail(count = 25): string {
    const lines = this.lines
      .slice(-count)
      .map((line) => `  ${line.level ?? "?"} ${line.event ?? ""} ${line.msg ?? ""}`);
    const err = this.stderr.join("").trim();
    return `agent log (last ${count}):\n${lines.join("\n")}${err === "" ? "" : `\nstderr:\n${err}`}`;
  }

  find(predicate: (line: LogLine) => boolean): LogLine | undefined {
    return this.lines.find(predicate);
  }

  events(event: string): LogLine[] {
    return this.lines.filter((line) => line.event === event);
  }

  waitForLog(what: string, predicate: (line: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> {
    return waitFor(
      what,
      () => this.lines.slice(from).find(predicate),
      timeoutMs,
      () => this.tail(),
    );
  }

  async get(urlPath: "/status" | "/healthz"): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`http://127.0.0.1:${this.port}${urlPath}`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** The reconciler's part of `/status`. */
  async reconcilerStatus(): Promise<Record<string, unknown>> {
    const { body } = await this.get("/status");
    return (body["loops"] as Record<string, Record<string, unknown>>)["reconciler"]!;
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

const running = new Set<AgentProcess>();

/** Kills agents still running and removes temporary directories (call in `after`). */
export async function cleanUp(): Promise<void> {
  for (const agent of running) await agent.stop("SIGKILL");
  for (const dir of temporaryDirs.splice(0)) await rm(dir, { recursive: true, force: true });
  bundle = undefined; // its directory is gone: the next agent builds it again
}

/** Reads and parses state.json (throws if it is not whole JSON). */
export async function readState(
  stateDir: string,
): Promise<{ running: { composeHash: string } | null } & Record<string, unknown>> {
  return JSON.parse(await readFile(path.join(stateDir, "state.json"), "utf8")) as {
    running: { composeHash: string } | null;
  };
}
