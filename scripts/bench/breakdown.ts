/**
 * Where a transaction's gas goes: every storage write (with the source line that made it), every event, storage
 * reads, the intrinsic cost (21,000 + calldata) and the refund, from `debug_traceTransaction` and the build's
 * source maps. The figures add up to the receipt's `gasUsed`.
 */
import { readFile } from "node:fs/promises";

import { Interface } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { EthereumProvider } from "hardhat/types/providers";

interface StructLog {
  pc: number;
  op: string;
  gas: number;
  gasCost: number;
  depth: number;
  stack?: string[];
  refund?: number;
}

interface Trace {
  gas: number;
  failed: boolean;
  structLogs: StructLog[];
}

/** One storage write, or several from the same source location with the same cost. */
export interface StorageWrite {
  where: string;
  kind: "new slot" | "update" | "clear" | "again";
  count: number;
  gas: number;
  refund: number;
}

export interface EventCost {
  name: string;
  count: number;
  gas: number;
}

export interface GasBreakdown {
  gasUsed: number;
  /** 21,000 + calldata (+ access list, none here). */
  intrinsic: number;
  storageWrites: StorageWrite[];
  /** SLOADs; `cold` of them the first access to their slot (2,100 gas; 100 once warm). */
  storageReads: { count: number; cold: number; gas: number };
  events: EventCost[];
  /** Everything else executed: dispatch, checks, hashing, memory, calls. */
  other: number;
  /** The refund applied at the end (cleared slots), capped at a fifth of the gas used. */
  refund: number;
}

interface SourceLocation {
  file: string;
  line: number;
  text: string;
}

interface CodeMap {
  /** Instruction index of each program counter. */
  instructionAt: Map<number, number>;
  /** Source location and jump type of each instruction. */
  entries: { location: SourceLocation | undefined; jump: string }[];
}

/** A contract the breakdown can name lines in: its address on the chain and its artifact name. */
export interface KnownContract {
  address: string;
  artifact: string;
}

export class GasProfiler {
  readonly #hre: HardhatRuntimeEnvironment;
  readonly #provider: EthereumProvider;
  readonly #codeMaps = new Map<string, CodeMap>();
  readonly #events = new Map<string, string>();

  constructor(hre: HardhatRuntimeEnvironment, provider: EthereumProvider) {
    this.#hre = hre;
    this.#provider = provider;
  }

  /** Makes lines in `contract`'s code, and its events, nameable. */
  async know(contract: KnownContract): Promise<void> {
    const artifact = await this.#hre.artifacts.readArtifact(contract.artifact);
    for (const fragment of new Interface(artifact.abi).fragments) {
      if (fragment.type === "event") {
        const event = fragment as unknown as { topicHash: string; name: string };
        this.#events.set(event.topicHash.toLowerCase(), event.name);
      }
    }
    this.#codeMaps.set(contract.address.toLowerCase(), await this.#codeMap(contract.artifact));
  }

