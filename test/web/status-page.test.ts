/**
 * The status page end to end, in headless Chromium: a `hardhat node` on a free port, apps deployed to it, the page
 * served as `status-page` serves it. One app goes through a proposal, its countdown and its activation; a busy one
 * (a long history, five open proposals, a pending owner) is read on a 390 px phone and a 1280 px desktop, where
 * nothing may be wider than the screen. Hostile logs (registrations that are not UTF-8, an owner's URI that is not)
 * are listed as refused while the page goes on. Screenshots go to test-results/. Without Chromium it skips with one
 * line.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";
import { AbiCoder, id, JsonRpcProvider, type JsonRpcSigner } from "ethers";
import { chromium, type BrowserContext, type Page } from "playwright-core";

import { registerArguments, registryDomain, signTlsKey } from "../../lib/replication/index.js";
import { CertFeed, CtLog, CtWatcher, TlsKeyTimeline, deriveTlsKey, parseLogKey } from "../../lib/tls/index.js";
import {
  KmsStandIn__factory,
  ReplicationRegistry__factory,
  TimelockedAppAuth__factory,
  type TimelockedAppAuth,
} from "../../types/ethers-contracts/index.js";
import { buildStatusPage } from "../../web/build.js";
import { serveStatusPage, type LocalServer } from "../../web/server.js";
import { startHardhatNode, type HardhatNode } from "../helpers/cli.js";
import { certificateDer, startCtStandIn } from "../helpers/ct-stand-in.js";
import { NOT_UTF8, TERMINAL_ESCAPES, registerHostile } from "../helpers/poison.js";
import { deployKmsFrom, signedRegistration, testNode } from "../helpers/replication.js";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const RESULTS = path.resolve("test-results");
const NOTICE = 7 * 24 * 3600;
const V1 = `0x${"11".repeat(32)}`;
const V2 = `0x${"22".repeat(32)}`;
const DEVICE = `0x${"a1".repeat(32)}`;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 1000 };
/** An app with release V1 and one device, and `notice` seconds of notice (7 days: Stage 1). */
async function deployApp(
  owner: JsonRpcSigner,
  notice = NOTICE,
  options: { requireTcbUpToDate?: boolean } = {},
): Promise<TimelockedAppAuth> {
  const appAuth = await new TimelockedAppAuth__factory(owner).deploy(
    await owner.getAddress(),
    notice,
    V1,
    "https://example.org/releases/v1/app-compose.json",
    [DEVICE],
    false,
    options.requireTcbUpToDate ?? true,
  );
  await appAuth.waitForDeployment();
  return appAuth;
}

const releaseHash = (n: number) => id(`release ${n}`);
const deviceId = (n: number) => id(`device ${n}`);
/** A long URI without spaces, as real ones are: it must wrap, not widen the page. */
const releaseUri = (n: number) =>
  `https://releases.example.org/acme-wallet/v${n}.0.0/app-compose.json?sha256=${releaseHash(n).slice(2)}`;

/**
 * An app with a long history and five open proposals: five releases proposed and activated, a device proposed and
 * withdrawn, a hash removed, an ownership transfer under way; then a release whose notice has passed (ready) and four
 * changes that wait.
 */
