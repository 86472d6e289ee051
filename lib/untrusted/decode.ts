/**
 * Decoding event logs and call results that someone else wrote, field by field, without ever throwing.
 *
 * ethers decodes a `string` strictly: a log whose string holds bytes that are not UTF-8 decodes into a `Result` that
 * throws when the field is read, which stops whatever loop reads it. Anyone can register with the ReplicationRegistry,
 * so such a log is a way to stop every member, every watcher and the status page for good. Here the ABI is taken
 * from the caller's fragments (never written twice) and every `string` is read as the `bytes` it is encoded as (the
 * two encode alike), then checked as UTF-8 on its own: a field that is not valid is kept in a lossy form (U+FFFD in
 * place of each bad sequence) and named in `problems`. A reader then decides per use: the replicator refuses a log
 * with any problem, a watcher reports it as refused with what it could read. A field that cannot be read at all (data
 * truncated, an offset out of range, inflated past ethers' bound) is a problem too, and the decoding is then not
 * `complete`: only the fields that were read are in `values`.
 *
 * Only ethers: the guest agent's bundle and the status page in a browser use it.
 */
import { AbiCoder, concat, getBytes, makeError } from "ethers";
import type { BlockTag, EventFragment, FunctionFragment, Interface, ParamType, Provider, Result } from "ethers";

import { shown } from "./text.js";

/** A decoded field: integers as bigint; addresses, bytes and hashes as hex strings; tuples as objects by name. */
export type Value = string | bigint | boolean | Value[] | { [name: string]: Value };

/** What one log or call result decodes to. */
export interface Decoded {
  /** Every field that decodes, by name; a string that is not UTF-8 is here in its lossy form. */
  values: Record<string, Value>;
  /** One line per field that is not what its type says (at most {@link MAX_PROBLEMS}, then a count); empty: clean. */
  problems: string[];
  /**
   * Whether every field is in `values` (strings perhaps in lossy form): false when the data's layout does not decode,
   * or some field (a topic, an address with dirty bits, a tuple behind a bad offset) could not be read at all.
   */
  complete: boolean;
}

/** Problems listed one by one; more are counted. */
export const MAX_PROBLEMS = 5;

const coder = AbiCoder.defaultAbiCoder();
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lossy = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * `bytes` as text: `valid` when they are UTF-8; otherwise the lossy form, U+FFFD in place of each bad sequence. The
 * one place a string someone else wrote is checked as UTF-8 (log and call fields here, proven storage in lib/verified).
 */
export function decodeUtf8(bytes: Uint8Array): { text: string; valid: boolean } {
  try {
    return { text: strict.decode(bytes), valid: true };
  } catch {
    return { text: lossy.decode(bytes), valid: false };
  }
}

class Problems {
  readonly list: string[] = [];
  /** Whether some field could not be read at all (not merely a string that is not UTF-8). */
  missing = false;
  private more = 0;

  add(problem: string): void {
    if (this.list.length < MAX_PROBLEMS) this.list.push(problem);
    else this.more += 1;
  }

  done(): string[] {
    return this.more === 0 ? this.list : [...this.list, `and ${this.more} more field(s) like these`];
  }
}

/**
 * The type with every `string` replaced by `bytes`, which is encoded the same way but never fails to decode (tests use
 * it to write logs with strings that are not UTF-8, which ethers will not encode as strings).
 */
export function rawType(param: ParamType): string {
  if (param.isArray()) return `${rawType(param.arrayChildren)}[${param.arrayLength === -1 ? "" : param.arrayLength}]`;
  if (param.isTuple()) return `(${param.components.map(rawType).join(",")})`;
  return param.type === "string" ? "bytes" : param.type;
}

/** An ethers error in a few words, escaped: it may quote the data it failed on. */
function reasonOf(error: unknown): string {
  const e = error as { shortMessage?: unknown; message?: unknown };
  const text = typeof e?.shortMessage === "string" ? e.shortMessage : String(e?.message ?? error);
  return shown(text.split("\n")[0] ?? "", 120);
}

const join = (path: string, name: string) => (path === "" ? name : `${path}.${name}`);
const nameOf = (param: ParamType, index: number) => (param.name === "" ? String(index) : param.name);

/** Converts one raw field (read through `read`, which may throw ethers' deferred error) to a {@link Value}. */
function convert(param: ParamType, read: () => unknown, path: string, problems: Problems): Value | undefined {
  let raw: unknown;
  try {
    raw = read();
  } catch (error) {
    problems.add(`${path || "the result"} does not decode as ${param.type} (${reasonOf(error)})`);
    problems.missing = true;
    return undefined;
  }
  if (param.isTuple()) {
    const result = raw as Result;
    const out: Record<string, Value> = {};
    param.components.forEach((component, i) => {
      const name = nameOf(component, i);
      const value = convert(component, () => result[i], join(path, name), problems);
      if (value !== undefined) out[name] = value;
    });
    return out;
  }
  if (param.isArray()) {
    const result = raw as Result;
    const out: Value[] = [];
    for (let i = 0; i < result.length; i++) {
      out.push(convert(param.arrayChildren, () => result[i], `${path}[${i}]`, problems) ?? "");
    }
    return out;
  }
  if (param.type === "string") {
    const { text, valid } = decodeUtf8(getBytes(raw as string));
    if (!valid) problems.add(`${path || "the result"} is not UTF-8`);
    return text;
  }
  return raw as Value;
}

