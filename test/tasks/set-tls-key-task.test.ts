import { expect } from "chai";
import { id } from "ethers";

import { signTlsKey } from "../../lib/replication/index.js";
import { networkHelpers, runTask, runTaskOk, writeTempFile } from "./helpers.js";
import { A, B, registryWithGenesis } from "./registry-helpers.js";
import type { TestNode } from "./registry-helpers.js";

describe("set-tls-key", function () {
  type Fixture = Awaited<ReturnType<typeof registryWithGenesis>>;
  const KEY = id("SPKI of the app's TLS key");

  /** `tls-key.json` as the genesis member's agent writes it, signed by `signer` for `nonce`. */
  async function tlsKeyFile(f: Fixture, signer: TestNode, nonce = 0n): Promise<string> {
    const signature = await signTlsKey(signer.wallet, f.domain, { spkiSha256: KEY, nonce });
    const file = {
      chainId: String(f.domain.chainId),
      registry: String(f.domain.verifyingContract),
      node: signer.address,
      spkiSha256: KEY,
      nonce: nonce.toString(),
      signature,
    };
    return writeTempFile("tls-key.json", `${JSON.stringify(file, null, 2)}\n`);
  }

  it("publishes the genesis member's signed TLS key, once", async function () {
    const f = await networkHelpers.loadFixture(registryWithGenesis);
    const registry = await f.registry.getAddress();
    const file = await tlsKeyFile(f, A);
    const run = await runTaskOk("set-tls-key", { registry, file });
    expect(run.stdout).to.contain(`Publishing the app's TLS key ${KEY}, signed by the genesis member ${A.address}`);
    expect(await f.registry.tlsKey()).to.deep.equal([KEY, 1n]);
    const again = await runTask("set-tls-key", { registry, file });
    expect(again.errorMessage).to.match(
      /is publication #1 of the TLS key, but the registry expects #2: it was submitted already/,
    );
  });

  it("refuses a file signed by another node than the genesis member, before sending", async function () {
    const f = await networkHelpers.loadFixture(registryWithGenesis);
    const run = await runTask("set-tls-key", { registry: await f.registry.getAddress(), file: await tlsKeyFile(f, B) });
    expect(run.errorMessage).to.contain(`is signed by ${B.address}, not by the genesis member ${A.address}`);
    expect((await f.registry.tlsKey())[1]).to.equal(0n);
  });
});
