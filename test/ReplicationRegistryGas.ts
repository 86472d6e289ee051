import { expect } from "chai";
import { network } from "hardhat";

import { measureRegistryGas, realisticPayload } from "./helpers/registryGas.js";

const { ethers, networkHelpers } = await network.create();

const LARGE_MEMBERSHIP = 1000;
const TOLERANCE_PERCENT = 5;

describe("ReplicationRegistry gas", function () {
  this.timeout(600_000);

  it(`register and onboard cost the same (within ${TOLERANCE_PERCENT}%) with 1 and with ${LARGE_MEMBERSHIP} members`, async function () {
    // Measured nodes carry what a real one does: a 5006-byte TDX quote, an RTMR3 event log, a 129-byte ciphertext.
    const { points, operations } = await measureRegistryGas(
      ethers,
      networkHelpers,
      [1, LARGE_MEMBERSHIP],
      await realisticPayload(),
    );
    const [small, large] = points;
    if (small === undefined || large === undefined) throw new Error("two measurements expected");
    expect([small.members, large.members]).to.deep.equal([1, LARGE_MEMBERSHIP]);

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
    console.log(
      `      one each: register ${operations.register} (${operations.registrationCalldataBytes} bytes of calldata), ` +
        `setGenesis ${operations.setGenesis}, onboard ${operations.onboard}, refreshAttestation ` +
        `${operations.refreshAttestation}, evict ${operations.evict}`,
    );
  });
});
