/**
 * The status page end to end, in headless Chromium: a `hardhat node` on a free port, an app deployed to it, the page
 * served as `status-page` serves it; the test proposes a release and sees the countdown run, then lets the notice
 * pass, activates, and sees the activation. Screenshots go to test-results/. Without Chromium it skips with one line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import { chromium, type BrowserContext, type Page } from "playwright-core";

import { TimelockedAppAuth__factory } from "../../types/ethers-contracts/index.js";
import { buildStatusPage } from "../../web/build.js";
import { serveStatusPage, type LocalServer } from "../../web/server.js";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const RESULTS = path.resolve("test-results");
const NOTICE = 7 * 24 * 3600;
const V1 = `0x${"11".repeat(32)}`;
const V2 = `0x${"22".repeat(32)}`;
const DEVICE = `0x${"a1".repeat(32)}`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts `hardhat node` on a free port and waits until it answers. */
async function startNode(): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [path.resolve("node_modules/hardhat/dist/src/cli.js"), "node", "--hostname", "127.0.0.1", "--port", String(port)],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (response.ok) return { url, child, output: () => output };
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill();
  throw new Error(`hardhat node did not start on ${url}:\n${output}`);
}

describe("status page (headless Chromium)", function () {
  this.timeout(90_000);

  let node: Awaited<ReturnType<typeof startNode>> | undefined;
  let server: LocalServer | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;

  before(function () {
    if (!existsSync(CHROMIUM)) {
      console.log(
        `    status page browser test skipped: no Chromium at ${CHROMIUM} ` +
          "(install it with `apt-get install -y chromium`, or set CHROMIUM_PATH)",
      );
      this.skip();
    }
  });

  after(async function () {
    await context?.close();
    await server?.close();
    node?.child.kill();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
  });

  it("shows a proposal with a live countdown, then its activation after the notice", async function () {
    node = await startNode();
    const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, polling: false });
    const owner = await provider.getSigner(0);
    const stranger = await provider.getSigner(1);
    const appAuth = await new TimelockedAppAuth__factory(owner).deploy(
      await owner.getAddress(),
      NOTICE,
      V1,
      "https://example.org/releases/v1/app-compose.json",
      [DEVICE],
      false,
      true,
    );
    await appAuth.waitForDeployment();
    const app = await appAuth.getAddress();

    server = await serveStatusPage(await buildStatusPage(), 0);
    profile = await mkdtemp(path.join(tmpdir(), "status-page-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 1000 },
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
    const page: Page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${server.url}/?${new URLSearchParams({ rpc: node.url, app }).toString()}`);

    await page.waitForSelector("#no-proposals");
    expect(await page.textContent("#stage")).to.equal("Stage 1");
    expect(await page.textContent("#release-hash")).to.equal(V1);
    expect(await page.textContent('#report li[data-id="notice.stage1"]')).to.contain("PASS");

    // The owner proposes v2: the page shows it, with a countdown that runs.
    await (await appAuth.proposeComposeHash(V2, "https://example.org/releases/v2/app-compose.json")).wait();
    const countdown = page.locator(".proposal .countdown");
    await countdown.waitFor();
    expect(await page.textContent(".proposal .what")).to.equal(`add compose hash ${V2}`);
    const first = await countdown.textContent();
    expect(first).to.match(/^(7d 00:00:00|6d 23:59:\d\d) left$/);
    // It runs: within a few seconds it shows another second (polled from here: the page's CSP forbids eval).
    const deadline = Date.now() + 5_000;
    while ((await countdown.textContent()) === first && Date.now() < deadline) await page.waitForTimeout(200);
    expect(await countdown.textContent()).to.not.equal(first);
    expect(await page.textContent(".proposal .window")).to.match(/^ready in (7d 0h 0m|6d 23h 59m)$/);
    expect(await page.textContent("#report")).to.contain(`pending widening change: add compose hash ${V2}`);
    await mkdir(RESULTS, { recursive: true });
    await page.screenshot({ path: path.join(RESULTS, "status-page-proposal.png"), fullPage: true });

    // Seven days pass; a stranger activates it: the page shows the activation and the new release.
    await provider.send("evm_increaseTime", [NOTICE]);
    await provider.send("evm_mine", []);
    await (await appAuth.connect(stranger).activateComposeHash(V2)).wait();
    await page.waitForSelector('#history li[data-event="ChangeActivated"]', { timeout: 15_000 });
    await page.waitForSelector("#no-proposals");
    expect(await page.textContent("#release-hash")).to.equal(V2);
    expect(await page.textContent('#history li[data-event="ChangeActivated"]')).to.contain(
      `activated: add compose hash ${V2} (by ${await stranger.getAddress()})`,
    );
    await page.screenshot({ path: path.join(RESULTS, "status-page.png"), fullPage: true });
    expect(errors).to.deep.equal([]);
  });
});