async function deployBusyApp(provider: JsonRpcProvider, owner: JsonRpcSigner, stranger: JsonRpcSigner) {
  const appAuth = await new TimelockedAppAuth__factory(owner).deploy(
    await owner.getAddress(),
    NOTICE,
    releaseHash(1),
    releaseUri(1),
    [deviceId(1), deviceId(2)],
    false,
    true,
  );
  await appAuth.waitForDeployment();
  const send = async (tx: Promise<{ wait(): Promise<unknown> }>) => void (await (await tx).wait());
  const waitNotice = async () => {
    await provider.send("evm_increaseTime", [NOTICE]);
    await provider.send("evm_mine", []);
  };
  for (let n = 2; n <= 6; n++) {
    await send(appAuth.proposeComposeHash(releaseHash(n), releaseUri(n)));
    await waitNotice();
    await send(appAuth.connect(stranger).activateComposeHash(releaseHash(n)));
  }
  await send(appAuth.proposeDevice(deviceId(3)));
  await send(appAuth.cancelDevice(deviceId(3)));
  await send(appAuth.removeComposeHash(releaseHash(2)));
  await send(appAuth.transferOwnership(await stranger.getAddress()));
  await send(appAuth.proposeComposeHash(releaseHash(7), releaseUri(7)));
  await waitNotice();
  await send(appAuth.proposeDevice(deviceId(4)));
  await send(appAuth.proposeAllowAnyDevice());
  await send(appAuth.proposeAllowOutdatedTcb());
  await send(appAuth.proposeNoticePeriod(3600));
  // Every log is a history row but dstack's audit event, which repeats the dstack event of its change.
  const audit = appAuth.interface.getEvent("PolicyChanged").topicHash;
  const logs = await provider.getLogs({ address: await appAuth.getAddress(), fromBlock: 0 });
  const events = logs.filter((log) => log.topics[0] !== audit).length;
  return { appAuth, events };
}

