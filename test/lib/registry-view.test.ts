import { expect } from "chai";
import { Interface } from "ethers";

import {
  REGISTRY_AGENT_ABI,
  checkRegistry,
  connectRegistryView,
  readOnboardings,
  readRegistrations,
  registerArguments,
} from "../../lib/replication/index.js";
import { ReplicationRegistry__factory } from "../../types/ethers-contracts/index.js";
import { COMPOSE_A, deployRegistry, signedRegistration, testNode } from "../helpers/replication.js";
import { ethers, networkHelpers } from "../tasks/helpers.js";

async function registryFixture() {
  return deployRegistry(ethers, networkHelpers);
}

describe("lib/replication/registry-view", function () {
  it("declares every function, event and error exactly as the compiled ReplicationRegistry does", function () {
    const compiled = ReplicationRegistry__factory.createInterface();
    const written = new Interface(REGISTRY_AGENT_ABI);
    let count = 0;
    written.forEachFunction((fragment) => {
      expect(fragment.format("full")).to.equal((compiled as Interface).getFunction(fragment.selector)!.format("full"));
      count += 1;
    });
    written.forEachEvent((fragment) => {
      expect(fragment.format("full")).to.equal((compiled as Interface).getEvent(fragment.topicHash)!.format("full"));
      count += 1;
    });
    written.forEachError((fragment) => {
      expect(fragment.format("full")).to.equal((compiled as Interface).getError(fragment.selector)!.format("full"));
      count += 1;
    });
    expect(count).to.equal(REGISTRY_AGENT_ABI.length);
  });

  it("checks the registry and reads its policy, registrations and onboardings through the written-out ABI", async function () {
    const { registry, appAuth, owner, relayer, domain, appId } = await networkHelpers.loadFixture(registryFixture);
    const view = connectRegistryView(await registry.getAddress(), relayer);
    expect(await checkRegistry(view, "the test chain")).to.equal(await appAuth.getAddress());

    const a = testNode("view A");
    const from = await ethers.provider.getBlockNumber();
    await (await view.register(...registerArguments(await signedRegistration(domain, a, appId)))).wait();
    await registry.connect(owner).setGenesis(a.address);
    const to = await ethers.provider.getBlockNumber();
    const {
      records: [record],
      refused,
    } = await readRegistrations(view, from, to);
    expect(refused).to.deep.equal([]);
    expect(record?.evidence).to.deep.include({ node: a.address });
    expect(record?.evidence.bootInfo.composeHash).to.equal(COMPOSE_A);
    expect(await readOnboardings(view, from, to)).to.deep.equal({ records: [], refused: [] });

    const other = connectRegistryView(await appAuth.getAddress(), relayer);
    let message = "";
    await checkRegistry(other, "the test chain", { networkOption: "--rpc-url" }).catch(
      (error: Error) => (message = error.message),
    );
    expect(message).to.match(/is not a ReplicationRegistry/);
    message = "";
    await checkRegistry(connectRegistryView(owner.address, relayer), "the test chain", {
      networkOption: "--rpc-url",
    }).catch((error: Error) => (message = error.message));
    expect(message).to.equal(`no contract at ${owner.address} on the test chain: check --registry and --rpc-url`);
  });
});
