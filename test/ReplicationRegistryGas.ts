import { readFile } from "node:fs/promises";

import { expect } from "chai";
import { hexlify, id, randomBytes } from "ethers";
import { network } from "hardhat";

import { encodeEventLogBytes, runtimeEvent, signOnboarding } from "../lib/replication/index.js";
import { COMPOSE_A, deployRegistry, registerArgs, signedRegistration, testNode } from "./helpers/replication.js";
import type { TestNode } from "./helpers/replication.js";

const { ethers, networkHelpers } = await network.create();

const LARGE_MEMBERSHIP = 1000;
const TOLERANCE_PERCENT = 5;

describe("ReplicationRegistry gas", function () {
  this.timeout(600_000);

  it(`register and onboard cost the same (within ${TOLERANCE_PERCENT}%) with 1 and with ${LARGE_MEMBERSHIP} members`, async function () {
    const { registry, domain, appId, owner } = await deployRegistry(ethers, networkHelpers);
    // Measured nodes carry what a real one does: a 5006-byte TDX quote, an RTMR3 event log, a 129-byte ciphertext.
    const realQuote = hexlify(await readFile(new URL("../../shared/fixtures/tdx/tdx_quote", import.meta.url)));
    const eventLog = hexlify(
      encodeEventLogBytes(
        JSON.stringify(
          ["system-preparing", "app-id", "compose-hash", "instance-id", "boot-mr-done", "system-ready"].map((name) =>
            runtimeEvent(name, name === "compose-hash" ? COMPOSE_A : id(name)),
          ),
        ),
      ),
    );
    const genesis = testNode("gas genesis");

    async function join(node: TestNode, quote: string, log: string) {
      const signed = await signedRegistration(domain, node, appId, { quote, eventLog: log });
      const registerReceipt = await (await registry.register(...registerArgs(signed))).wait();
      const { quoteHash } = await registry.getNode(node.address);
      const ciphertext = hexlify(randomBytes(129));
      const signature = await signOnboarding(genesis.wallet, domain, { node: node.address, quoteHash, ciphertext });
      const onboardReceipt = await (await registry.onboard(node.address, ciphertext, signature)).wait();
      return { register: registerReceipt?.gasUsed ?? 0n, onboard: onboardReceipt?.gasUsed ?? 0n };
    }

    await registry.register(...registerArgs(await signedRegistration(domain, genesis, appId, { quote: realQuote })));
    await registry.connect(owner).setGenesis(genesis.address);
    expect(await registry.memberCount()).to.equal(1n);
    const small = await join(testNode("measured with 1 member"), realQuote, eventLog);

    // Grow to LARGE_MEMBERSHIP members with light registrations; the set's size is what matters here.
    for (let i = (await registry.memberCount()) + 0n; i < BigInt(LARGE_MEMBERSHIP); i++) {
      await join(testNode(`filler ${i}`), "0x01", "0x");
    }
    expect(await registry.memberCount()).to.equal(BigInt(LARGE_MEMBERSHIP));
    const large = await join(testNode(`measured with ${LARGE_MEMBERSHIP} members`), realQuote, eventLog);

    console.log(`\n      gas used         1 member    ${LARGE_MEMBERSHIP} members   difference`);
    for (const op of ["register", "onboard"] as const) {
      const diff = (Number(large[op] - small[op]) / Number(small[op])) * 100;
      console.log(
        `      ${op.padEnd(12)} ${small[op].toString().padStart(11)} ${large[op].toString().padStart(13)}` +
          `   ${diff >= 0 ? "+" : ""}${diff.toFixed(3)}%`,
      );
      const delta = large[op] > small[op] ? large[op] - small[op] : small[op] - large[op];
      expect(delta * 100n, `${op} gas grew with the membership`).to.be.at.most(small[op] * BigInt(TOLERANCE_PERCENT));
    }
  });
});