/** WCAG 2 contrast ratio of two CSS `rgb()`/`rgba()` colours (opaque ones: the page paints no translucent text). */
function contrast(foreground: string, background: string): number {
  const luminance = (color: string) => {
    const [r, g, b] = (color.match(/[\d.]+/g) ?? []).slice(0, 3).map((part) => {
      const c = Number(part) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (b ?? 0);
  };
  const [dark, light] = [luminance(foreground), luminance(background)].sort((a, b) => a - b);
  return ((light ?? 0) + 0.05) / ((dark ?? 0) + 0.05);
}

/*
 * Functions that run in the page reach the browser through their argument (`root.ownerDocument.defaultView` is the
 * window): this project is type-checked without the DOM's types, which only web/ has.
 */

/** The colour, text and backdrop of each element matching `selector`: its own background or its nearest ancestor's. */
async function colorsOf(page: Page, selector: string) {
  return page.$$eval(selector, (elements) =>
    elements.map((element) => {
      const view = element.ownerDocument.defaultView;
      let backdrop = element;
      let background = "rgba(0, 0, 0, 0)";
      while (backdrop !== null) {
        background = view.getComputedStyle(backdrop).backgroundColor;
        if (!/^rgba\(.*, 0\)$/.test(background)) break;
        backdrop = backdrop.parentElement;
      }
      return { text: String(element.textContent), color: String(view.getComputedStyle(element).color), background };
    }),
  );
}

/** The page's width, the window's size, the badge's box, and every element that reaches past the right edge. */
async function layoutOf(page: Page) {
  return page.$eval("html", (root) => {
    const view = root.ownerDocument.defaultView;
    const badge = root.querySelector("#stage").getBoundingClientRect();
    return {
      scrollWidth: Number(root.scrollWidth),
      innerWidth: Number(view.innerWidth),
      innerHeight: Number(view.innerHeight),
      badge: {
        left: Number(badge.left),
        right: Number(badge.right),
        top: Number(badge.top),
        bottom: Number(badge.bottom),
      },
      pastRightEdge: [...root.querySelectorAll("body *")]
        .filter((element) => element.getBoundingClientRect().right > view.innerWidth + 0.5)
        .map((element) => `${String(element.tagName).toLowerCase()}.${String(element.className)}`),
    };
  });
}

describe("status page (headless Chromium)", function () {
  this.timeout(120_000);

  let node: HardhatNode | undefined;
  let provider: JsonRpcProvider;
  let owner: JsonRpcSigner;
  let stranger: JsonRpcSigner;
  let server: LocalServer | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  /** The pages a test opened, closed after it. */
  const pages: Page[] = [];
  /** Errors the open pages raised, and what the console reported as errors (a CSP violation shows there). */
  const errors: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(
        `    status page browser test skipped: no Chromium at ${CHROMIUM} ` +
          "(install it with `apt-get install -y chromium`, or set CHROMIUM_PATH)",
      );
      this.skip();
    }
    node = await startHardhatNode();
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, polling: false });
    owner = await provider.getSigner(0);
    stranger = await provider.getSigner(1);
    server = await serveStatusPage(await buildStatusPage(), 0);
    profile = await mkdtemp(path.join(tmpdir(), "status-page-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: DESKTOP,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    await mkdir(RESULTS, { recursive: true });
  });

  afterEach(async function () {
    await Promise.all(pages.splice(0).map((page) => page.close()));
    expect(errors.splice(0)).to.deep.equal([]);
  });

  after(async function () {
    await context?.close();
    await server?.close();
    await node?.stop();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
  });

  /** Opens the page for `app` in a new tab of `viewport`'s size and waits for its first read of the chain. */
  async function openPage(
    app: string,
    viewport: { width: number; height: number },
    extra: Record<string, string> = {},
  ): Promise<Page> {
    if (context === undefined || server === undefined || node === undefined) throw new Error("not set up");
    const page = await context.newPage();
    pages.push(page);
    await page.setViewportSize(viewport);
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    await page.goto(`${server.url}/?${new URLSearchParams({ rpc: node.url, app, ...extra }).toString()}`);
    await page.waitForSelector("#stage[data-stage]");
    return page;
  }

  /** An app with a registry whose genesis member `label` is registered, as the TLS key's publisher needs. */
  async function deployAppWithGenesis(label: string) {
    const app = await (await deployApp(owner)).getAddress();
    const kms = await deployKmsFrom(owner);
    const registry = await new ReplicationRegistry__factory(owner).deploy(app, await kms.getAddress());
    await registry.waitForDeployment();
    const registryAddress = await registry.getAddress();
    const { chainId } = await provider.getNetwork();
    const domain = registryDomain(chainId, registryAddress);
    const genesis = testNode(label);
    const signed = await signedRegistration(domain, genesis, app, { boot: { composeHash: V1, deviceId: DEVICE } });
    await (await registry.connect(stranger).register(...registerArguments(signed))).wait();
    await (await registry.setGenesis(genesis.address)).wait();
    return { app, registry, registryAddress, domain, genesis };
  }

  it("shows a proposal with a live countdown, then its activation after the notice", async function () {
    const appAuth = await deployApp(owner);
    const page = await openPage(await appAuth.getAddress(), DESKTOP);

    await page.waitForSelector("#no-proposals");
    expect(await page.textContent("#stage")).to.equal("✓ Stage 1 · DevProof");
    expect(await page.textContent("#release-hash")).to.equal(V1);
    expect(await page.textContent('#report li[data-id="notice.stage1"]')).to.contain("PASS");
    expect(await page.getAttribute("#older-releases", "data-count")).to.equal("0");

    // The owner proposes v2: the page shows it, with a countdown that runs.
    await (await appAuth.proposeComposeHash(V2, "https://example.org/releases/v2/app-compose.json")).wait();
    const countdown = page.locator(".proposal [data-countdown]");
    await countdown.waitFor();
    expect(await page.textContent(".proposal .state")).to.equal("waiting");
    expect(await page.textContent(".proposal .what")).to.equal(`add compose hash ${V2}`);
    const first = await countdown.textContent();
    expect(first).to.match(/^ready in (7d 00:00:00|6d 23:59:\d\d)$/);
    // It runs: within a few seconds it shows another second (polled from here: the page's CSP forbids eval).
    const deadline = Date.now() + 5_000;
    while ((await countdown.textContent()) === first && Date.now() < deadline) await page.waitForTimeout(200);
    expect(await countdown.textContent()).to.not.equal(first);
    expect(await page.textContent("#report")).to.contain(`pending widening change: add compose hash ${V2}`);
    await page.screenshot({ path: path.join(RESULTS, "status-page-proposal.png"), fullPage: true });

    // Seven days pass; a stranger activates it: the page shows the activation and the new release.
    await provider.send("evm_increaseTime", [NOTICE]);
    await provider.send("evm_mine", []);
    await (await appAuth.connect(stranger).activateComposeHash(V2)).wait();
    await page.waitForSelector('#history tr[data-event="ChangeActivated"]', { timeout: 15_000 });
    await page.waitForSelector("#no-proposals");
    expect(await page.textContent("#release-hash")).to.equal(V2);
    expect(await page.textContent('#history tr[data-event="ChangeActivated"] .details')).to.equal(
      `activated: add compose hash ${V2} (by ${await stranger.getAddress()})`,
    );
    // v1 is still allowed: the page lists it as a release the owner could roll back to, and the report warns.
    await page.waitForSelector('#older-releases[data-count="1"]', { timeout: 15_000 });
    expect(await page.textContent("#older-releases")).to.contain("the owner can roll back to any of these at once");
    expect(await page.textContent('#report li[data-id="release.downgrade"]')).to.contain("WARN");
    await page.screenshot({ path: path.join(RESULTS, "status-page.png"), fullPage: true });
  });

  it("grades nothing at an address that is not an AppAuth, and says why", async function () {
    const eoa = await openPage(await stranger.getAddress(), PHONE);
    expect(await eoa.textContent("#stage")).to.equal("? not an AppAuth");
    expect(await eoa.textContent("#banner")).to.match(/^Nothing to grade: there is no contract at 0x/);
    expect(await eoa.textContent("#report")).to.not.contain("Stage 0");

    const kms = await new KmsStandIn__factory(owner).deploy(await owner.getAddress());
    await kms.waitForDeployment();
    const page = await openPage(await kms.getAddress(), DESKTOP);
    expect(await page.textContent("#stage")).to.equal("? not an AppAuth");
    expect(await page.textContent("#banner")).to.contain("is a dstack KMS");
  });

  it("colours the stage badge and the report's levels by meaning, says it in words, with contrast of 4.5:1 or more", async function () {
    const deploy = async (notice: number) => (await deployApp(owner, notice)).getAddress();
    const stages = [
      { app: await deploy(3600), text: "✗ Stage 0 · ruggable", hue: "red", levels: ["✗ FAIL", "✓ PASS", "i INFO"] },
      { app: await deploy(NOTICE), text: "✓ Stage 1 · DevProof", hue: "green", levels: ["! WARN", "✓ PASS", "i INFO"] },
      { app: await deploy(30 * 24 * 3600), text: "✓✓ Stage 2 style · DevProof", hue: "green", levels: ["✓ PASS"] },
    ];
    /** Which of red, green and blue leads in a CSS colour; amber is red ahead of green ahead of blue. */
    const hueOf = (color: string) => {
      const [r = 0, g = 0, b = 0] = (color.match(/\d+/g) ?? []).map(Number);
      if (r > g && g > b && g > r / 4) return "amber";
      return r > g && r > b ? "red" : g > r && g > b ? "green" : "blue";
    };
    const levelHues: Record<string, string> = { FAIL: "red", WARN: "amber", PASS: "green", INFO: "blue" };
    for (const [stage, expected] of stages.entries()) {
      const page = await openPage(expected.app, PHONE);
      await page.locator("#report li").first().waitFor();
      expect(await page.getAttribute("#stage", "data-stage")).to.equal(String(stage));
      const [badge] = await colorsOf(page, "#stage");
      if (badge === undefined) throw new Error("no badge");
      expect(badge.text).to.equal(expected.text);
      expect(hueOf(badge.background), badge.background).to.equal(expected.hue);

      const levels = await colorsOf(page, "#report .level");
      expect(levels.map((level) => level.text)).to.include.members(expected.levels);
      for (const level of levels) {
        expect(hueOf(level.background), level.text).to.equal(levelHues[level.text.split(" ")[1] ?? ""]);
      }
      for (const element of [badge, ...levels, ...(await colorsOf(page, ".proposal .state, .muted, button.copy"))]) {
        const ratio = contrast(element.color, element.background);
        expect(ratio, `"${element.text}": ${element.color} on ${element.background}`).to.be.at.least(4.5);
      }
    }
  });

  it("keeps following the chain past hostile logs: lists them as refused, and shows a hostile URI as text", async function () {
    // A policy that accepts an out-of-date TCB (so a tcbStatus that is not "UpToDate" registers), and its registry.
    const appAuth = await deployApp(owner, NOTICE, { requireTcbUpToDate: false });
    const app = await appAuth.getAddress();
    const kms = await deployKmsFrom(owner);
    const registry = await new ReplicationRegistry__factory(owner).deploy(app, await kms.getAddress());
    await registry.waitForDeployment();
    const registryAddress = await registry.getAddress();
    const page = await openPage(app, DESKTOP, { registry: registryAddress });
    await page.waitForSelector("#no-proposals");

    // Nodes with KMS-issued keys register with strings that are not UTF-8, or that hold terminal escapes; then an
    // honest node registers.
    const poisonBlock = await registerHostile(registryAddress, stranger, testNode("page poison"), {
      appId: app,
      composeHash: V1,
      deviceId: DEVICE,
      tcbStatus: NOT_UTF8,
      advisoryIds: [NOT_UTF8],
    });
    await registerHostile(registryAddress, stranger, testNode("page escapes"), {
      appId: app,
      composeHash: V1,
      deviceId: DEVICE,
      tcbStatus: TERMINAL_ESCAPES,
      advisoryIds: [],
    });
    const { chainId } = await provider.getNetwork();
    const honest = await signedRegistration(registryDomain(chainId, registryAddress), testNode("page honest"), app, {
      boot: { composeHash: V1, deviceId: DEVICE },
    });
    await (await registry.connect(stranger).register(...registerArguments(honest))).wait();
    // The owner proposes a release whose URI is not UTF-8 and would clear a terminal.
    const uri = Uint8Array.from([...new TextEncoder().encode("https://evil.example/\u202e\u001b[2J"), 0xff]);
    const propose = appAuth.interface.getFunction("proposeComposeHash");
    const data = propose.selector + AbiCoder.defaultAbiCoder().encode(["bytes32", "bytes"], [V2, uri]).slice(2);
    await (await owner.sendTransaction({ to: app, data })).wait();

    // The page goes on: the refused registration is listed with why, the proposal is shown with its URI as text.
    const refused = page.locator(`#refused li[data-block="${poisonBlock}"]`);
    await refused.waitFor({ timeout: 15_000 });
    expect(await refused.textContent()).to.contain(
      `refused event NodeRegistered in block ${poisonBlock}, log 0: bootInfo.tcbStatus is not UTF-8; ` +
        "bootInfo.advisoryIds[0] is not UTF-8",
    );
    await page.locator('#refused li[data-event="ChangeProposed"]').waitFor({ timeout: 15_000 });
    expect(
      await page.locator("#refused li").allTextContents(),
      "the two logs with a string that is not UTF-8, newest first; the escapes alone are not refused",
    ).to.have.length(2);
    expect(await page.textContent('#refused li[data-event="ChangeProposed"]')).to.contain(
      "log 0: uri is not UTF-8; as far as it decodes: widening change proposed: add compose hash",
    );
    await page.locator(".proposal").waitFor({ timeout: 15_000 });
    expect(await page.textContent(".proposal .what")).to.equal(`add compose hash ${V2}`);
    expect(await page.textContent(".proposal code")).to.equal("https://evil.example/\\u{202e}\\x1b[2J\ufffd");
    expect(await page.locator('.proposal a[href^="https://evil"]').count(), "a hostile URI is never a link").to.equal(
      0,
    );
    await page.waitForSelector('#history tr[data-event="ChangeProposed"][data-refused]', { timeout: 15_000 });
    expect(await page.textContent('#history tr[data-event="ChangeProposed"] .details')).to.match(
      /^refused event ChangeProposed in block \d+, log 0: uri is not UTF-8; as far as it decodes: proposed: add compose hash/,
    );
    expect(await page.textContent("#report")).to.contain("the owner published compose URIs that are not UTF-8");
    expect(await page.isHidden("#banner"), "no error banner: the watcher did not stop").to.equal(true);
    await page.screenshot({ path: path.join(RESULTS, "status-page-hostile.png"), fullPage: true });
  });

  it("shows the TLS key the registry publishes, and flags a change after the first publication", async function () {
    const { app, registry, registryAddress, domain, genesis } = await deployAppWithGenesis("page tls genesis");
    const [first, second] = [id("tls key 1"), id("tls key 2")];
    const publish = async (spkiSha256: string, nonce: number) => {
      const signature = await signTlsKey(genesis.wallet, domain, { spkiSha256, nonce });
      await (await registry.connect(stranger).setTlsKey(spkiSha256, signature)).wait();
    };
    await publish(first, 0);

    const page = await openPage(app, DESKTOP, { registry: registryAddress });
    await page.locator("#tls-history li").first().waitFor({ timeout: 15_000 });
    expect(await page.getAttribute("#tls-key", "data-value")).to.equal(first);
    expect(await page.locator("#tls-history li[data-changed]").count()).to.equal(0);

    await publish(second, 1);
    await page.locator("#tls-history li[data-changed]").waitFor({ timeout: 15_000 });
    expect(await page.getAttribute("#tls-key", "data-value")).to.equal(second);
    expect(await page.locator("#tls-history li").count()).to.equal(2);
    expect(await page.textContent("#tls-history li[data-changed]")).to.match(/^#\d+ CHANGED: .* replaces .*verify-app/);
    expect(await page.isHidden("#banner")).to.equal(true);
  });

  it("lists the certificates CT data shows for the domain, flags a foreign key, and stays 390 px wide on a phone", async function () {
    const { app, registry, registryAddress, domain, genesis } = await deployAppWithGenesis("page ct genesis");
    const [appKey, foreignKey] = [deriveTlsKey(new Uint8Array(32).fill(1)), deriveTlsKey(new Uint8Array(32).fill(2))];
    const signature = await signTlsKey(genesis.wallet, domain, { spkiSha256: appKey.spkiSha256, nonce: 0 });
    await (await registry.connect(stranger).setTlsKey(appKey.spkiSha256, signature)).wait();

    // What the status-page task does with --ct-log: follow the log with watch-certs' watcher, serve it as ct.json.
    const log = await startCtStandIn();
    const names = ["app.example", "a-rather-long-subdomain-name-that-must-wrap.app.example"];
    log.addCertificate(await certificateDer(appKey, names));
    log.addCertificate(await certificateDer(foreignKey, names), "precert");
    const keys = new TlsKeyTimeline(appKey.spkiSha256);
    let watcher: CtWatcher | undefined;
    const feed = new CertFeed(
      { source: "log", url: log.url, domain: "app.example" },
      { tlsKey: () => keys.current, next: () => watcher?.position },
    );
    watcher = new CtWatcher({
      log: new CtLog(log.url, parseLogKey(log.publicKey)),
      domain: "app.example",
      keys,
      batch: 16,
      start: 0,
      onEvent: async (event) => feed.record(event),
    });
    feed.passed(await watcher.pass(), new Date());
    const ctServer = await serveStatusPage(await buildStatusPage(), 0, { "/ct.json": () => feed.snapshot() });
    try {
      const page = await context!.newPage();
      pages.push(page);
      await page.setViewportSize(PHONE);
      page.on("pageerror", (error) => errors.push(error.message));
      const query = new URLSearchParams({ rpc: node!.url, app, registry: registryAddress, ct: "1" });
      await page.goto(`${ctServer.url}/?${query.toString()}`);
      await page.locator("#ct-list li").nth(1).waitFor({ timeout: 15_000 });
      expect(await page.textContent("#ct-summary")).to.match(
        /^2 certificate\(s\) for app\.example in the CT log .*; 1 with a FOREIGN key\. Read to entry 2/,
      );
      const items = await page.$$eval("#ct-list li", (elements) =>
        elements.map((element) => [element.getAttribute("data-severity"), element.getAttribute("data-index")]),
      );
      expect(items).to.deep.equal([
        ["urgent", "1"],
        ["info", "0"],
      ]);
      expect(await page.textContent("#ct-list li.urgent")).to.match(/^FOREIGN KEY #1 precert for app\.example, /);
      expect(await page.getAttribute("#ct-list li.urgent .hex", "data-value")).to.equal(foreignKey.spkiSha256);
      expect(await page.getAttribute("#tls-key", "data-value")).to.equal(appKey.spkiSha256);
      await page.screenshot({ path: path.join(RESULTS, "status-page-ct-390px.png"), fullPage: true });
      const layout = await layoutOf(page);
      expect(layout.scrollWidth, `the page is ${layout.scrollWidth} px wide`).to.be.at.most(PHONE.width);
      expect(layout.pastRightEdge).to.deep.equal([]);
    } finally {
      await ctServer.close();
      await log.close();
    }
  });

  describe("a busy app (a long history, five open proposals)", function () {
    let busy: { appAuth: TimelockedAppAuth; events: number };
    let app: string;

    before(async function () {
      busy = await deployBusyApp(provider, owner, stranger);
      app = await busy.appAuth.getAddress();
    });

    /** Opens the busy app and waits until every proposal and every event is on the page. */
    async function openBusyPage(viewport: { width: number; height: number }): Promise<Page> {
      const page = await openPage(app, viewport);
      await page.locator(".proposal").nth(4).waitFor();
      await page
        .locator("#history [data-event]")
        .nth(busy.events - 1)
        .waitFor();
      return page;
    }

    for (const viewport of [PHONE, DESKTOP]) {
      const phone = viewport.width === PHONE.width;
      it(`${viewport.width} px: nothing is wider than the screen, the badge is in view, each proposal has one countdown`, async function () {
        const page = await openBusyPage(viewport);
        await page.screenshot({ path: path.join(RESULTS, `status-page-${viewport.width}px.png`), fullPage: true });
        const layout = await layoutOf(page);
        expect(layout.innerWidth).to.equal(viewport.width);
        expect(layout.scrollWidth, `the page is ${layout.scrollWidth} px wide`).to.be.at.most(layout.innerWidth);
        expect(layout.pastRightEdge).to.deep.equal([]);
        const { badge } = layout;
        expect(badge.left).to.be.at.least(0);
        expect(badge.right).to.be.at.most(layout.innerWidth);
        expect(badge.top).to.be.at.least(0);
        expect(badge.bottom, "the badge is in the first screen").to.be.at.most(layout.innerHeight);

        // Each proposal has exactly one countdown, and nothing else on the page counts down.
        const countdowns = await page.$$eval(".proposal", (elements) =>
          elements.map((element) => Number(element.querySelectorAll("[data-countdown]").length)),
        );
        expect(countdowns).to.deep.equal([1, 1, 1, 1, 1]);
        expect(await page.locator("[data-countdown]").count()).to.equal(5);

        // Every long value: the full value in its text and title; its middle hidden on the phone, shown on a desktop.
        const values = await page.$$eval(".hex", (elements) =>
          elements.map((element) => ({
            value: element.getAttribute("data-value"),
            title: element.getAttribute("title"),
            text: element.textContent,
            middleShown: (element.querySelector(".hex-middle")?.getClientRects().length ?? 0) > 0,
            copies: element.querySelector("button.copy")?.getAttribute("data-copy"),
          })),
        );
        expect(values.length).to.be.greaterThan(busy.events);
        for (const value of values) {
          expect(value.value).to.match(/^0x[0-9a-fA-F]{40,}$/);
          expect([value.title, value.text, value.copies]).to.deep.equal([value.value, value.value, value.value]);
          expect(value.middleShown, `${value.value} shown in full`).to.equal(!phone);
        }

        // The history: every event, its words under its time and name on a phone, beside them on a desktop.
        // (No named function inside: the test's TypeScript loader would wrap it in a helper the page does not have.)
        const rows = await page.$$eval("#history tr", (elements) =>
          elements.map((row) => ({
            row: row.getBoundingClientRect().toJSON() as { width: number },
            event: row.querySelector(".event").getBoundingClientRect().toJSON() as { right: number; bottom: number },
            details: row.querySelector(".details").getBoundingClientRect().toJSON() as {
              left: number;
              top: number;
              width: number;
            },
          })),
        );
        expect(rows).to.have.length(busy.events);
        for (const { row, event, details } of rows) {
          if (phone) {
            expect(details.top).to.be.at.least(event.bottom - 0.5);
            expect(details.width).to.be.at.least(row.width * 0.9);
          } else {
            expect(details.left).to.be.at.least(event.right);
          }
        }
      });
    }

    it("gives each open proposal one countdown of its own, running to the second, and the report links to it", async function () {
      const page = await openBusyPage(DESKTOP);
      const proposals = await page.$$eval(".proposal", (elements) =>
        elements.map((element) => ({
          id: String(element.id),
          countdowns: Number(element.querySelectorAll("[data-countdown]").length),
        })),
      );
      expect(proposals.map((proposal) => proposal.countdowns)).to.deep.equal([1, 1, 1, 1, 1]);
      const countdowns = page.locator("[data-countdown]");
      const first = await countdowns.allTextContents();
      expect(first).to.have.length(5);
      // The ready one counts down to its expiry, the others to their readyAt (the newest from the latest block's
      // time, which is where the page's clock starts).
      expect(first[0]).to.match(/^expires in 13d 23:59:\d\d$/);
      for (const text of first.slice(1)) expect(text).to.match(/^ready in (7d 00:00:00|6d 23:59:\d\d)$/);
      expect(new Set(first).size, "each proposal counts down to its own time").to.equal(5);

      // The report says when each can take effect and links to its countdown, with no clock of its own that would
      // stand still until the next event.
      const reportLines = await page.$$eval('#report li[data-id^="proposal."]', (elements) =>
        elements.map((element) => ({
          evidence: String(element.querySelector(".evidence").textContent),
          link: String(element.querySelector(".evidence a").getAttribute("href")),
        })),
      );
      expect(reportLines.map((line) => line.link)).to.deep.equal(proposals.map((proposal) => `#${proposal.id}`));
      for (const line of reportLines) expect(line.evidence).to.not.match(/ready in|ready since|expires in/);

      const deadline = Date.now() + 5_000;
      const allMoved = async () => (await countdowns.allTextContents()).every((text, i) => text !== first[i]);
      while (!(await allMoved()) && Date.now() < deadline) await page.waitForTimeout(200);
      expect(await allMoved(), `${first.join(", ")} all moved on`).to.equal(true);
    });

    it("copies a value in full with its copy button, and a tap on a shortened one shows all of it", async function () {
      if (context === undefined || server === undefined) throw new Error("not set up");
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
      const page = await openBusyPage(PHONE);
      const clipboard = () =>
        page.$eval("html", (root): Promise<string> => root.ownerDocument.defaultView.navigator.clipboard.readText());

      await page.click("#release-hash button.copy");
      await page.waitForSelector('#release-hash button.copy[data-state="copied"]');
      expect(await clipboard()).to.equal(releaseHash(6));
      await page.click("#owner button.copy");
      await page.waitForSelector('#owner button.copy[data-state="copied"]');
      expect(await clipboard()).to.equal(await owner.getAddress());

      const middle = page.locator("#release-hash .hex-middle");
      expect(await middle.isVisible()).to.equal(false);
      await page.click("#release-hash .hex-head");
      expect(await middle.isVisible()).to.equal(true);
      expect(await page.locator("#release-hash").innerText()).to.equal(releaseHash(6));
      expect((await layoutOf(page)).scrollWidth).to.be.at.most(PHONE.width);
    });
  });
});
