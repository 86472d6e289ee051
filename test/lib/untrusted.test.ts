/**
 * Decoding and showing what anyone can put on chain (lib/untrusted/), fuzzed with hostile bytes: random logs, valid
 * encodings with strings that are any bytes, and valid encodings with bytes flipped, words overwritten or the data cut
 * short, fed to each decoder the readers use. Each must return a decoded item or a refusal with its reason, never
 * throw past its boundary. The seed is pinned (FUZZ below): a failure prints its seed and path, and replays.
 */
import { expect } from "chai";
import fc from "fast-check";
import { AbiCoder, Interface, ParamType, getAddress, hexlify, id, isError, toUtf8Bytes, zeroPadValue } from "ethers";
import type { Log, Provider } from "ethers";

import { AUDIT_EVENT, appAuthInterface } from "../../lib/appAuth.js";
import { CHANGE_PROPOSED_EVENT, ComposeUriLogError, composeHashProposalId, readComposeUri } from "../../lib/release.js";
import {
  REGISTRY_AGENT_ABI,
  readNodeRecord,
  readOnboardings,
  readRefreshes,
  readRegistrations,
} from "../../lib/replication/index.js";
import { MAX_PROBLEMS, callView, decodeEventLog, decodeFunctionResult, rawType } from "../../lib/untrusted/decode.js";
import { MAX_JSON_CHARS, MAX_JSON_ITEMS, capped, safeJson, shown } from "../../lib/untrusted/text.js";
import { decodeWatchedLog, formatWatchedEvent } from "../../lib/watch.js";
import { NOT_UTF8, TERMINAL_ESCAPES } from "../helpers/poison.js";

/** Every property below runs this many cases from this seed. */
const FUZZ = { seed: 0x5eed_2025, numRuns: 300 };

const coder = AbiCoder.defaultAbiCoder();
const registry = new Interface(REGISTRY_AGENT_ABI);
const nodeRegistered = registry.getEvent("NodeRegistered")!;
const attestationRefreshed = registry.getEvent("AttestationRefreshed")!;
const getNode = registry.getFunction("getNode")!;
const REGISTRY = getAddress(`0x${"e1".repeat(20)}`);
const APP = getAddress(`0x${"a9".repeat(20)}`);
const NODE = getAddress(`0x${"0d".repeat(20)}`);

/** Control, format and separator characters, and lone surrogates: what `shown` must never let through. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => hexlify(b));
const word = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => hexlify(b));
/** Bytes that are often UTF-8 and often not: text, hostile text, or any bytes. */
const stringBytes = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 12 }).map((s) => toUtf8Bytes(s)),
  fc.constantFrom(NOT_UTF8, toUtf8Bytes(TERMINAL_ESCAPES), Uint8Array.from([0xff]), new Uint8Array()),
  fc.uint8Array({ maxLength: 12 }),
);
const isUtf8 = (b: Uint8Array) => {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
};

/** The data and topics of a NodeRegistered log whose boot info's strings (and key chain) are the given bytes. */
function nodeRegisteredLog(
  tcbStatus: Uint8Array,
  advisoryIds: Uint8Array[],
  node = NODE,
  keyChain: Uint8Array[] = [33, 33, 65, 65].map((n) => new Uint8Array(n).fill(n)),
) {
  const unindexed = nodeRegistered.inputs.filter((input) => input.indexed !== true);
  const data = coder.encode(
    unindexed.map((input) => rawType(ParamType.from(input))),
    [
      hexlify(toUtf8Bytes("key")),
      [
        APP,
        id("compose"),
        node,
        id("device"),
        id("mrA"),
        id("mrS"),
        id("os"),
        hexlify(tcbStatus),
        advisoryIds.map((a) => hexlify(a)),
      ],
      [hexlify(toUtf8Bytes("quote")), "0x"],
      keyChain.map((b) => hexlify(b)),
    ],
  );
  return { topics: [nodeRegistered.topicHash, zeroPadValue(node, 32), id("compose"), id("quote hash")], data };
}

