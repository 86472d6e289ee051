import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";
import type { Provider } from "ethers";

import { isAfter, positionBefore, Watcher, type WatchedEvent } from "../../lib/watch.js";
import { CursorKeeper, readCursor, writeCursor } from "../../lib/watchCursor.js";
import { WebhookQueue } from "../../lib/webhook.js";
import {
  DEVICE_B,
  deployApp,
  ethers,
  HASH_V1,
  HASH_V2,
  INITIAL_URI,
  networkHelpers,
  NOTICE,
} from "../tasks/helpers.js";

/** An app with a history: proposals, a cancellation, an activation, a removal, a longer notice. */
async function appWithHistory() {
  const deployed = await deployApp();
  const fromBlock = await ethers.provider.getBlockNumber();
  const { appAuth } = deployed;
  await appAuth.proposeComposeHash(HASH_V2, "https://example.org/v2.json");
  await appAuth.proposeDevice(DEVICE_B);
  await appAuth.cancelDevice(DEVICE_B);
  await networkHelpers.time.increase(NOTICE);
  await appAuth.activateComposeHash(HASH_V2);
  await appAuth.lengthenNoticePeriod(NOTICE * 2n);
  return { ...deployed, fromBlock };
}

const key = (e: WatchedEvent) => `${e.blockNumber}:${e.logIndex}`;

async function allEvents(app: string, fromBlock: number): Promise<WatchedEvent[]> {
  const events: WatchedEvent[] = [];
  await new Watcher({
    provider: ethers.provider,
    app,
    confirmations: 1,
    start: { fromBlock },
    onEvent: (e) => void events.push(e),
  }).pass();
  return events;
}