  async breakdown(txHash: string): Promise<GasBreakdown> {
    const tx = (await this.#provider.request({ method: "eth_getTransactionByHash", params: [txHash] })) as {
      to: string;
      gas: string;
    };
    const receipt = (await this.#provider.request({ method: "eth_getTransactionReceipt", params: [txHash] })) as {
      gasUsed: string;
    };
    const trace = (await this.#provider.request({
      method: "debug_traceTransaction",
      params: [txHash, { disableMemory: true, disableStorage: true }],
    })) as Trace;
    const logs = trace.structLogs;
    const first = logs[0];
    if (first === undefined) throw new Error(`empty trace for ${txHash}`);

    const gasUsed = Number(receipt.gasUsed);
    const intrinsic = Number(tx.gas) - first.gas;
    const writes = new Map<string, StorageWrite>();
    const events = new Map<string, EventCost>();
    const reads = { count: 0, cold: 0, gas: 0 };

    // The code running at each call depth, and at each depth the stack of internal call sites (jumps into
    // functions), so a write inside a library is named by the line of ours that called it.
    const codeAt: (CodeMap | undefined)[] = [];
    codeAt[1] = this.#codeMaps.get(tx.to.toLowerCase());
    const callSites: SourceLocation[][] = [[], []];
    // At each depth, the last statement of a contract (not a library, not a whole function) that ran: what code
    // the compiler generated (copying a string to storage) was doing work for.
    const recent: (SourceLocation | undefined)[] = [];
    let refundCounter = 0;

    for (let i = 0; i < logs.length; i++) {
      const log = logs[i]!;
      const next = logs[i + 1];
      const stack = log.stack ?? [];
      const code = codeAt[log.depth];
      const entry = code?.entries[code.instructionAt.get(log.pc) ?? -1];
      const refundAfter = next?.refund ?? log.refund ?? refundCounter;

      if (entry?.location !== undefined && isStatement(entry.location)) recent[log.depth] = entry.location;

      if (log.op === "SSTORE") {
        const value = BigInt(stack.at(-2) ?? "0");
        const refund = refundAfter - (log.refund ?? 0);
        const kind = storageWriteKind(log.gasCost, value, refund);
        const where = describe(entry?.location, callSites[log.depth] ?? [], recent[log.depth]);
        const key = `${where}|${kind}`;
        const known = writes.get(key);
        if (known === undefined) writes.set(key, { where, kind, count: 1, gas: log.gasCost, refund });
        else
          Object.assign(known, { count: known.count + 1, gas: known.gas + log.gasCost, refund: known.refund + refund });
      } else if (log.op === "SLOAD") {
        reads.count++;
        if (log.gasCost >= 2100) reads.cold++;
        reads.gas += log.gasCost;
      } else if (log.op.startsWith("LOG")) {
        const topic = log.op === "LOG0" ? undefined : stack.at(-3);
        const name = topic === undefined ? "anonymous" : (this.#events.get(padTopic(topic)) ?? `event ${topic}`);
        const known = events.get(name);
        if (known === undefined) events.set(name, { name, count: 1, gas: log.gasCost });
        else Object.assign(known, { count: known.count + 1, gas: known.gas + log.gasCost });
      } else if (log.op === "JUMP" && entry !== undefined) {
        const sites = (callSites[log.depth] ??= []);
        if (entry.jump === "i" && entry.location !== undefined) sites.push(entry.location);
        if (entry.jump === "o") sites.pop();
      } else if (["CALL", "STATICCALL", "DELEGATECALL", "CALLCODE"].includes(log.op) && next?.depth === log.depth + 1) {
        codeAt[next.depth] = this.#codeMaps.get(stackAddress(stack.at(-2)) ?? "");
        callSites[next.depth] = [];
      }
      refundCounter = refundAfter;
    }

    const storageWrites = [...writes.values()];
    const eventCosts = [...events.values()];
    // EIP-3529: the refund is at most a fifth of the gas used before it, i.e. a quarter of the gas used after it.
    const refund = Math.min(refundCounter, Math.floor(gasUsed / 4));
    const executed = gasUsed + refund - intrinsic;
    const attributed =
      storageWrites.reduce((sum, w) => sum + w.gas, 0) + reads.gas + eventCosts.reduce((sum, e) => sum + e.gas, 0);
    return {
      gasUsed,
      intrinsic,
      storageWrites,
      storageReads: reads,
      events: eventCosts,
      other: executed - attributed,
      refund,
    };
  }

  async #codeMap(artifactName: string): Promise<CodeMap> {
    const artifact = await this.#hre.artifacts.readArtifact(artifactName);
    const buildInfoId = await this.#hre.artifacts.getBuildInfoId(artifactName);
    const inputPath = buildInfoId && (await this.#hre.artifacts.getBuildInfoPath(buildInfoId));
    const outputPath = buildInfoId && (await this.#hre.artifacts.getBuildInfoOutputPath(buildInfoId));
    if (!inputPath || !outputPath) throw new Error(`no build info for ${artifactName}`);
    const input = JSON.parse(await readFile(inputPath, "utf8")) as {
      input: { sources: Record<string, { content: string }> };
    };
    const output = JSON.parse(await readFile(outputPath, "utf8")) as {
      output: {
        sources: Record<string, { id: number }>;
        contracts: Record<string, Record<string, { evm: { deployedBytecode: { sourceMap: string } } }>>;
      };
    };
    const sourceMap =
      output.output.contracts[artifact.inputSourceName ?? ""]?.[artifact.contractName]?.evm.deployedBytecode.sourceMap;
    if (sourceMap === undefined) throw new Error(`no source map for ${artifactName}`);

    const sourceById = new Map<number, { name: string; bytes: Buffer }>();
    for (const [name, { id }] of Object.entries(output.output.sources)) {
      const content = input.input.sources[name]?.content;
      if (content !== undefined) sourceById.set(id, { name, bytes: Buffer.from(content, "utf8") });
    }

    const instructionAt = new Map<number, number>();
    const code = Buffer.from(artifact.deployedBytecode.slice(2), "hex");
    for (let pc = 0, index = 0; pc < code.length; index++) {
      instructionAt.set(pc, index);
      const op = code[pc]!;
      pc += op >= 0x60 && op <= 0x7f ? op - 0x5e : 1;
    }

    const entries: CodeMap["entries"] = [];
    let [s, l, f, j] = [-1, -1, -1, "-"];
    for (const item of sourceMap.split(";")) {
      const fields = item.split(":");
      if (fields[0]) s = Number(fields[0]);
      if (fields[1]) l = Number(fields[1]);
      if (fields[2]) f = Number(fields[2]);
      if (fields[3]) j = fields[3];
      const source = sourceById.get(f);
      entries.push({ location: source === undefined || s < 0 ? undefined : locate(source, s, l), jump: j });
    }
    return { instructionAt, entries };
  }
}

