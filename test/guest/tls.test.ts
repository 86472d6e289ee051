import { createServer } from "node:http";
import type { Server } from "node:http";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";
import { pino } from "pino";

import { TLS_FILES, TlsLoop, secretFromFile } from "../../guest/src/tls.js";
import type { TlsLoopOptions } from "../../guest/src/tls.js";
import { replayRtmr } from "../../lib/replication/index.js";
import {
  certificateFacts,
  deriveTlsKey,
  parseTlsAttestation,
  quoteBindsTlsKey,
  splitPem,
} from "../../lib/tls/index.js";
import type { AcmeOptions } from "../../lib/tls/index.js";
import { writeFileAtomic } from "../../guest/src/store.js";
import { freePort, pebbleInstalled, startChallTestSrv, startPebble, writeChallTestSrvHook } from "../helpers/pebble.js";
import { loadTdxFixture, standInQuote, standInRuntimeEvents } from "../helpers/tee-stand-in.js";

const APP = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const COMPOSE_HASH = `0x${"ab".repeat(32)}`;
const SECRET = new Uint8Array(32).fill(0x42);
const silent = pino({ level: "silent" });

/** dstack's GetQuote, as the TEE stand-in answers it: the fixture quote with report_data and RTMR3 patched in. */
async function standInGuest() {
  const { quote: template } = await loadTdxFixture();
  const events = standInRuntimeEvents(APP, COMPOSE_HASH, Wallet.createRandom().address);
  return {
    getQuote: async (reportData: Uint8Array) => ({
      quote: Buffer.from(standInQuote(template, reportData, replayRtmr(events))).toString("hex"),
      event_log: JSON.stringify(events),
    }),
  };
}

