import { expect } from "chai";

import type { StatusPageResult } from "../../tasks/status-page.js";
import { signTlsKey } from "../../lib/replication/index.js";
import { deriveTlsKey, type CertFeedSnapshot } from "../../lib/tls/index.js";
import { certificateDer, startCtStandIn } from "../helpers/ct-stand-in.js";
import { deployRegistry, registerArgs, signedRegistration, testNode } from "../helpers/replication.js";
import { deployApp, ethers, networkHelpers, runTask, runTaskOk } from "./helpers.js";

describe("status-page", function () {
  it("serves the built page on 127.0.0.1 and, for the in-process chain, a JSON-RPC URL the browser can read", async function () {
    const { app } = await networkHelpers.loadFixture(deployApp);
    const run = await runTaskOk<StatusPageResult>("status-page", { app, port: 0 });
    const { url, rpcUrl, close } = run.value;
    try {
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/\?rpc=http%3A%2F%2F127\.0\.0\.1%3A\d+&app=0x/);
      expect(run.stdout).to.contain(url).and.contain("in-process");
      const page = await fetch(url);
      expect(page.headers.get("content-type")).to.equal("text/html; charset=utf-8");
      expect(await page.text()).to.contain('<script type="module" src="app.js"></script>');
      const bundle = await fetch(new URL("/app.js", url));
      expect((await bundle.text()).length).to.be.greaterThan(100_000);
      expect((await fetch(new URL("/nothing", url))).status).to.equal(404);

      const answer = await fetch(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json", origin: "http://127.0.0.1:1" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "eth_getCode", params: [app, "latest"] }),
      });
      expect(answer.headers.get("access-control-allow-origin")).to.equal("*");
      const body = (await answer.json()) as { id: number; result: string };
      expect(body.id).to.equal(7);
      expect(body.result.length).to.be.greaterThan(1000);
    } finally {
      await close();
    }
  });

  it("refuses an address without an AppAuth and a bad port", async function () {
    expect(
      (await runTask("status-page", { app: "0x000000000000000000000000000000000000dEaD", port: 0 })).errorMessage,
    ).to.contain("no dstack AppAuth at 0x000000000000000000000000000000000000dEaD");
    const { app } = await networkHelpers.loadFixture(deployApp);
    expect((await runTask("status-page", { app, port: 70000 })).errorMessage).to.contain("--port");
  });

  it("with --ct-log, follows the CT log as watch-certs does and serves what it found as ct.json for the page", async function () {
    const deployed = await deployRegistry(ethers, networkHelpers);
    const registry = await deployed.registry.getAddress();
    const genesis = testNode("status-page ct genesis");
    await (
      await deployed.registry.register(
        ...registerArgs(await signedRegistration(deployed.domain, genesis, deployed.appId)),
      )
    ).wait();
    await (await deployed.registry.connect(deployed.owner).setGenesis(genesis.address)).wait();
    const [appKey, foreignKey] = [deriveTlsKey(new Uint8Array(32).fill(3)), deriveTlsKey(new Uint8Array(32).fill(4))];
    const signature = await signTlsKey(genesis.wallet, deployed.domain, { spkiSha256: appKey.spkiSha256, nonce: 0 });
    await (await deployed.registry.setTlsKey(appKey.spkiSha256, signature)).wait();
    const log = await startCtStandIn();
    log.addCertificate(await certificateDer(appKey, ["app.example"]));
    log.addCertificate(await certificateDer(foreignKey, ["www.app.example"]));
    const args = {
      app: deployed.appId,
      registry,
      fromBlock: 0,
      port: 0,
      domain: "app.example",
      ctSource: "log",
      ctLog: log.url,
      ctLogKey: log.publicKey,
    };
    try {
      const run = await runTaskOk<StatusPageResult>("status-page", { ...args, ctFromIndex: 0, ctPoll: "1m" });
      try {
        expect(run.value.url).to.contain("&ct=1");
        const feed = (await (await fetch(new URL("/ct.json", run.value.url))).json()) as CertFeedSnapshot;
        expect(feed).to.include({ source: "log", domain: "app.example", tlsKey: appKey.spkiSha256, next: 2 });
        expect(feed).to.include({ certificates: 2, foreign: 1 });
        expect(feed.events.map((e) => [e.index, e.severity])).to.deep.equal([
          [1, "urgent"],
          [0, "info"],
        ]);
        expect(feed.lastPass?.problem).to.equal(undefined);
      } finally {
        await run.value.close();
      }
      expect((await runTask("status-page", { ...args, registry: undefined })).errorMessage).to.contain(
        "--ct-log needs --registry",
      );
      expect((await runTask("status-page", { ...args, ctLogKey: undefined })).errorMessage).to.contain(
        "--ct-log-key is required",
      );
      expect((await runTask("status-page", { ...args, domain: undefined })).errorMessage).to.contain(
        "--domain is required",
      );
    } finally {
      await log.close();
    }
  });
});
