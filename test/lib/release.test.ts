import { expect } from "chai";
import { id, Interface, toBeHex } from "ethers";

import { TIMELOCKED_APP_AUTH_INTERFACE_ID } from "../../lib/appAuth.js";
import {
  CHANGE_PROPOSED_EVENT,
  checkReleaseReader,
  composeHashProposalId,
  connectReleaseReader,
  readComposeUri,
  readReleaseAt,
  RELEASE_READER_ABI,
  TIMELOCKED_APP_AUTH_FUNCTIONS,
  TIMELOCKED_APP_AUTH_INTERFACE_ID_LITERAL,
} from "../../lib/release.js";
import { IAppAuth__factory, ITimelockedAppAuth__factory } from "../../types/ethers-contracts/index.js";
import { deployApp, ethers, HASH_V1, HASH_V2, INITIAL_URI, networkHelpers, NOTICE } from "../tasks/helpers.js";

describe("lib/release", function () {
  it("declares the three views and ChangeProposed exactly as the compiled ITimelockedAppAuth does", function () {
    const compiled: Interface = ITimelockedAppAuth__factory.createInterface();
    new Interface(RELEASE_READER_ABI).forEachFunction((fragment) => {
      expect(fragment.format("full")).to.equal(compiled.getFunction(fragment.name)!.format("full"));
    });
    const event = new Interface([CHANGE_PROPOSED_EVENT]).getEvent("ChangeProposed")!;
    expect(event.format("full")).to.equal(compiled.getEvent("ChangeProposed")!.format("full"));
    expect(TIMELOCKED_APP_AUTH_INTERFACE_ID_LITERAL).to.equal(TIMELOCKED_APP_AUTH_INTERFACE_ID);
  });

  it("lists the functions ITimelockedAppAuth declares itself, whose selectors XOR to its interface id", function () {
    const compiled = ITimelockedAppAuth__factory.createInterface();
    const inherited = new Set<string>();
    IAppAuth__factory.createInterface().forEachFunction((fragment) => inherited.add(fragment.selector));
    const own: string[] = [];
    compiled.forEachFunction((fragment) => {
      if (!inherited.has(fragment.selector)) own.push(fragment.format("sighash"));
    });
    expect([...TIMELOCKED_APP_AUTH_FUNCTIONS].sort()).to.deep.equal(own.sort());
    let xor = 0;
    for (const signature of TIMELOCKED_APP_AUTH_FUNCTIONS) xor ^= Number.parseInt(id(signature).slice(2, 10), 16);
    expect(toBeHex(xor >>> 0, 4)).to.equal(TIMELOCKED_APP_AUTH_INTERFACE_ID_LITERAL);
  });

  it("reads the current release and whether it is allowed, at the block it is given", async function () {
    const { appAuth, app } = await networkHelpers.loadFixture(deployApp);
    const reader = connectReleaseReader(app, ethers.provider);
    const before = await ethers.provider.getBlockNumber();
    await checkReleaseReader(reader, before);
    expect(await readReleaseAt(reader, before)).to.deep.include({
      composeHash: HASH_V1,
      uri: INITIAL_URI,
      allowed: true,
    });

    await appAuth.proposeComposeHash(HASH_V2, "https://example.org/v2.json");
    await networkHelpers.time.increase(NOTICE);
    await appAuth.activateComposeHash(HASH_V2);
    await appAuth.removeComposeHash(HASH_V2);
    const now = await ethers.provider.getBlockNumber();
    expect(await readReleaseAt(reader, now)).to.deep.include({ composeHash: HASH_V2, allowed: false });
    expect(await readReleaseAt(reader, now - 1)).to.deep.include({ composeHash: HASH_V2, allowed: true });
    expect(await readReleaseAt(reader, before)).to.deep.include({ composeHash: HASH_V1, allowed: true });
  });

  it("reads a compose URI from the last ChangeProposed of its block, and refuses a block without one", async function () {
    const { appAuth, app } = await networkHelpers.loadFixture(deployApp);
    // Proposed, cancelled and proposed again in one block: storage holds the second proposal, so its URI is read.
    await networkHelpers.mine();
    await ethers.provider.send("evm_setAutomine", [false]);
    try {
      // Gas limits given: an estimate would run before the earlier transactions of the block.
      const gasLimit = 500_000n;
      await appAuth.proposeComposeHash(HASH_V2, "https://example.org/first.json", { gasLimit });
      await appAuth.cancelComposeHash(HASH_V2, { gasLimit });
      await appAuth.proposeComposeHash(HASH_V2, "https://example.org/second.json", { gasLimit });
      await networkHelpers.mine();
    } finally {
      await ethers.provider.send("evm_setAutomine", [true]);
    }
    expect(composeHashProposalId(HASH_V2)).to.equal(await appAuth.proposalId(0n, HASH_V2));
    const proposal = await appAuth.getProposal(composeHashProposalId(HASH_V2));
    const pointer = { uriBlock: proposal.uriBlock, readyAt: proposal.readyAt };
    expect(await readComposeUri(ethers.provider, app, HASH_V2, pointer)).to.deep.equal({
      uri: "https://example.org/second.json",
    });
    let message = "";
    await readComposeUri(ethers.provider, app, HASH_V2, { uriBlock: proposal.uriBlock - 1n }).catch(
      (e: Error) => (message = e.message),
    );
    expect(message).to.match(/^no ChangeProposed log of 0x[0-9a-f]{64} in block \d+ of 0x/);
    await readComposeUri(ethers.provider, app, HASH_V2, { ...pointer, readyAt: pointer.readyAt + 1n }).catch(
      (e: Error) => (message = e.message),
    );
    expect(message).to.match(/says readyAt \d+, storage \d+$/);
  });

  it("refuses an address without code, or with another contract, before reading anything", async function () {
    const { app } = await networkHelpers.loadFixture(deployApp);
    const block = await ethers.provider.getBlockNumber();
    const [owner] = await ethers.getSigners();
    let message = "";
    await checkReleaseReader(connectReleaseReader(owner!.address, ethers.provider), block).catch(
      (e: Error) => (message = e.message),
    );
    expect(message).to.match(/^no contract at 0x[0-9a-fA-F]{40} at block \d+/);
    const other = await ethers.deployContract("KmsStandIn", [owner!.address]);
    message = "";
    await checkReleaseReader(
      connectReleaseReader(await other.getAddress(), ethers.provider),
      await ethers.provider.getBlockNumber(),
    ).catch((e: Error) => (message = e.message));
    expect(message).to.match(/is not a TimelockedAppAuth/);
    await checkReleaseReader(connectReleaseReader(app, ethers.provider), block);
  });
});
