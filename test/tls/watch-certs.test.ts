import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";

import type { WatchCertsResult } from "../../tasks/watch-certs.js";
import { deriveTlsKey } from "../../lib/tls/index.js";
import type { CertEvent } from "../../lib/tls/index.js";
import { certificateDer as der, startCtStandIn, type CtStandIn } from "../helpers/ct-stand-in.js";
import { startWebhookReceiver } from "../helpers/webhook.js";
import { ethers, networkHelpers, runTask } from "../tasks/helpers.js";
import { deployRegistry, registerArgs, signedRegistration, testNode } from "../helpers/replication.js";
import { signTlsKey } from "../../lib/replication/index.js";

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

    log.addCertificate(await der(FOREIGN_KEY, [`www.${DOMAIN}`]));
    const again = await watch({ cursorFile });
    expect(again.result.success).to.equal(true);
    expect((again.result as { value: WatchCertsResult }).value.events.map((e) => e.index)).to.deep.equal([10]);
    expect(again.stdout).to.match(/URGENT entry 10: x509 for www\.app\.example/);
  });

  it("refuses hostile entries one by one, including one too large to read, and still flags what follows", async function () {
    log.addRaw({ leaf_input: "not base64!" });
    log.addRaw({ leaf_input: Buffer.from([0, 0, 1, 2]).toString("base64") }); // truncated
    log.addRaw({ leaf_input: Buffer.alloc(20, 0).fill(9, 10, 12).toString("base64") }); // unknown entry type
    log.addRaw(null);
    log.addRaw({ leaf_input: Buffer.alloc(12 + 3 + 50).toString("base64") }); // an x509 entry that is no certificate
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
      [5, "refused"],
      [6, "urgent"],
    ]);
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

  it("refuses bad options", async function () {
    for (const [extra, message] of [
      [{ domain: "not a domain" }, "--domain"],
      [{ tlsKey: "0x12" }, "--tls-key"],
      [{ log: "ftp://x" }, "--log"],
      [{ tlsKey: undefined }, "--tls-key is required"],
    ] as const) {
      const run = await watch(extra);
      expect(run.errorMessage).to.contain(message);
    }
  });
});
