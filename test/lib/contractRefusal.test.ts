/**
 * A probe answers "not this kind of contract" only when the contract refused; a node that could not be asked is an
 * error, reported as such — never as "not a TimelockedAppAuth" or "not an AppAuth".
 */
import { expect } from "chai";
import { JsonRpcProvider, Network } from "ethers";
import { network } from "hardhat";

import { connectAppAuth } from "../../lib/appAuth.js";
import { isContractRefusal } from "../../lib/contractRefusal.js";
import { isDstackAppAuth, supportsInterfaceOf } from "../../lib/devproof-snapshot.js";
import { serveJsonRpc } from "../../lib/jsonRpcServer.js";

const { ethers, provider: chain } = await network.create();

describe("telling a contract's refusal from a node's failure", function () {
  it("calls a revert, undecodable data and Hardhat's SolidityError a refusal, and a transport error not", async function () {
    const reverter = "0x00000000000000000000000000000000000c0ffe";
    await chain.request({ method: "hardhat_setCode", params: [reverter, "0x60006000fd"] }); // always reverts
    const refusal = await ethers.provider.call({ to: reverter, data: "0x01ffc9a7" }).catch((error: unknown) => error);
    expect(isContractRefusal(refusal)).to.equal(true);
    expect(isContractRefusal(Object.assign(new Error("x"), { name: "SolidityError" }))).to.equal(true);
    expect(isContractRefusal(new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } }))).to.equal(false);
    expect(isContractRefusal(undefined)).to.equal(false);
  });

  it("throws, instead of answering false, when the node fails while a probe asks", async function () {
    const app = await ethers.deployContract("StockAppAuth", [
      (await ethers.getSigners())[0]!.address,
      false,
      `0x${"a1".repeat(32)}`,
      `0x${"11".repeat(32)}`,
    ]);
    const address = await app.getAddress();
    // An endpoint that answers eth_getCode from the chain and fails every eth_call, as a node going down would.
    const server = await serveJsonRpc(chain, {
      intercept: (request) => (request.method === "eth_call" ? { httpStatus: 502, body: "bad gateway" } : undefined),
    });
    try {
      const flaky = new JsonRpcProvider(server.url, Network.from(31337), { staticNetwork: true, batchMaxCount: 1 });
      const failed = (probe: Promise<unknown>) =>
        probe.then(
          () => "answered",
          () => "threw",
        );
      expect(await failed(supportsInterfaceOf(flaky, address, "0x1e079198"))).to.equal("threw");
      expect(await failed(isDstackAppAuth(flaky, address))).to.equal("threw");
      const error = await connectAppAuth(address, flaky, "the test network").catch((e: unknown) => e);
      expect(String((error as Error).message)).to.not.contain("is not a TimelockedAppAuth");
      flaky.destroy();
    } finally {
      await server.close();
    }
  });
});