describe("guest agent: the app's TLS identity", function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "devproof-tls-"));
    dirs.push(dir);
    return dir;
  };
  after(async () => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

  async function member(secretFile: string, extra: Partial<TlsLoopOptions> = {}) {
    const dir = await tempDir();
    const loop = new TlsLoop(
      { dir, domains: ["localhost"], intervalMs: 1000, ...extra },
      { secret: secretFromFile(secretFile), guest: await standInGuest(), logger: silent },
    );
    await loop.init();
    return { loop, dir };
  }

  it("waits for the secret, then two members derive the same key, write it 0600, and serve a quote binding it", async function () {
    const secrets = await tempDir();
    const fileA = path.join(secrets, "a");
    const fileB = path.join(secrets, "b");
    const a = await member(fileA);
    const b = await member(fileB);
    await a.loop.pass();
    expect(a.loop.status()).to.include({ state: "waiting for the replicated secret", spkiSha256: null });
    expect(await a.loop.serve("/attestation")).to.equal(undefined);

    await writeFileAtomic(fileA, SECRET, { mode: 0o600 });
    await writeFileAtomic(fileB, SECRET, { mode: 0o600 });
    await a.loop.pass();
    await b.loop.pass();
    const expected = deriveTlsKey(SECRET).spkiSha256;
    for (const { loop, dir } of [a, b]) {
      expect(loop.status()["spkiSha256"]).to.equal(expected);
      expect((await stat(path.join(dir, TLS_FILES.key))).mode & 0o777).to.equal(0o600);
      expect((await stat(dir)).mode & 0o777).to.equal(0o700);
      const served = await loop.serve("/attestation");
      const doc = parseTlsAttestation(served!.body);
      expect(doc.spkiSha256).to.equal(expected);
      expect(quoteBindsTlsKey(doc.quote, expected)).to.equal(true);
      const chain = await readFile(path.join(dir, TLS_FILES.fullchain), "utf8");
      const facts = certificateFacts(splitPem(chain)[0]!);
      expect(facts.spkiSha256).to.equal(expected);
      expect(facts.issuer).to.equal(facts.subject); // self-signed without ACME
    }
  });

  it("renews a self-signed certificate once a third of its lifetime is left, with the same key", async function () {
    const secrets = await tempDir();
    await writeFileAtomic(path.join(secrets, "s"), SECRET, { mode: 0o600 });
    let now = new Date("2030-01-01T00:00:00Z");
    const { loop, dir } = await member(path.join(secrets, "s"), { now: () => now });
    await loop.pass();
    const first = certificateFacts(await readFile(path.join(dir, TLS_FILES.fullchain), "utf8"));
    now = new Date(now.getTime() + 59 * 86_400_000);
    await loop.pass();
    expect(certificateFacts(await readFile(path.join(dir, TLS_FILES.fullchain), "utf8")).serialNumber).to.equal(
      first.serialNumber,
    );
    now = new Date(now.getTime() + 2 * 86_400_000);
    await loop.pass();
    const second = certificateFacts(await readFile(path.join(dir, TLS_FILES.fullchain), "utf8"));
    expect(second.serialNumber).to.not.equal(first.serialNumber);
    expect(second.spkiSha256).to.equal(first.spkiSha256);
  });

  describe("ACME against pebble", function () {
    let pebble: Awaited<ReturnType<typeof startPebble>> | undefined;
    let challengeServer: Server | undefined;
    let loops: TlsLoop[] = [];

    before(async function () {
      if (!pebbleInstalled()) {
        if (process.env["CI"] === "true") throw new Error("pebble is not installed: .ci/run installs it for CI");
        console.log("    (skipped: pebble is not installed; `apt-get install pebble`, as .ci/run does)");
        this.skip();
      }
    });
    afterEach(async function () {
      await pebble?.stop();
      await new Promise<void>((resolve) => (challengeServer ? challengeServer.close(() => resolve()) : resolve()));
      pebble = undefined;
      challengeServer = undefined;
      loops = [];
    });

    it("issues a certificate for the derived key, answering HTTP-01 from the agent, and renews it before expiry", async function () {
      const httpPort = await freePort();
      // The agent's status server, which serves every loop's documents; only the TLS loop's matter here.
      challengeServer = createServer((req, res) => {
        const paths = loops.map((loop) => loop.serve(req.url ?? "/"));
        void Promise.all(paths).then((docs) => {
          const doc = docs.find((d) => d !== undefined);
          res.writeHead(doc === undefined ? 404 : 200, { "content-type": doc?.contentType ?? "text/plain" });
          res.end(doc?.body ?? "not found");
        });
      });
      await new Promise<void>((resolve) => challengeServer!.listen(httpPort, "127.0.0.1", resolve));
      pebble = await startPebble(httpPort);
      const acme: AcmeOptions = {
        directoryUrl: pebble.directoryUrl,
        domains: ["localhost"],
        directoryCa: pebble.ca,
        challengePort: httpPort,
      };
      const secrets = await tempDir();
      await writeFileAtomic(path.join(secrets, "s"), SECRET, { mode: 0o600 });
      let now = new Date();
      const { loop, dir } = await member(path.join(secrets, "s"), { acme, now: () => now });
      loops.push(loop);

      const started = Date.now();
      await loop.pass();
      const issuedMs = Date.now() - started;
      const chain = splitPem(await readFile(path.join(dir, TLS_FILES.fullchain), "utf8"));
      const leaf = certificateFacts(chain[0]!);
      expect(leaf.spkiSha256).to.equal(deriveTlsKey(SECRET).spkiSha256);
      expect(leaf.issuer).to.not.equal(leaf.subject);
      expect(leaf.dnsNames).to.deep.equal(["localhost"]);
      expect(loop.status()["certificate"]).to.include({ kind: "acme", reason: "no certificate yet" });

      // Still fresh: nothing is ordered. Then move the clock to the last third of its lifetime: renewed.
      await loop.pass();
      expect(
        certificateFacts(splitPem(await readFile(path.join(dir, TLS_FILES.fullchain), "utf8"))[0]!).serialNumber,
      ).to.equal(leaf.serialNumber);
      const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
      now = new Date(leaf.notAfter.getTime() - lifetime / 4);
      await loop.pass();
      const renewed = certificateFacts(splitPem(await readFile(path.join(dir, TLS_FILES.fullchain), "utf8"))[0]!);
      expect(renewed.serialNumber).to.not.equal(leaf.serialNumber);
      expect(renewed.spkiSha256).to.equal(leaf.spkiSha256);
      expect(loop.status()["certificate"])
        .to.have.property("reason")
        .that.match(/third of its lifetime/);
      console.log(`      (pebble issuance took ${issuedMs} ms)`);
    });

    /** A DNS-01 hook as an operator writes one for their provider; here the provider is pebble-challtestsrv. */
    const writeDnsHook = async (managementUrl: string, exitCode = 0) =>
      writeChallTestSrvHook(await tempDir(), managementUrl, exitCode);

    it("issues and renews a certificate for the derived key answering DNS-01 through the hook, which sets and then clears the TXT record", async function () {
      const dns = await startChallTestSrv();
      try {
        pebble = await startPebble(await freePort(), { dnsServer: dns.dnsServer });
        const { hook, calls } = await writeDnsHook(dns.managementUrl);
        const domains = ["dns01.devproof.test", "*.dns01.devproof.test"];
        const secrets = await tempDir();
        await writeFileAtomic(path.join(secrets, "s"), SECRET, { mode: 0o600 });
        let now = new Date();
        const { loop, dir } = await member(path.join(secrets, "s"), {
          domains,
          now: () => now,
          acme: {
            directoryUrl: pebble.directoryUrl,
            domains,
            directoryCa: pebble.ca,
            challenge: "dns-01",
            dnsHook: hook,
          },
        });
        const started = Date.now();
        await loop.pass();
        const issuedMs = Date.now() - started;
        const leaf = certificateFacts(splitPem(await readFile(path.join(dir, TLS_FILES.fullchain), "utf8"))[0]!);
        expect(leaf.spkiSha256).to.equal(deriveTlsKey(SECRET).spkiSha256);
        expect(leaf.issuer).to.not.equal(leaf.subject);
        expect([...leaf.dnsNames].sort()).to.deep.equal([...domains].sort());
        // Both names are answered at the same record (RFC 8555 §8.4), each set before the check and cleared after.
        const log = (await readFile(calls, "utf8")).trim().split("\n").sort();
        expect(log).to.deep.equal([
          "cleanup _acme-challenge.dns01.devproof.test. 43",
          "cleanup _acme-challenge.dns01.devproof.test. 43",
          "present _acme-challenge.dns01.devproof.test. 43",
          "present _acme-challenge.dns01.devproof.test. 43",
        ]);

        // In the last third of its lifetime: renewed through the hook again, for the same key.
        const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
        now = new Date(leaf.notAfter.getTime() - lifetime / 4);
        await loop.pass();
        const renewed = certificateFacts(splitPem(await readFile(path.join(dir, TLS_FILES.fullchain), "utf8"))[0]!);
        expect(renewed.serialNumber).to.not.equal(leaf.serialNumber);
        expect(renewed.spkiSha256).to.equal(leaf.spkiSha256);
        expect((await readFile(calls, "utf8")).trim().split("\n")).to.have.length(8);
        console.log(`      (pebble issuance with DNS-01 took ${issuedMs} ms)`);
      } finally {
        await dns.stop();
      }
    });

    it("fails the order with the hook's own words when the hook fails, and writes no certificate", async function () {
      const dns = await startChallTestSrv();
      try {
        pebble = await startPebble(await freePort(), { dnsServer: dns.dnsServer });
        const { hook } = await writeDnsHook(dns.managementUrl, 3);
        const domains = ["refused.devproof.test"];
        const secrets = await tempDir();
        await writeFileAtomic(path.join(secrets, "s"), SECRET, { mode: 0o600 });
        const { loop, dir } = await member(path.join(secrets, "s"), {
          domains,
          acme: {
            directoryUrl: pebble.directoryUrl,
            domains,
            directoryCa: pebble.ca,
            challenge: "dns-01",
            dnsHook: hook,
          },
        });
        let failure: Error | undefined;
        await loop.pass().catch((error: Error) => (failure = error));
        expect(failure?.message).to.match(
          /the DNS hook .*dns-hook\.mjs present _acme-challenge\.refused\.devproof\.test\. exited with 3: the provider refused the token/,
        );
        expect(await readFile(path.join(dir, TLS_FILES.fullchain), "utf8").catch(() => "none")).to.equal("none");
      } finally {
        await dns.stop();
      }
    });
  });
});