function decodeInto(
  params: readonly ParamType[],
  data: string,
  what: string,
  values: Record<string, Value>,
  problems: Problems,
): boolean {
  let decoded: Result;
  try {
    decoded = coder.decode(params.map(rawType), data);
  } catch (error) {
    problems.add(`its data does not decode as ${what} (${reasonOf(error)})`);
    problems.missing = true;
    return false;
  }
  params.forEach((param, i) => {
    const name = nameOf(param, i);
    // A lone unnamed output (`returns (NodeRecord memory)`) is the result itself: its fields are named from there.
    const path = param.name === "" && params.length === 1 ? "" : name;
    const value = convert(param, () => decoded[i], path, problems);
    if (value !== undefined) values[name] = value;
  });
  return true;
}

/** Decodes ABI-encoded `params` (e.g. a function's outputs) from `data`. */
export function decodeParams(params: readonly ParamType[], data: string, what = "its declared types"): Decoded {
  const values: Record<string, Value> = {};
  const problems = new Problems();
  decodeInto(params, data, what, values, problems);
  return { values, problems: problems.done(), complete: !problems.missing };
}

/** The one value of a function with one output (named or not), as decoded. */
export function onlyValue(decoded: Decoded): Value | undefined {
  return Object.values(decoded.values)[0];
}

/** Decodes the result of a call to `fragment`. */
export function decodeFunctionResult(fragment: FunctionFragment, data: string): Decoded {
  return decodeParams(fragment.outputs, data, `the result of ${fragment.name}`);
}

/**
 * Decodes a log of `fragment`: indexed fields from its topics (a dynamic indexed field is only its hash there), the
 * others from its data. A log with the wrong number of topics, or another event's first topic, is a problem too.
 */
export function decodeEventLog(fragment: EventFragment, log: { topics: readonly string[]; data: string }): Decoded {
  const problems = new Problems();
  const indexed = fragment.inputs.filter((input) => input.indexed === true);
  const first = fragment.anonymous ? 0 : 1;
  if (!fragment.anonymous && log.topics[0]?.toLowerCase() !== fragment.topicHash) {
    problems.add(`its first topic is not ${fragment.name}'s`);
  }
  if (log.topics.length !== first + indexed.length) {
    problems.add(`it has ${log.topics.length} topics, ${fragment.name} has ${first + indexed.length}`);
    if (log.topics.length < first + indexed.length) problems.missing = true;
  }
  const fromTopics: Record<string, Value> = {};
  indexed.forEach((param, i) => {
    const topic = log.topics[first + i];
    const name = nameOf(param, fragment.inputs.indexOf(param));
    if (topic === undefined) return;
    if (param.isTuple() || param.isArray() || param.type === "string" || param.type === "bytes") {
      fromTopics[name] = topic; // the keccak256 of the value: all a topic keeps of it
      return;
    }
    let word: Result;
    try {
      word = coder.decode([rawType(param)], topic);
    } catch (error) {
      problems.add(`${name} (a topic) does not decode as ${param.type} (${reasonOf(error)})`);
      problems.missing = true;
      return;
    }
    const value = convert(param, () => word[0], name, problems);
    if (value !== undefined) fromTopics[name] = value;
  });
  const fromData: Record<string, Value> = {};
  const unindexed = fragment.inputs.filter((input) => input.indexed !== true);
  decodeInto(unindexed, log.data, `${fragment.name}'s fields`, fromData, problems);
  // Declaration order, as the event lists its fields.
  const values: Record<string, Value> = {};
  fragment.inputs.forEach((param, i) => {
    const name = nameOf(param, i);
    const value = param.indexed === true ? fromTopics[name] : fromData[nameOf(param, unindexed.indexOf(param))];
    if (value !== undefined) values[name] = value;
  });
  return { values, problems: problems.done(), complete: !problems.missing };
}

/** The event of `iface` whose topic hash is `topic0`; null for a log of an event it does not declare. */
export function eventFragmentOf(iface: Interface, topic0: string | undefined): EventFragment | null {
  if (topic0 === undefined) return null;
  try {
    return iface.getEvent(topic0);
  } catch {
    return null;
  }
}

/** One line for everything wrong with a log or result. */
export function refusalReason(decoded: Pick<Decoded, "problems">): string {
  return decoded.problems.join("; ");
}

/** The line a reader reports for a log it refuses: `refused event NodeRegistered in block 12, log 0: …`. */
export function describeRefusedLog(event: string, log: { blockNumber: number; index: number }, reason: string): string {
  return `refused event ${event} in block ${log.blockNumber}, log ${log.index}: ${reason}`;
}

/**
 * Calls the view `fragment` of `address` and decodes its result field by field ({@link decodeFunctionResult}). A
 * revert throws as ethers throws it; a result in which some field cannot be read at all throws ethers' BAD_DATA, as
 * a contract call does, so a caller's "is this a contract that answers?" logic is unchanged. Strings that are not
 * UTF-8 do not throw: they are in `problems`, and in `values` in their lossy form.
 */
export async function callView(
  provider: Pick<Provider, "call">,
  address: string,
  fragment: FunctionFragment,
  args: readonly unknown[],
  blockTag?: BlockTag,
): Promise<Decoded> {
  const data = concat([fragment.selector, coder.encode(fragment.inputs, args)]);
  const result = await provider.call({ to: address, data, ...(blockTag === undefined ? {} : { blockTag }) });
  const decoded = decodeFunctionResult(fragment, result);
  if (!decoded.complete) {
    throw makeError("could not decode result data", "BAD_DATA", {
      value: result,
      info: { method: fragment.name, signature: fragment.format() },
    });
  }
  return decoded;
}