/** The data and topics of an AttestationRefreshed log whose strings are the given bytes. */
function attestationRefreshedLog(tcbStatus: Uint8Array, advisoryIds: Uint8Array[], reason: Uint8Array) {
  const unindexed = attestationRefreshed.inputs.filter((input) => input.indexed !== true);
  const data = coder.encode(
    unindexed.map((input) => rawType(ParamType.from(input))),
    [
      3,
      hexlify(tcbStatus),
      advisoryIds.map((a) => hexlify(a)),
      [hexlify(toUtf8Bytes("quote")), hexlify(toUtf8Bytes("[]"))],
      false,
      hexlify(reason),
    ],
  );
  return { topics: [attestationRefreshed.topicHash, zeroPadValue(NODE, 32), id("quote hash")], data };
}

/** A log as a provider returns it. */
function asLog(raw: { topics: readonly string[]; data: string }, address: string, index = 0): Log {
  return {
    address,
    topics: raw.topics,
    data: raw.data,
    blockNumber: 7,
    blockHash: id("block 7"),
    transactionHash: id(`tx ${index}`),
    transactionIndex: 0,
    index,
    removed: false,
  } as unknown as Log;
}

/** A hostile change to an encoding: a byte flipped, a word overwritten (offsets, lengths), or the data cut short. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant("word" as const),
    at: fc.nat(),
    value: fc.oneof(word, fc.constantFrom(`0x${"ff".repeat(32)}`, zeroPadValue("0xffffffff", 32))),
  }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(data: string, change: Mutation): string {
  const b = Uint8Array.from(Buffer.from(data.slice(2), "hex"));
  if (b.length === 0) return data;
  switch (change.kind) {
    case "flip":
      b[change.at % b.length] = change.byte;
      return hexlify(b);
    case "word": {
      const words = Math.floor(b.length / 32);
      if (words === 0) return data;
      b.set(Buffer.from(change.value.slice(2), "hex"), (change.at % words) * 32);
      return hexlify(b);
    }
    case "cut":
      return hexlify(b.slice(0, change.at % b.length));
  }
}

/** A provider that answers `getLogs` and `call` with what a test gives it. */
function fakeProvider(answers: { logs?: Log[]; call?: string }): Provider {
  return {
    getLogs: async () => answers.logs ?? [],
    call: async () => answers.call ?? "0x",
  } as unknown as Provider;
}
const fakeRegistry = (provider: Provider) => ({ getAddress: async () => REGISTRY, runner: { provider } }) as never;