function locate(source: { name: string; bytes: Buffer }, start: number, length: number): SourceLocation {
  const before = source.bytes.subarray(0, start).toString("utf8");
  const text = source.bytes
    .subarray(start, start + length)
    .toString("utf8")
    .split("\n")[0]!
    .trim();
  return {
    file: source.name.split("/").at(-1)!,
    line: before.split("\n").length,
    text: text.length > 70 ? `${text.slice(0, 67)}...` : text,
  };
}

/**
 * `File.sol:line code`. A write inside a library is named by the innermost line of the contract that called into
 * it, then the library's line; one inside code the compiler generated (copying a string to storage) by the last
 * statement of the contract that ran before it.
 */
function describe(
  location: SourceLocation | undefined,
  callSites: SourceLocation[],
  recent: SourceLocation | undefined,
): string {
  const name = (at: SourceLocation) => `${at.file}:${at.line} \`${at.text}\``;
  if (location === undefined)
    return recent === undefined
      ? "(code the compiler generated)"
      : `${name(recent)} › (string storage, compiler-generated)`;
  if (!isLibrary(location)) return name(location);
  const caller = callSites.findLast((site) => !isLibrary(site)) ?? recent;
  return caller === undefined ? name(location) : `${name(caller)} › ${name(location)}`;
}

function isLibrary(location: SourceLocation): boolean {
  return LIBRARIES.some((file) => location.file === file);
}

/** A location in a contract's own code that is narrower than a whole function or contract. */
function isStatement(location: SourceLocation): boolean {
  return !isLibrary(location) && !/^(function|contract|abstract|modifier|constructor)\b/.test(location.text);
}

/** Library files whose writes are named by the caller's line first. */
const LIBRARIES = ["EnumerableSet.sol", "StorageSlot.sol", "Arrays.sol"];

/**
 * Classifies an SSTORE by its EIP-2929/2200/3529 cost: 20,000 for a slot that was zero before the transaction,
 * 2,900 for the first change of a non-zero slot, 100 for a slot already written in this transaction or left as it
 * was; plus 2,100 for the first (cold) access.
 */
function storageWriteKind(gasCost: number, value: bigint, refund: number): StorageWrite["kind"] {
  const base = [22100, 5000, 2200].includes(gasCost) ? gasCost - 2100 : gasCost;
  if (base === 20000) return "new slot";
  if (base === 2900) return value === 0n ? "clear" : "update";
  return value === 0n && refund > 0 ? "clear" : "again";
}

function padTopic(topic: string): string {
  return "0x" + topic.replace(/^0x/, "").padStart(64, "0").toLowerCase();
}

function stackAddress(word: string | undefined): string | undefined {
  if (word === undefined) return undefined;
  return "0x" + word.replace(/^0x/, "").padStart(64, "0").slice(24).toLowerCase();
}
