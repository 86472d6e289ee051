import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";

import type { WatchCertsResult } from "../../tasks/watch-certs.js";
import { deriveTlsKey } from "../../lib/tls/index.js";
import type { CertEvent } from "../../lib/tls/index.js";
import { certificateDer as der, startCrtshStandIn, startCtStandIn, type CtStandIn } from "../helpers/ct-stand-in.js";

/** Another log's key. */
async function startCtStandInKey() {
  const other = await startCtStandIn();
  await other.close();
  return other;
}
import { startWebhookReceiver } from "../helpers/webhook.js";
import { ethers, networkHelpers, runTask } from "../tasks/helpers.js";
import { deployRegistry, registerArgs, signedRegistration, testNode } from "../helpers/replication.js";
import { signTlsKey } from "../../lib/replication/index.js";
import { CtLog, CtWatcher, TlsKeyTimeline, parseLogKey } from "../../lib/tls/index.js";

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 4_000; i += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error("the condition never held");
}

const APP_KEY = deriveTlsKey(new Uint8Array(32).fill(0x42));
const FOREIGN_KEY = deriveTlsKey(new Uint8Array(32).fill(0x66));
const DOMAIN = "app.example";

describe("watch-certs", function () {
  this.timeout(30_000);
  let log: CtStandIn;
  let dir: string;

  beforeEach(async function () {
    log = await startCtStandIn({ maxPerRequest: 4 });
    dir = await mkdtemp(path.join(tmpdir(), "devproof-ct-"));
  });
  afterEach(async function () {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  const watch = (extra: Record<string, unknown> = {}) =>
    runTask<WatchCertsResult>("watch-certs", {
      domain: DOMAIN,
      tlsKey: APP_KEY.spkiSha256,
      log: log.url,
      logKey: log.publicKey,
      source: "log",
      confirmations: 1,
      fromBlock: 0,
      batch: 256,
      maxResponseBytes: 4_000_000,
      timeout: 5000,
      poll: "1s",
      fromIndex: 0,
      once: true,
      ...extra,
    });

  it("flags a certificate or precertificate for the domain whose key is not the app's, and resumes from its cursor", async function () {
    log.addCertificate(await der(APP_KEY, [DOMAIN]));
    log.addCertificate(await der(FOREIGN_KEY, ["other.example"])); // another domain: not reported
    log.addCertificate(await der(FOREIGN_KEY, [`*.${DOMAIN}`]));
    log.addCertificate(await der(FOREIGN_KEY, [DOMAIN]), "precert");
    for (let i = 0; i < 6; i += 1) log.addCertificate(await der(APP_KEY, ["filler.example"]));
    const cursorFile = path.join(dir, "cursor.json");

    const run = await watch({ cursorFile, json: true });
    expect(run.result.success, run.stderr).to.equal(true);
    const events = run.stdout.split("\n").map((line) => JSON.parse(line) as CertEvent);
    expect(events.map((e) => [e.index, e.severity, e.certificate?.kind])).to.deep.equal([
      [0, "info", "x509"],
      [2, "urgent", "x509"],
      [3, "urgent", "precert"],
    ]);
    expect(events[1]!.certificate!.spkiSha256).to.equal(FOREIGN_KEY.spkiSha256);
    expect(events[2]!.certificate!.dnsNames).to.deep.equal([DOMAIN]);
    expect(JSON.parse(await readFile(cursorFile, "utf8"))).to.include({ next: 10, domain: DOMAIN });
    expect(log.requests()).to.equal(3); // the log returns 4 entries per request
    // One inclusion proof per certificate for the domain, and nothing else but the tree head.
    expect(log.requestsByPath()).to.deep.equal({ "get-sth": 1, "get-entries": 3, "get-proof-by-hash": 3 });

    log.addCertificate(await der(FOREIGN_KEY, [`www.${DOMAIN}`]));
    // A wildcard for the parent zone covers the domain too, though its bytes never spell the domain out.
    log.addCertificate(await der(FOREIGN_KEY, [`*.${DOMAIN.slice(DOMAIN.indexOf(".") + 1)}`]));
    const again = await watch({ cursorFile });
    expect(again.result.success).to.equal(true);
    expect((again.result as { value: WatchCertsResult }).value.events.map((e) => e.index)).to.deep.equal([10, 11]);
    expect(again.stdout).to.match(/URGENT entry 10: x509 for www\.app\.example/);
    expect(again.stdout).to.match(/URGENT entry 11: x509 for \*\.example/);
  });

  it("refuses hostile entries one by one, including one too large to read, and still flags what follows", async function () {
    log.addRaw({ leaf_input: "not base64!" });
    log.addRaw({ leaf_input: Buffer.from([0, 0, 1, 2]).toString("base64") }); // truncated
    log.addRaw({ leaf_input: Buffer.alloc(20, 0).fill(9, 10, 12).toString("base64") }); // unknown entry type
    log.addRaw(null);
    // x509 entries that are no certificate: one that names the domain is refused; one that cannot name it is not
    // parsed, and so not reported (most of a busy log is other domains' certificates).
    const notACertificate = (bytes: Buffer) =>
      Buffer.concat([Buffer.alloc(12), Buffer.from([0, 0, bytes.length]), bytes]).toString("base64");
    log.addRaw({ leaf_input: notACertificate(Buffer.from(`0\x82 garbage naming ${DOMAIN.toUpperCase()}`)) });
    log.addRaw({ leaf_input: notACertificate(Buffer.alloc(50)) });
    log.addRaw({ leaf_input: "A".repeat(200_000) }); // larger than --max-response-bytes on its own
    log.addCertificate(await der(FOREIGN_KEY, [DOMAIN]));
    const run = await watch({ json: true, maxResponseBytes: 50_000 });
    expect(run.result.success, run.stderr).to.equal(true);
    const events = run.stdout.split("\n").map((line) => JSON.parse(line) as CertEvent);
    expect(events.map((e) => [e.index, e.severity])).to.deep.equal([
      [0, "refused"],
      [1, "refused"],
      [2, "refused"],
      [3, "refused"],
      [4, "refused"],
      [6, "refused"],
      [7, "urgent"],
    ]);
    expect(events[4]!.reason).to.not.contain("more than"); // the parser's own words
    expect(events[5]!.reason).to.contain("more than 50000");
  });

  it("with --registry, watches for the TLS key the registry publishes, and refuses a --tls-key that contradicts it", async function () {
    const deployed = await deployRegistry(ethers, networkHelpers);
    const registry = await deployed.registry.getAddress();
    const genesis = testNode("watch-certs genesis");
    await (
      await deployed.registry.register(
        ...registerArgs(await signedRegistration(deployed.domain, genesis, deployed.appId)),
      )
    ).wait();
    await (await deployed.registry.connect(deployed.owner).setGenesis(genesis.address)).wait();
    // Nothing published yet: the key must be given.
    const none = await watch({ tlsKey: undefined, registry });
    expect(none.result.success).to.equal(false);
    expect(none.errorMessage).to.match(/publishes no TLS key yet: give the key to watch for with --tls-key/);

    const signature = await signTlsKey(genesis.wallet, deployed.domain, { spkiSha256: APP_KEY.spkiSha256, nonce: 0 });
    await (await deployed.registry.setTlsKey(APP_KEY.spkiSha256, signature)).wait();
    log.addCertificate(await der(APP_KEY, [DOMAIN]));
    log.addCertificate(await der(FOREIGN_KEY, [DOMAIN]));
    const run = await watch({ tlsKey: undefined, registry, json: true });
    expect(run.result.success, run.stderr).to.equal(true);
    expect(run.stderr).to.contain(`the app's TLS key is ${APP_KEY.spkiSha256}`);
    const events = run.stdout.split("\n").map((line) => JSON.parse(line) as CertEvent);
    expect(events.map((e) => [e.index, e.severity])).to.deep.equal([
      [0, "info"],
      [1, "urgent"],
    ]);

    const contradicted = await watch({ tlsKey: FOREIGN_KEY.spkiSha256, registry });
    expect(contradicted.result.success).to.equal(false);
    expect(contradicted.errorMessage).to.contain("is not the TLS key the ReplicationRegistry");
  });

  it("posts each event to --webhook", async function () {
    log.addCertificate(await der(FOREIGN_KEY, [DOMAIN]));
    const receiver = await startWebhookReceiver<CertEvent>();
    try {
      const run = await watch({ webhook: receiver.url });
      expect(run.result.success, run.stderr).to.equal(true);
      expect(receiver.received.map((e) => [e.index, e.severity])).to.deep.equal([[0, "urgent"]]);
    } finally {
      await receiver.close();
    }
  });

  it("starts at the log's head without --from-index, and fails with one line when the log cannot be read", async function () {
    log.addCertificate(await der(FOREIGN_KEY, [DOMAIN]));
    const head = await watch({ fromIndex: -1 });
    expect(head.result.success).to.equal(true);
    expect((head.result as { value: WatchCertsResult }).value).to.include({ next: 1 });
    expect((head.result as { value: WatchCertsResult }).value.events).to.deep.equal([]);
    const down = await watch({ log: "http://127.0.0.1:1" });
    expect(down.result.success).to.equal(false);
    expect(down.stderr).to.contain("pass failed: cannot reach");
  });

  it("follows the registry while it runs: after a TlsKeySet the new key is the app's, and the old one only for certificates logged before", async function () {
    const NEW_KEY = deriveTlsKey(new Uint8Array(32).fill(0x43));
    const deployed = await deployRegistry(ethers, networkHelpers);
    const registry = await deployed.registry.getAddress();
    const genesis = testNode("watch-certs follower");
    await (
      await deployed.registry.register(
        ...registerArgs(await signedRegistration(deployed.domain, genesis, deployed.appId)),
      )
    ).wait();
    await (await deployed.registry.connect(deployed.owner).setGenesis(genesis.address)).wait();
    const publish = async (key: string, nonce: number) => {
      const signature = await signTlsKey(genesis.wallet, deployed.domain, { spkiSha256: key, nonce });
      const receipt = await (await deployed.registry.setTlsKey(key, signature)).wait();
      return (await ethers.provider.getBlock(receipt!.blockNumber))!.timestamp * 1000;
    };
    const firstAt = await publish(APP_KEY.spkiSha256, 0);
    log.addCertificate(await der(APP_KEY, [DOMAIN]), "x509", firstAt);
    log.addCertificate(await der(NEW_KEY, [DOMAIN]), "x509", firstAt);

    const receiver = await startWebhookReceiver<CertEvent>();
    const before = new Set(process.listeners("SIGTERM"));
    const watching = watch({ tlsKey: undefined, registry, once: undefined, webhook: receiver.url, poll: "1s" });
    let run: Awaited<typeof watching>;
    try {
      await until(() => receiver.received.length >= 2);
      const changedAt = await publish(NEW_KEY.spkiSha256, 1);
      // A poll reads the registry before the log: entries appended now are judged against the new key.
      log.addCertificate(await der(NEW_KEY, [DOMAIN]), "x509", changedAt + 1000);
      log.addCertificate(await der(APP_KEY, [DOMAIN]), "x509", changedAt - 1000); // logged before the change
      log.addCertificate(await der(APP_KEY, [DOMAIN]), "x509", changedAt + 1000); // the replaced key, after it
      await until(() => receiver.received.length >= 5);
    } finally {
      const stop = process.listeners("SIGTERM").find((l) => !before.has(l)) as (() => void) | undefined;
      stop?.();
      run = await watching;
      await receiver.close();
    }
    expect(run.result.success, run.stderr).to.equal(true);
    expect(receiver.received.map((e) => [e.index, e.severity])).to.deep.equal([
      [0, "info"],
      [1, "urgent"], // the new key before the registry published it
      [2, "info"],
      [3, "info"],
      [4, "urgent"],
    ]);
    expect(receiver.received[3]!.reason).to.contain("previous TLS key, logged before the registry replaced it");
    expect(receiver.received[4]!.reason).to.contain("REPLACED TLS key, logged after the registry replaced it");
    expect(run.stdout).to.contain(`the registry published the TLS key ${NEW_KEY.spkiSha256}`);
    expect((run.result as { value: WatchCertsResult }).value.tlsKey).to.equal(NEW_KEY.spkiSha256);
  });

  it("judges by the key timeline: the current key, a replaced key before and after its replacement, a key never published", function () {
    const [a, b, c] = [APP_KEY.spkiSha256, FOREIGN_KEY.spkiSha256, `0x${"cc".repeat(32)}`];
    const keys = new TlsKeyTimeline(a);
    expect(keys.judge(a, 5).ours).to.equal(true);
    keys.publish(b, 1000);
    expect([
      keys.judge(b, 0).ours,
      keys.judge(a, 999).ours,
      keys.judge(a, 1000).ours,
      keys.judge(c, 0).ours,
    ]).to.deep.equal([true, true, false, false]);
    keys.publish(a.toUpperCase().replace("0X", "0x"), 2000); // back to a: current again, at any time
    expect([keys.judge(a, 1500).ours, keys.judge(b, 1999).ours, keys.judge(b, 2000).ours]).to.deep.equal([
      true,
      true,
      false,
    ]);
  });

  it("refuses a tree head its key did not sign (WARN) and carries on once the log signs again", async function () {
    log.addCertificate(await der(FOREIGN_KEY, [DOMAIN]));
    const events: CertEvent[] = [];
    const watcher = new CtWatcher({
      log: new CtLog(log.url, parseLogKey(log.publicKey)),
      domain: DOMAIN,
      keys: new TlsKeyTimeline(APP_KEY.spkiSha256),
      batch: 16,
      start: 0,
      onEvent: async (event) => void events.push(event),
    });
    log.forgeTreeHeads(true);
    expect((await watcher.pass()).problem).to.match(
      /tree head of 1 entries is not the log's: the signature does not verify/,
    );
    expect((await watcher.pass()).problem).to.be.a("string"); // still refused, reported once
    expect([watcher.position, watcher.verified]).to.deep.equal([0, undefined]);
    log.forgeTreeHeads(false);
    expect(await watcher.pass()).to.deep.equal({ treeSize: 1, read: 1 });
    expect(events.map((e) => [e.severity, e.check ?? null, e.index])).to.deep.equal([
      ["warn", "signature", 0],
      ["urgent", null, 0],
    ]);

    // Through the task: --once reports it and fails, and the cursor stays.
    log.forgeTreeHeads(true);
    const run = await watch({ json: true });
    expect(run.result.success).to.equal(false);
    expect(JSON.parse(run.stdout)).to.include({ severity: "warn", check: "signature" });
    expect(run.stderr).to.contain("the log failed a check");
    const wrongKey = await watch({ logKey: (await startCtStandInKey()).publicKey });
    expect(wrongKey.result.success).to.equal(false);
  });

  it("refuses a log that rewrote its history (URGENT), also across restarts through the cursor, without moving on", async function () {
    log.addCertificate(await der(APP_KEY, [DOMAIN]));
    log.addCertificate(await der(APP_KEY, ["filler.example"]));
    const cursorFile = path.join(dir, "cursor.json");
    const first = await watch({ cursorFile });
    expect(first.result.success, first.stderr).to.equal(true);
    const saved = JSON.parse(await readFile(cursorFile, "utf8"));
    expect(saved).to.deep.include({ next: 2, source: "log" });
    expect(saved.sth.treeSize).to.equal(2);

    // The log swaps entry 0 for a foreign certificate and appends: its new tree does not extend the one it signed.
    log.rewrite(0, await der(FOREIGN_KEY, [DOMAIN]));
    log.addCertificate(await der(FOREIGN_KEY, [DOMAIN]));
    const second = await watch({ cursorFile, json: true });
    expect(second.result.success).to.equal(false);
    const [event] = second.stdout.split("\n").map((line) => JSON.parse(line) as CertEvent);
    expect(event).to.include({ severity: "urgent", check: "consistency", index: 2 });
    expect(event!.reason).to.match(
      /does not extend the one it signed before .*not consistent with the verified one of 2/,
    );
    expect(JSON.parse(await readFile(cursorFile, "utf8"))).to.deep.equal(saved);
  });

  it("reports an entry for the domain that the log does not prove in its tree as WARN, not as a certificate", async function () {
    log.addCertificate(await der(FOREIGN_KEY, [DOMAIN]));
    log.addCertificate(await der(FOREIGN_KEY, ["filler.example"]));
    log.breakInclusionProofs(true);
    const run = await watch({ json: true });
    expect(run.result.success, run.stderr).to.equal(true);
    const [event] = run.stdout.split("\n").map((line) => JSON.parse(line) as CertEvent);
    expect(event).to.include({ severity: "warn", check: "inclusion", index: 0 });
    expect(event!.reason).to.match(/does not prove it is in its signed tree .*does not lead to the tree head's root/);
  });

  describe("--source crtsh: a search API", function () {
    it("downloads every listed certificate and judges it, not the row; resumes from its cursor at the next id", async function () {
      const search = await startCrtshStandIn();
      try {
        search.addCertificate(await der(APP_KEY, [DOMAIN]), [DOMAIN]);
        search.addCertificate(await der(FOREIGN_KEY, [`api.${DOMAIN}`]), [`api.${DOMAIN}`]);
        // The index lists it for the domain, but the certificate names another: the row's claim is not believed.
        search.addCertificate(await der(FOREIGN_KEY, ["other.example"]), [DOMAIN]);
        search.addCertificate(await der(FOREIGN_KEY, ["other.example"]), ["other.example"]); // not listed for it
        search.addCertificate(await der(FOREIGN_KEY, ["*.example"]), ["*.example"]); // the parent's wildcard covers it
        const cursorFile = path.join(dir, "crtsh.json");
        const run = await watch({ source: "crtsh", log: search.url, logKey: undefined, cursorFile, json: true });
        expect(run.result.success, run.stderr).to.equal(true);
        const events = run.stdout.split("\n").map((line) => JSON.parse(line) as CertEvent);
        expect(events.map((e) => [e.index, e.severity])).to.deep.equal([
          [1000, "info"],
          [1001, "urgent"],
          [1002, "refused"],
          [1004, "urgent"],
        ]);
        expect(events[1]!.reason).to.contain("listed by a search API: its claim, not a log's proof");
        expect(events[2]!.reason).to.contain("listed for app.example, but the certificate does not name it");
        expect(JSON.parse(await readFile(cursorFile, "utf8"))).to.include({ source: "crtsh", next: 1005 });

        search.addCertificate(await der(FOREIGN_KEY, [DOMAIN]), [DOMAIN]);
        const again = await watch({ source: "crtsh", log: search.url, logKey: undefined, cursorFile });
        expect((again.result as { value: WatchCertsResult }).value.events.map((e) => e.index)).to.deep.equal([1005]);
        // A log's cursor is not a search API's.
        const wrong = await watch({ log: search.url, cursorFile });
        expect(wrong.errorMessage).to.contain("is for crtsh");
      } finally {
        await search.close();
      }
    });

    it("refuses hostile rows and certificates one by one, and a huge answer, without moving past what it could not read", async function () {
      const search = await startCrtshStandIn();
      try {
        search.addRaw({ id: "1" }); // no usable id: skipped, counted
        search.addRaw(null);
        search.addRaw({ id: 10, entry_timestamp: "yesterday" }, "not a certificate");
        search.addRaw({ id: 11 }, "A".repeat(60_000)); // larger than --max-response-bytes
        search.addRaw({ id: 12 }); // listed, but its certificate is not served
        search.addRaw({ id: 13 }, await der(FOREIGN_KEY, [DOMAIN])); // DER, no timestamp: notBefore counts
        const run = await watch({
          source: "crtsh",
          log: search.url,
          logKey: undefined,
          json: true,
          maxResponseBytes: 50_000,
        });
        expect(run.result.success, run.stderr).to.equal(true);
        const events = run.stdout.split("\n").map((line) => JSON.parse(line) as CertEvent);
        expect(events.map((e) => [e.index, e.severity])).to.deep.equal([
          [10, "refused"],
          [11, "refused"],
          [12, "refused"],
          [13, "urgent"],
        ]);
        expect(events[1]!.reason).to.contain("more than 50000 bytes");
        expect(events[2]!.reason).to.contain("answered HTTP 404");
        expect(run.stderr).to.contain("6 row(s) of the search without a usable id were skipped"); // 2 rows × 3 searches

        for (let i = 0; i < 400; i += 1) search.addRaw({ id: 100 + i, name_value: "x".repeat(200) });
        const huge = await watch({ source: "crtsh", log: search.url, logKey: undefined, maxResponseBytes: 50_000 });
        expect(huge.result.success).to.equal(false);
        expect(huge.stderr).to.match(/pass failed: .* answered more than 50000 bytes/);
      } finally {
        await search.close();
      }
    });
  });

  it("refuses bad options", async function () {
    for (const [extra, message] of [
      [{ domain: "not a domain" }, "--domain"],
      [{ tlsKey: "0x12" }, "--tls-key"],
      [{ log: "ftp://x" }, "--log"],
      [{ tlsKey: undefined }, "--tls-key is required"],
      [{ logKey: undefined }, "--log-key is required"],
      [{ logKey: "bm90IGEga2V5" }, "--log-key"],
      [{ source: "crtsh" }, "--log-key is for --source log"],
      [{ source: "ledger" }, "--source"],
      [{ confirmations: 0 }, "--confirmations"],
    ] as const) {
      const run = await watch(extra);
      expect(run.errorMessage).to.contain(message);
    }
  });
});
