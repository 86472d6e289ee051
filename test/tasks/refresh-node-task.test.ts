import { expect } from "chai";
import { Wallet, id } from "ethers";

import { encodeRefreshFile, readNodeEvidence, signRefresh } from "../../lib/replication/index.js";
import type { AttestationRefresh } from "../../lib/replication/index.js";
import { bootStandIn, loadTdxFixture } from "../helpers/tee-stand-in.js";
import { networkHelpers, runTask, runTaskOk, writeTempFile } from "./helpers.js";
import { A, B, COMPOSE_A, registryWithGenesis, testNode, withStandInVerifier } from "./registry-helpers.js";
import type { TestNode } from "./registry-helpers.js";

const { quote: TEMPLATE } = await loadTdxFixture();

describe("refresh-node", function () {
  withStandInVerifier();

  type Fixture = Awaited<ReturnType<typeof registryWithGenesis>>;

  /** `node`'s refresh file (its next nonce, its registration's quote and log unless overridden), signed by `signer`. */
  async function refreshFile(
    f: Fixture,
    node: TestNode,
    overrides: Partial<AttestationRefresh> & { signer?: TestNode; domain?: Fixture["domain"] } = {},
  ): Promise<string> {
    const { signer, domain, ...fields } = overrides;
    const read = await readNodeEvidence(f.registry, node.address);
    const refresh: AttestationRefresh = {
      node: node.address,
      nonce: read?.record.refreshes ?? 0n,
      quote: read?.evidence.quote ?? "0x00",
      eventLog: read?.evidence.eventLog ?? "0x",
      tcbStatus: "UpToDate",
      advisoryIds: [],
      ...fields,
    };
    const signingDomain = domain ?? f.domain;
    const signature = await signRefresh((signer ?? node).wallet, signingDomain, refresh);
    const text = encodeRefreshFile({
      chainId: BigInt(signingDomain.chainId as bigint),
      registry: String(signingDomain.verifyingContract),
      refresh,
      signature,
    });
    return writeTempFile("refresh.json", text);
  }

  it("submits a member's refresh from any account: its attestation counts another 30 days, with the new TCB", async function () {
    const f = await networkHelpers.loadFixture(registryWithGenesis);
    await networkHelpers.time.increase(10 * 24 * 3600);
    const file = await refreshFile(f, A);
    const run = await runTaskOk("refresh-node", { registry: f.address, file, from: f.stranger.address });
    const record = await f.registry.getNode(A.address);
    expect(record.refreshes).to.equal(1n);
    expect(record.attestedAt).to.equal(await networkHelpers.time.latest());
    expect(run.stdout).to.include(
      `Refreshing node ${A.address}'s attestation (refresh #1, signed by its in-TEE key): TCB UpToDate.`,
    );
    expect(run.stdout).to.match(
      new RegExp(`Refreshed: node ${A.address}'s attestation counts until \\S+Z\\. The app's policy allows its`),
    );
    // The same file again: its nonce is spent.
    expect((await runTask("refresh-node", { registry: f.address, file })).errorMessage).to.equal(
      `${file} is refresh #1 of ${A.address}, but the registry expects refresh #2: it was submitted already`,
    );
  });

  it("says when the policy no longer accepts the refreshed TCB: anyone may then evict the member", async function () {
    const f = await networkHelpers.loadFixture(registryWithGenesis);
    const file = await refreshFile(f, A, { tcbStatus: "OutOfDate" });
    const run = await runTaskOk("refresh-node", { registry: f.address, file });
    expect(run.stdout).to.include(
      "The app's policy does NOT allow its refreshed boot info (TCB status is not up to date): anyone may evict it, " +
        "and it onboards nobody.",
    );
    expect(await f.registry.isNodeAllowed(A.address)).to.deep.equal([false, "TCB status is not up to date"]);
  });

  it("refuses, before sending, a refresh for another chain or registry, of an unknown node, or signed by another key", async function () {
    const f = await networkHelpers.loadFixture(registryWithGenesis);
    const otherChain = await refreshFile(f, A, { domain: { ...f.domain, chainId: 8453n } });
    expect((await runTask("refresh-node", { registry: f.address, file: otherChain })).errorMessage).to.equal(
      `${otherChain} is signed for chain 8453, but this is network "default" (chain 31337): check --network`,
    );
    const elsewhere = Wallet.createRandom().address;
    const otherRegistry = await refreshFile(f, A, { domain: { ...f.domain, verifyingContract: elsewhere } });
    expect((await runTask("refresh-node", { registry: f.address, file: otherRegistry })).errorMessage).to.equal(
      `${otherRegistry} is signed for the registry ${elsewhere}, not ${f.address}`,
    );
    const stranger = testNode("never registered");
    const unknown = await refreshFile(f, stranger, { quote: "0x04", eventLog: "0x" });
    expect((await runTask("refresh-node", { registry: f.address, file: unknown })).errorMessage).to.equal(
      `cannot refresh ${stranger.address}'s attestation: it is not registered (only a registered node or a member ` +
        "refreshes)",
    );
    const forged = await refreshFile(f, A, { signer: B });
    expect((await runTask("refresh-node", { registry: f.address, file: forged })).errorMessage).to.equal(
      `${forged} is signed by ${B.address}, not by the node ${A.address} it names`,
    );
    expect((await f.registry.getNode(A.address)).refreshes).to.equal(0n);
  });

  it("refuses a refresh members would refuse: a quote of another boot than the one registered", async function () {
    const f = await networkHelpers.loadFixture(registryWithGenesis);
    const { instanceId } = (await f.registry.getNode(A.address)).bootInfo;
    const other = bootStandIn(TEMPLATE, A, f.appId, { composeHash: id("another release"), instanceId });
    const file = await refreshFile(f, A, { quote: other.quote, eventLog: other.eventLog });
    expect((await runTask("refresh-node", { registry: f.address, file })).errorMessage).to.match(
      new RegExp(
        "^members would refuse this refresh: the boot info it claims is not what its quote and event log measure: " +
          `composeHash claimed ${COMPOSE_A} but the quote measures ${id("another release")}; mrAggregated claimed `,
      ),
    );
    expect((await f.registry.getNode(A.address)).refreshes).to.equal(0n);
  });

  it("requires --file, and names the field of a malformed file", async function () {
    const f = await networkHelpers.loadFixture(registryWithGenesis);
    expect((await runTask("refresh-node", { registry: f.address })).errorMessage).to.match(/--file/);
    const bad = await writeTempFile(
      "refresh.json",
      JSON.stringify({ type: "dstack-devproof/node-attestation-refresh", version: 2, chainId: "31337", nonce: "x" }),
    );
    expect((await runTask("refresh-node", { registry: f.address, file: bad })).errorMessage).to.equal(
      `${bad}: field "nonce" must be a refresh count as a decimal string`,
    );
  });
});