describe("lib/untrusted", function () {
  describe("shown", function () {
    it("escapes terminal escapes, C1 controls and bidirectional overrides, and keeps ordinary text", function () {
      expect(shown(TERMINAL_ESCAPES)).to.equal("\\x1b[2J\\x1b[H\\x1b[31mUpToDate\\x9b0m\\u{202e}etadpUoT");
      expect(shown("line\nnext\ttab\u0000")).to.equal("line\\nnext\\ttab\\x00");
      expect(shown("https://example.org/app-compose.json?v=1 ✓ Ünïcödé")).to.equal(
        "https://example.org/app-compose.json?v=1 ✓ Ünïcödé",
      );
    });

    it("cuts a 100 kB string to its first characters and says how many more there were", function () {
      expect(shown("A".repeat(100_000))).to.equal(`${"A".repeat(200)}… (+99800 more characters)`);
      expect(shown("é".repeat(30), 10)).to.equal(`${"é".repeat(10)}… (+20 more characters)`);
    });

    it("never lets an unsafe character through, and stays within its bound, for any string", function () {
      fc.assert(
        fc.property(fc.string({ unit: "binary", maxLength: 400 }), fc.integer({ min: 1, max: 300 }), (text, max) => {
          const out = shown(text, max);
          expect(UNSAFE.test(out), JSON.stringify(out)).to.equal(false);
          // Each kept character becomes at most 10 (`\u{10ffff}`), plus the note.
          expect(out.length).to.be.at.most(max * 10 + 40);
        }),
        FUZZ,
      );
    });
  });

  describe("safeJson and capped", function () {
    it("escapes what JSON.stringify leaves raw, and parses back to the same value, for any string", function () {
      fc.assert(
        fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
          const json = safeJson({ text });
          expect(/[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/u.test(json), json).to.equal(false);
          expect(JSON.parse(json)).to.deep.equal({ text });
        }),
        FUZZ,
      );
      expect(safeJson({ tcb: TERMINAL_ESCAPES })).to.equal(
        '{"tcb":"\\u001b[2J\\u001b[H\\u001b[31mUpToDate\\u009b0m\\u202eetadpUoT"}',
      );
    });

    it("cuts long strings and long arrays in JSON output, with a note", function () {
      const out = capped({
        s: "x".repeat(MAX_JSON_CHARS + 5),
        a: Array.from({ length: MAX_JSON_ITEMS + 3 }, () => 1),
      }) as {
        s: string;
        a: unknown[];
      };
      expect(out.s).to.equal(`${"x".repeat(MAX_JSON_CHARS)}… (+5 more characters)`);
      expect(out.a).to.have.length(MAX_JSON_ITEMS + 1);
      expect(out.a.at(-1)).to.equal("… (+3 more items)");
    });
  });

  describe("decodeEventLog", function () {
    it("names each string that is not UTF-8 by its path, and decodes every other field", function () {
      const decoded = decodeEventLog(
        nodeRegistered,
        nodeRegisteredLog(NOT_UTF8, [toUtf8Bytes("INTEL-SA-00837"), NOT_UTF8]),
      );
      expect(decoded.problems).to.deep.equal([
        "bootInfo.tcbStatus is not UTF-8",
        "bootInfo.advisoryIds[1] is not UTF-8",
      ]);
      expect(decoded.complete).to.equal(true);
      expect(decoded.values["node"]).to.equal(NODE);
      const boot = decoded.values["bootInfo"] as Record<string, unknown>;
      expect(boot["appId"]).to.equal(APP);
      expect(boot["advisoryIds"]).to.deep.equal(["INTEL-SA-00837", "Up\ufffd\ufffd\ufffd\ufffd"]);
    });

    it("finds exactly the strings that are not UTF-8, for any bytes in them", function () {
      fc.assert(
        fc.property(stringBytes, fc.array(stringBytes, { maxLength: 8 }), (tcb, advisories) => {
          const decoded = decodeEventLog(nodeRegistered, nodeRegisteredLog(tcb, advisories));
          const bad = [
            ...(isUtf8(tcb) ? [] : ["bootInfo.tcbStatus"]),
            ...advisories.flatMap((a, i) => (isUtf8(a) ? [] : [`bootInfo.advisoryIds[${i}]`])),
          ];
          const expected = bad.slice(0, MAX_PROBLEMS).map((path) => `${path} is not UTF-8`);
          if (bad.length > MAX_PROBLEMS) expected.push(`and ${bad.length - MAX_PROBLEMS} more field(s) like these`);
          expect(decoded.problems).to.deep.equal(expected);
          expect(decoded.complete).to.equal(true);
          expect((decoded.values["bootInfo"] as { advisoryIds: unknown[] }).advisoryIds).to.have.length(
            advisories.length,
          );
        }),
        FUZZ,
      );
    });

    it("returns a decoding or a refusal, never throws, for a valid log with bytes flipped, words overwritten or cut", function () {
      fc.assert(
        fc.property(
          stringBytes,
          fc.array(stringBytes, { maxLength: 4 }),
          fc.array(mutation, { minLength: 1, maxLength: 4 }),
          (tcb, advisories, changes) => {
            const log = nodeRegisteredLog(tcb, advisories);
            const data = changes.reduce(mutate, log.data);
            const decoded = decodeEventLog(nodeRegistered, { ...log, data });
            if (decoded.problems.length === 0) {
              expect(decoded.complete).to.equal(true);
              expect(Object.keys(decoded.values)).to.deep.equal(nodeRegistered.inputs.map((input) => input.name));
            }
            expect(decoded.values["node"], "the node comes from its topic").to.equal(NODE);
          },
        ),
        FUZZ,
      );
    });

    it("returns a decoding or a refusal, never throws, for random topics and data of every event the readers know", function () {
      const fragments: Array<{ iface: Interface; name: string }> = [];
      for (const iface of [registry, appAuthInterface as unknown as Interface]) {
        iface.forEachEvent((fragment) => fragments.push({ iface, name: fragment.name }));
      }
      fc.assert(
        fc.property(
          fc.constantFrom(...fragments),
          fc.array(word, { maxLength: 5 }),
          bytes(600),
          ({ iface, name }, topics, data) => {
            const fragment = iface.getEvent(name)!;
            const decoded = decodeEventLog(fragment, { topics: [fragment.topicHash, ...topics], data });
            expect(
              decoded.problems.length === 0 || decoded.problems.every((p) => typeof p === "string" && p !== ""),
            ).to.equal(true);
          },
        ),
        FUZZ,
      );
    });
  });

  describe("the readers' decoders", function () {
    const context = {
      app: APP,
      registry: REGISTRY,
      timelocked: true,
      blockTimestamp: 1_700_000_000,
      headNumber: 9,
      headTimestamp: 1_700_000_100,
    };

    it("decodeWatchedLog: an item for every log of a known event, refused with its reason or described, with nothing unsafe in its line", function () {
      const appEvents: string[] = [];
      // dstack's audit event is skipped on purpose (it repeats the dstack event of its change): tested below.
      appAuthInterface.forEachEvent((fragment) => {
        if (fragment.name !== AUDIT_EVENT) appEvents.push(fragment.topicHash);
      });
      const anyLog = fc.oneof(
        // A registration with any strings, perhaps mangled.
        fc
          .tuple(stringBytes, fc.array(stringBytes, { maxLength: 4 }), fc.array(mutation, { maxLength: 2 }))
          .map(([tcb, advisories, changes]) => {
            const log = nodeRegisteredLog(tcb, advisories);
            return asLog({ ...log, data: changes.reduce(mutate, log.data) }, REGISTRY);
          }),
        // A refresh with any strings, perhaps mangled.
        fc
          .tuple(
            stringBytes,
            fc.array(stringBytes, { maxLength: 3 }),
            stringBytes,
            fc.array(mutation, { maxLength: 2 }),
          )
          .map(([tcb, advisories, reason, changes]) => {
            const log = attestationRefreshedLog(tcb, advisories, reason);
            return asLog({ ...log, data: changes.reduce(mutate, log.data) }, REGISTRY);
          }),
        // Any log of the app's events.
        fc
          .tuple(fc.constantFrom(...appEvents), fc.array(word, { maxLength: 3 }), bytes(400))
          .map(([topic0, topics, data]) => asLog({ topics: [topic0, ...topics], data }, APP)),
      );
      fc.assert(
        fc.property(anyLog, (log) => {
          const event = decodeWatchedLog(log, context);
          expect(event, "every log of a known event is reported").to.not.equal(undefined);
          const line = formatWatchedEvent(event!);
          expect(UNSAFE.test(line), line).to.equal(false);
          if (event!.refused !== undefined) {
            expect(event!.description.startsWith(`refused event ${event!.event} in block 7, log 0: `)).to.equal(true);
          }
          JSON.parse(safeJson(event));
        }),
        FUZZ,
      );
    });

    it("decodeWatchedLog: the app's audit event (PolicyChanged) is skipped whatever it holds, as it repeats the dstack event of its change", function () {
      const audit = appAuthInterface.getEvent(AUDIT_EVENT)!.topicHash;
      fc.assert(
        fc.property(fc.array(word, { maxLength: 3 }), bytes(400), (topics, data) => {
          expect(decodeWatchedLog(asLog({ topics: [audit, ...topics], data }, APP), context)).to.equal(undefined);
        }),
        FUZZ,
      );
    });

    it("readRegistrations and readOnboardings: each log taken in or refused, in order, whatever the logs hold", async function () {
      const onboarded = registry.getEvent("NodeOnboarded")!;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              fc
                .tuple(stringBytes, fc.array(stringBytes, { maxLength: 3 }), fc.array(mutation, { maxLength: 2 }))
                .map(([tcb, advisories, changes]) => {
                  const log = nodeRegisteredLog(tcb, advisories);
                  return { ...log, data: changes.reduce(mutate, log.data) };
                }),
              fc
                .tuple(fc.array(word, { maxLength: 4 }), bytes(200))
                .map(([topics, data]) => ({ topics: [nodeRegistered.topicHash, ...topics], data })),
            ),
            { maxLength: 6 },
          ),
          async (raws) => {
            const logs = raws.map((raw, i) => asLog(raw, REGISTRY, i));
            const read = await readRegistrations(fakeRegistry(fakeProvider({ logs })), 0, 10);
            expect(read.records.length + read.refused.length).to.equal(logs.length);
            for (const refused of read.refused) {
              expect(refused.event).to.equal("NodeRegistered");
              expect(refused.reason).to.not.equal("");
            }
            const onboardings = await readOnboardings(
              fakeRegistry(
                fakeProvider({
                  logs: logs.map(
                    (log) => ({ ...log, topics: [onboarded.topicHash, ...log.topics.slice(1)] }) as unknown as Log,
                  ),
                }),
              ),
              0,
              10,
            );
            expect(onboardings.records.length + onboardings.refused.length).to.equal(logs.length);
          },
        ),
        { ...FUZZ, numRuns: 100 },
      );
    });

    it("readRefreshes: each refresh taken in or refused, naming every string that is not UTF-8, whatever the logs hold", async function () {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.tuple(
              stringBytes,
              fc.array(stringBytes, { maxLength: 3 }),
              stringBytes,
              fc.array(mutation, { maxLength: 2 }),
            ),
            { maxLength: 6 },
          ),
          async (raws) => {
            const logs = raws.map(([tcb, advisories, reason, changes], i) => {
              const log = attestationRefreshedLog(tcb, advisories, reason);
              return asLog({ ...log, data: changes.reduce(mutate, log.data) }, REGISTRY, i);
            });
            const read = await readRefreshes(fakeRegistry(fakeProvider({ logs })), 0, 10);
            expect(read.records.length + read.refused.length).to.equal(logs.length);
            raws.forEach(([tcb, advisories, reason, changes], i) => {
              if (changes.length > 0) return;
              const clean = isUtf8(tcb) && advisories.every(isUtf8) && isUtf8(reason);
              const refused = read.refused.find((r) => r.logIndex === i);
              expect(refused === undefined, `log ${i}: ${refused?.reason}`).to.equal(clean);
              if (refused !== undefined) {
                expect(refused.event).to.equal("AttestationRefreshed");
                expect(refused.node).to.equal(NODE);
                if (!isUtf8(tcb)) expect(refused.reason).to.contain("tcbStatus is not UTF-8");
              }
            });
            for (const record of read.records) {
              expect(record.node).to.equal(NODE);
              expect(record.advisoryIds).to.be.an("array");
            }
          },
        ),
        { ...FUZZ, numRuns: 100 },
      );
    });

    it("readNodeRecord and callView: a record with its problems, or ethers' BAD_DATA, for any answer", async function () {
      const record = (tcb: Uint8Array, advisories: Uint8Array[]) =>
        coder.encode(
          getNode.outputs.map((output) => rawType(ParamType.from(output))),
          [
            [
              1,
              5,
              NODE,
              0,
              0,
              5,
              0,
              id("q"),
              "0x02",
              [APP, id("c"), NODE, id("d"), id("a"), id("s"), id("o"), hexlify(tcb), advisories.map((a) => hexlify(a))],
            ],
          ],
        );
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc
              .tuple(stringBytes, fc.array(stringBytes, { maxLength: 3 }), fc.array(mutation, { maxLength: 3 }))
              .map(([tcb, advisories, changes]) => changes.reduce(mutate, record(tcb, advisories))),
            bytes(700),
          ),
          async (answer) => {
            let read: Awaited<ReturnType<typeof readNodeRecord>> | undefined;
            try {
              read = await readNodeRecord(fakeRegistry(fakeProvider({ call: answer })), NODE);
            } catch (error) {
              expect(isError(error, "BAD_DATA"), String(error)).to.equal(true);
              expect(decodeFunctionResult(getNode, answer).complete).to.equal(false);
              return;
            }
            expect(read.record).to.be.an("object");
            if (read.problems.length === 0) expect(read.record.bootInfo.advisoryIds).to.be.an("array");
          },
        ),
        FUZZ,
      );
      // The log that carries the owner's compose URI (the views only point at its block), answered with anything:
      // a URI (refused by name when it is not UTF-8) or a ComposeUriLogError, never another failure.
      const topic = new Interface([CHANGE_PROPOSED_EVENT]).getEvent("ChangeProposed")!.topicHash;
      const hash = id("hash");
      const topics = [topic, composeHashProposalId(hash), zeroPadValue("0x00", 32), hash];
      await fc.assert(
        fc.asyncProperty(bytes(500), async (data) => {
          const source = { getLogs: async () => [{ address: APP, blockNumber: 7, index: 0, topics, data }] };
          try {
            const read = await readComposeUri(source, APP, hash, { uriBlock: 7n });
            expect(read.uri).to.be.a("string");
          } catch (error) {
            expect(error, String(error)).to.be.instanceOf(ComposeUriLogError);
          }
        }),
        FUZZ,
      );
    });
  });
});