/** A provider whose getLogs fails the first `failures` times, as a flaky RPC does. */
function flaky(provider: Provider, failures: number): Provider & { calls: number } {
  let calls = 0;
  return new Proxy(provider, {
    get(target, property, receiver) {
      if (property === "calls") return calls;
      if (property === "getLogs") {
        return async (...args: Parameters<Provider["getLogs"]>) => {
          calls += 1;
          if (calls <= failures) throw new Error(`connect ECONNREFUSED 127.0.0.1:1 (call ${calls})`);
          return target.getLogs(...args);
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as Provider & { calls: number };
}

/** Resolves once `condition` holds, checking every few milliseconds; fails the test if it never does. */
async function until(condition: () => boolean, what = "the condition"): Promise<void> {
  for (let i = 0; i < 2_000 && !condition(); i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!condition()) throw new Error(`${what} never held`);
}

/** A local webhook: answers each request with `respond`, records the bodies it accepted. */
async function webhookServer(respond: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
  const received: unknown[] = [];
  let requests = 0;
  let lastBody: unknown;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      requests += 1;
      lastBody = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      const originalEnd = res.end.bind(res);
      res.end = ((...args: Parameters<ServerResponse["end"]>) => {
        if (res.statusCode < 300) received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        return originalEnd(...args);
      }) as ServerResponse["end"];
      respond(requests, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    received,
    requests: () => requests,
    lastBody: () => lastBody,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

describe("lib/watch", function () {
  it("reads the deployment's announcement of its genesis release as in effect, not as a pending proposal", async function () {
    const fromBlock = (await ethers.provider.getBlockNumber()) + 1;
    const { app, appAuth } = await deployApp();
    await appAuth.proposeComposeHash(HASH_V2, "https://example.org/v2.json");
    const proposals = (await allEvents(app, fromBlock)).filter((e) => e.event === "ChangeProposed");
    expect(proposals.map((e) => [e.args["value"], e.severity, e.widening, e.timing])).to.deep.equal([
      [HASH_V1, "info", false, "in effect"],
      [HASH_V2, "urgent", true, proposals[1]!.timing],
    ]);
    expect(proposals[0]!.description).to.equal(
      `genesis release announced: add compose hash ${HASH_V1} (compose file: ${INITIAL_URI})`,
    );
    expect(proposals[1]!.description).to.match(/^widening change proposed: add compose hash /);
  });

  it("resumes from the cursor file after a crash mid-pass: no event repeated, none missed", async function () {
    const { app, fromBlock } = await networkHelpers.loadFixture(appWithHistory);
    const expected = (await allEvents(app, fromBlock)).map(key);
    expect(expected.length).to.be.greaterThan(6);

    const file = path.join(await mkdtemp(path.join(tmpdir(), "watch-")), "cursor.json");
    const { chainId } = await ethers.provider.getNetwork();
    const cursorKey = { chainId, app, registry: undefined };
    const seen: string[] = [];
    const crashing = new Watcher({
      provider: ethers.provider,
      app,
      confirmations: 1,
      start: { fromBlock },
      onEvent: (e) => {
        if (seen.length === 3) throw new Error("killed");
        seen.push(key(e));
      },
      onPosition: (position) => writeCursor(file, { ...cursorKey, position }),
    });
    await crashing.pass().then(
      () => expect.fail("the pass should have stopped"),
      (error: Error) => expect(error.message).to.equal("killed"),
    );

    const saved = await readCursor(file, cursorKey);
    expect(saved).to.not.equal(undefined);
    const resumed = new Watcher({
      provider: ethers.provider,
      app,
      confirmations: 1,
      start: { after: saved! },
      onEvent: (e) => void seen.push(key(e)),
      onPosition: (position) => writeCursor(file, { ...cursorKey, position }),
    });
    await resumed.pass();
    expect(seen).to.deep.equal(expected);
    await resumed.pass(); // nothing new
    expect(seen).to.deep.equal(expected);

    const other = { ...cursorKey, app: ethers.ZeroAddress };
    await readCursor(file, other).then(
      () => expect.fail("a cursor for another app must be refused"),
      (error: Error) => expect(error.message).to.contain("not for this watch"),
    );
  });

  it("survives RPC errors: reports each, backs off, retries, then delivers every event once", async function () {
    const { app, fromBlock } = await networkHelpers.loadFixture(appWithHistory);
    const expected = (await allEvents(app, fromBlock)).map(key);
    const provider = flaky(ethers.provider, 2);
    const seen: string[] = [];
    const errors: Array<[string, number, number]> = [];
    await new Watcher({
      provider,
      app,
      confirmations: 1,
      start: { fromBlock },
      onEvent: (e) => void seen.push(key(e)),
    }).run({
      pollMs: 5,
      once: true,
      onError: (error, attempt, retryInMs) => errors.push([(error as Error).message, attempt, retryInMs]),
    });
    expect(errors).to.deep.equal([
      ["connect ECONNREFUSED 127.0.0.1:1 (call 1)", 1, 5],
      ["connect ECONNREFUSED 127.0.0.1:1 (call 2)", 2, 10],
    ]);
    expect(seen).to.deep.equal(expected);

    // With --once it gives up after maxAttempts, with the last error.
    const dead = flaky(ethers.provider, 100);
    await new Watcher({ provider: dead, app, confirmations: 1, start: { fromBlock }, onEvent: () => {} })
      .run({ pollMs: 1, once: true, maxAttempts: 3 })
      .then(
        () => expect.fail("should give up"),
        (error: Error) => expect(error.message).to.contain("(call 3)"),
      );
  });

  describe("webhook", function () {
    it("delivers in order, retrying failed attempts with backoff", async function () {
      const server = await webhookServer((n, _req, res) => {
        res.statusCode = n <= 2 ? 500 : 204;
        res.end();
      });
      const lines: string[] = [];
      const queue = new WebhookQueue(server.url, { baseDelayMs: 10, log: (line) => lines.push(line) });
      void queue.push({ n: 1 });
      void queue.push({ n: 2 });
      void queue.push({ n: 3 });
      expect(await queue.drain(5_000)).to.equal(true);
      expect(server.received).to.deep.equal([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(server.requests()).to.equal(5);
      expect(lines).to.deep.equal([
        "webhook: attempt 1 failed (HTTP 500); retrying in 10 ms",
        "webhook: attempt 2 failed (HTTP 500); retrying in 20 ms",
      ]);
      expect(queue.stats).to.deep.equal({ delivered: 3, queued: 0, lastProblem: undefined, gaveUp: false });
      await server.close();
    });

    it("without maxAttempts, retries the oldest event until it is taken; the later ones wait behind it", async function () {
      const server = await webhookServer((n, _req, res) => {
        res.statusCode = n <= 6 ? 503 : 200;
        res.end();
      });
      const delivered: unknown[] = [];
      const queue = new WebhookQueue(server.url, {
        baseDelayMs: 1,
        maxDelayMs: 4,
        onDelivered: (p) => delivered.push(p),
      });
      for (const n of [1, 2, 3]) void queue.push({ n });
      expect(queue.oldest).to.deep.equal({ n: 1 });
      expect(await queue.drain()).to.equal(true);
      expect(server.received).to.deep.equal([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(delivered).to.deep.equal([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(server.requests()).to.equal(9);
      expect(queue.oldest).to.equal(undefined);
      await server.close();
    });

    it("with maxAttempts, gives up at the oldest event and keeps it and every later one undelivered", async function () {
      const server = await webhookServer((_n, _req, res) => {
        res.statusCode = 503;
        res.end();
      });
      const lines: string[] = [];
      const queue = new WebhookQueue(server.url, { baseDelayMs: 1, maxAttempts: 2, log: (line) => lines.push(line) });
      void queue.push({ n: 1 });
      void queue.push({ n: 2 });
      expect(await queue.drain()).to.equal(false);
      expect(server.requests()).to.equal(2); // both attempts were for the first event; the second was never sent
      expect(server.received).to.deep.equal([]);
      expect(lines.at(-1)).to.equal(
        "webhook: gave up after 2 attempts (last: HTTP 503); 2 event(s) left undelivered, in order",
      );
      expect(queue.stats).to.deep.equal({ delivered: 0, queued: 2, lastProblem: "HTTP 503", gaveUp: true });
      expect(queue.oldest).to.deep.equal({ n: 1 });
      void queue.push({ n: 3 }); // kept, not sent, not dropped
      expect(queue.stats.queued).to.equal(3);
      await server.close();
    });

    it("treats a request that does not answer in time as failed, and retries it", async function () {
      let held: ServerResponse | undefined;
      const server = await webhookServer((n, _req, res) => {
        if (n === 1)
          held = res; // never answered
        else res.end();
      });
      const lines: string[] = [];
      const queue = new WebhookQueue(server.url, { timeoutMs: 50, baseDelayMs: 1, log: (line) => lines.push(line) });
      void queue.push({ n: 1 });
      expect(await queue.drain()).to.equal(true);
      expect(lines[0]).to.match(/^webhook: attempt 1 failed \(TimeoutError: .*\); retrying in 1 ms$/);
      expect(server.received).to.deep.equal([{ n: 1 }]);
      held?.end();
      await server.close();
    });

    it("makes a writer wait when the queue is full, and drops nothing", async function () {
      const answers: Array<() => void> = [];
      const server = await webhookServer((_n, _req, res) => answers.push(() => res.end()));
      const queue = new WebhookQueue(server.url, { maxQueue: 2 });
      await queue.push({ n: 1 });
      await queue.push({ n: 2 });
      let third = false;
      const pushing = queue.push({ n: 3 }).then(() => (third = true));
      await until(() => answers.length === 1); // the first event is on the wire, not answered
      expect(third).to.equal(false);
      expect(queue.stats.queued).to.equal(2);
      answers.shift()!();
      await pushing;
      expect(queue.stats.queued).to.equal(2);
      while (server.received.length < 3) {
        await until(() => answers.length > 0);
        answers.shift()!();
        await until(() => answers.length > 0 || server.received.length === 3);
      }
      expect(server.received).to.deep.equal([{ n: 1 }, { n: 2 }, { n: 3 }]);
      await server.close();
    });

    it("a long watch keeps its cursor before an undelivered event, keeps reporting, and delivers all in order", async function () {
      const { app, appAuth, fromBlock } = await networkHelpers.loadFixture(appWithHistory);
      const file = path.join(await mkdtemp(path.join(tmpdir(), "watch-")), "cursor.json");
      const { chainId } = await ethers.provider.getNetwork();
      const cursorKey = { chainId, app, registry: undefined };
      let up = false;
      const violations: string[] = [];
      const server = await webhookServer((_n, req, res) => {
        void (async () => {
          // Whenever an event is posted, the cursor on disk must still be before it.
          const posted = server.lastBody() as WatchedEvent;
          const saved = await readCursor(file, cursorKey);
          if (saved !== undefined && !isAfter({ blockNumber: posted.blockNumber, index: posted.logIndex }, saved)) {
            violations.push(`cursor ${JSON.stringify(saved)} is past ${key(posted)} while it is posted`);
          }
          res.statusCode = up ? 200 : 503;
          res.end();
        })();
      });
      const seen: WatchedEvent[] = [];
      const queue = new WebhookQueue<WatchedEvent>(server.url, {
        baseDelayMs: 5,
        maxDelayMs: 20,
        onDelivered: () => void cursor.save(),
      });
      const watcher: Watcher = new Watcher({
        provider: ethers.provider,
        app,
        confirmations: 1,
        start: { fromBlock },
        onEvent: async (e) => {
          seen.push(e);
          await queue.push(e);
        },
        onPosition: () => cursor.save(),
      });
      const cursor: CursorKeeper = new CursorKeeper({
        path: file,
        key: cursorKey,
        handled: () => watcher.position,
        oldestUndelivered: () => queue.oldest,
      });
      const stop = new AbortController();
      const running = watcher.run({ pollMs: 10, signal: stop.signal });
      try {
        await until(() => server.requests() >= 3 && seen.length > 0);
        const first = seen[0]!;
        expect(await readCursor(file, cursorKey)).to.deep.equal(positionBefore(first));
        const reported = seen.length;
        await appAuth.proposeDevice(`0x${"ef".repeat(32)}`); // a later event, while the first is still undelivered
        await until(() => seen.length === reported + 1);
        expect(queue.stats).to.include({ delivered: 0, queued: reported + 1 });
        expect(await readCursor(file, cursorKey)).to.deep.equal(positionBefore(first));

        up = true;
        await until(() => queue.stats.queued === 0); // taken: the endpoint answered, and the queue heard it
      } finally {
        stop.abort();
        await running;
        queue.close();
        await server.close();
      }
      await cursor.save();
      expect((server.received as WatchedEvent[]).map(key)).to.deep.equal(seen.map(key));
      expect(await readCursor(file, cursorKey)).to.deep.equal(watcher.position);
      expect(violations).to.deep.equal([]);
    });

    it("a webhook that hangs never holds up the watcher", async function () {
      const { app, fromBlock } = await networkHelpers.loadFixture(appWithHistory);
      const server = await webhookServer(() => {}); // never answers
      const queue = new WebhookQueue(server.url, { timeoutMs: 60_000 });
      const seen: WatchedEvent[] = [];
      const started = Date.now();
      await new Watcher({
        provider: ethers.provider,
        app,
        confirmations: 1,
        start: { fromBlock },
        onEvent: (e) => {
          seen.push(e);
          queue.push(e);
        },
      }).pass();
      expect(Date.now() - started).to.be.lessThan(2_000);
      expect(seen.length).to.be.greaterThan(6);
      expect(await queue.drain(50)).to.equal(false);
      expect(queue.stats.queued).to.equal(seen.length);
      queue.close();
      await server.close();
    });
  });
});
