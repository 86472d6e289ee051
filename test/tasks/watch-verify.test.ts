/**
 * `watch --verify-rpc`: the events come from the network's provider; each pass, the open proposals and the current
 * release are also proven against a header a quorum of other endpoints report. Here the "other endpoints" serve the
 * same in-process chain over HTTP, one of them lying about every header.
 */
import { expect } from "chai";

import { computeHeaderHash } from "../../lib/verified/header.js";
import { QuorumHeaderSource } from "../../lib/verified/headers.js";
import { VerifiedChainReader } from "../../lib/verified/reader.js";
import { httpRpcClient } from "../../lib/verified/rpc.js";
import { serveJsonRpc, type JsonRpcServer } from "../../lib/jsonRpcServer.js";
import { WatchVerifier } from "../../lib/watchVerify.js";
import { connection, deployApp, ethers, HASH_V2, networkHelpers, runTask, runTaskOk } from "./helpers.js";

/** Serves the test chain; with `lie`, every header comes with another state root (and the hash that goes with it). */
async function endpoint(lie = false): Promise<JsonRpcServer> {
  return serveJsonRpc(connection.provider, {
    intercept: async (request) => {
      if (!lie || request.method !== "eth_getBlockByNumber") return undefined;
      const block = (await connection.provider.request({
        method: request.method,
        params: request.params as unknown[],
      })) as Record<string, unknown> | null;
      if (block === null) return { result: null };
      const forged = { ...block, stateRoot: `0x${"5e".repeat(32)}` };
      return { result: { ...forged, hash: computeHeaderHash(forged) } };
    },
  });
}

describe("watch --verify-rpc", function () {
  const servers: JsonRpcServer[] = [];
  afterEach(async function () {
    for (const server of servers.splice(0)) await server.close();
  });
  const serve = async (lie = false) => {
    const server = await endpoint(lie);
    servers.push(server);
    return server.url;
  };

  it("proves the open proposals and the current release against a header 2 of 3 providers report", async function () {
    const { appAuth, app } = await networkHelpers.loadFixture(deployApp);
    await (await appAuth.proposeComposeHash(HASH_V2, "https://example.org/v2.json")).wait();
    const urls = [await serve(), await serve(true), await serve()];
    const run = await runTaskOk("watch", { app, confirmations: 1, once: true, verifyRpc: urls.join(",") });
    expect(run.stdout).to.match(/Verifying each pass against quorum of 2 of 3 endpoints/);
    const [current] = await appAuth.currentRelease();
    const [proposal] = await appAuth.getProposals();
    expect(run.stdout).to.contain(
      `(2 of 3 endpoints report this header (quorum 2)): current release ${current}, 1 open proposal(s): ${proposal!.id}`,
    );
  });

  it("says the pass is unverified when too few providers agree, and never that nothing happened", async function () {
    const { app } = await networkHelpers.loadFixture(deployApp);
    const urls = [await serve(), await serve(true)];
    const run = await runTaskOk("watch", { app, confirmations: 1, once: true, verifyRpc: urls.join(",") });
    expect(run.stderr).to.match(/UNVERIFIED: RPC endpoints disagree about block \d+, no hash has 2 of 2/);
    expect(run.stdout).to.not.match(/verified at block/);
  });

  it("refuses a quorum it cannot reach, and a URL that is not http(s)", async function () {
    const { app } = await networkHelpers.loadFixture(deployApp);
    const url = await serve();
    const single = await runTask("watch", { app, once: true, verifyRpc: url });
    expect(single.errorMessage).to.match(
      /--verify-quorum "majority" is not valid: expected a quorum of several providers/,
    );
    const one = await runTask("watch", { app, once: true, verifyRpc: `${url},${url}`, verifyQuorum: "1" });
    expect(one.errorMessage).to.match(/--verify-quorum "1" is not valid/);
    const ws = await runTask("watch", { app, once: true, verifyRpc: "ws://x.example" });
    expect(ws.errorMessage).to.match(/--verify-rpc "ws:\/\/x.example" is not valid/);
  });

  it("flags an open proposal that no event announced, once, and not one that was announced", async function () {
    const { appAuth, app } = await networkHelpers.loadFixture(deployApp);
    await (await appAuth.proposeComposeHash(HASH_V2, "https://example.org/v2.json")).wait();
    const clients = [
      httpRpcClient(await serve(), { timeoutMs: 5_000 }),
      httpRpcClient(await serve(), { timeoutMs: 5_000 }),
    ];
    const verifier = new WatchVerifier(
      new VerifiedChainReader(new QuorumHeaderSource(clients, { quorum: 2 }), clients),
      app,
    );
    const block = await ethers.provider.getBlockNumber();
    const [proposal] = await appAuth.getProposals();

    const hidden = await verifier.check(block);
    expect(hidden.unannounced.map((p) => p.id)).to.deep.equal([proposal!.id]);
    expect((await verifier.check(block)).unannounced).to.deep.equal([]);

    const announced = new WatchVerifier(
      new VerifiedChainReader(new QuorumHeaderSource(clients, { quorum: 2 }), clients),
      app,
    );
    announced.announce(proposal!.id);
    expect((await announced.check(block)).unannounced).to.deep.equal([]);
  });
});
