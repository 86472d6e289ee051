import { expect } from "chai";

import type { StatusPageResult } from "../../tasks/status-page.js";
import { deployApp, networkHelpers, runTask, runTaskOk } from "./helpers.js";

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
});
