import { expect } from "chai";

import { composeHashChange, decodeRevert, proposalIdOf, readProposal } from "../../lib/appAuth.js";
import { formatDate } from "../../lib/format.js";
import type { ProposeResult } from "../../tasks/shared/changes.js";
import {
  COMPOSE_V1,
  deployApp,
  HASH_V1,
  HASH_V2,
  UNSERVED_URI,
  latestTimestamp,
  networkHelpers,
  NOTICE,
  runTask,
  runTaskOk,
  writeTempFile,
} from "./helpers.js";

const URI_V2 = UNSERVED_URI;

async function withProposalV2() {
  const deployed = await deployApp();
  const proposed = await runTaskOk<ProposeResult>("propose-hash", { app: deployed.app, hash: HASH_V2, uri: URI_V2 });
  return { ...deployed, proposed: proposed.value };
}

describe("compose-hash tasks", function () {
  describe("propose-hash", function () {
    it("proposes a hash and prints the tx, readyAt as a date with a countdown, and the expiry", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      const run = await runTaskOk<ProposeResult>("propose-hash", { app, hash: HASH_V2, uri: URI_V2 });

      const proposal = await appAuth.getProposal(proposalIdOf(composeHashChange(HASH_V2)));
      expect((await readProposal(appAuth, composeHashChange(HASH_V2))).uri).to.equal(URI_V2);
      expect(run.value.readyAt).to.equal(proposal.readyAt);
      expect(run.value.readyAt - (await latestTimestamp())).to.equal(NOTICE);
      expect(run.stdout).to.include(`Proposing to add compose hash ${HASH_V2}`);
      expect(run.stdout).to.include(`Transaction ${run.value.hash}`);
      expect(run.stdout).to.include(`Mined in block ${run.value.blockNumber}`);
      expect(run.stdout).to.include(`Ready at:   ${formatDate(proposal.readyAt)} (in 7d 0h 0m)`);
      expect(run.stdout).to.include(`Expires at: ${formatDate(proposal.expiresAt)} (in 21d 0h 0m)`);
      expect(run.stdout).to.include(`npx hardhat activate-hash --app ${app} --hash ${HASH_V2}`);
    });

    it("hashes the exact bytes of --file and warns when the file is not in the SDK's canonical form", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      const pretty = `${JSON.stringify({ runner: "docker-compose", name: "v2", docker_compose_file: "services: {}" }, null, 2)}\n`;
      const file = await writeTempFile("app-compose.json", pretty);
      const run = await runTaskOk<ProposeResult>("propose-hash", { app, file, uri: URI_V2 });

      const { sha256Hex } = await import("../../lib/composeHash.js");
      const bytesHash = sha256Hex(new TextEncoder().encode(pretty));
      expect(run.stdout).to.include(
        `sha256 of the exact bytes (what a CVM deployed with this file measures and reports): ${bytesHash}`,
      );
      expect(run.stderr).to.include("not in the dstack SDK's canonical form");
      expect(run.stderr).to.include("its keys are not sorted");
      const proposal = await appAuth.getProposal(proposalIdOf(composeHashChange(bytesHash)));
      expect(proposal.readyAt).to.equal(run.value.readyAt);
    });

    it("refuses --file without --uri, naming the file to publish", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const file = await writeTempFile("app-compose.json", COMPOSE_V1);
      const run = await runTask("propose-hash", { app, file });
      expect(run.result.success).to.equal(false);
      expect(run.errorMessage).to.match(/^--uri is required: publish .*app-compose\.json \(these exact bytes\)/);
      expect(run.stderr).to.include("Error: --uri is required");
    });

    it("refuses --hash without --uri", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await runTask("propose-hash", { app, hash: HASH_V2 });
      expect(run.errorMessage).to.match(/^--uri is required: the contract stores where/);
    });

    it("refuses both --hash and --file", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const file = await writeTempFile("app-compose.json", COMPOSE_V1);
      const run = await runTask("propose-hash", { app, hash: HASH_V2, file, uri: URI_V2 });
      expect(run.errorMessage).to.equal("--hash and --file cannot be used together: give exactly one");
    });

    it("refuses neither --hash nor --file", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await runTask("propose-hash", { app, uri: URI_V2 });
      expect(run.errorMessage).to.match(/^--hash or --file is required/);
    });

    it("refuses a malformed hash, naming the option and the value", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await runTask("propose-hash", { app, hash: "0x1234", uri: URI_V2 });
      expect(run.errorMessage).to.equal(
        '--hash "0x1234" is not valid: expected 0x followed by 64 hex digits (32 bytes); got 4 hex digits',
      );
    });

    it("refuses a --file that does not exist", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await runTask("propose-hash", { app, file: "/nonexistent/app-compose.json", uri: URI_V2 });
      expect(run.errorMessage).to.equal("--file /nonexistent/app-compose.json: no such file");
    });

    it("refuses a hash that is already allowed", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await runTask("propose-hash", { app, hash: HASH_V1, uri: URI_V2 });
      expect(run.errorMessage).to.equal(`compose hash ${HASH_V1} is already allowed: it is the current release`);
    });

    it("refuses to propose again while the proposal is open (no timer reset)", async function () {
      const { app } = await networkHelpers.loadFixture(withProposalV2);
      const run = await runTask("propose-hash", { app, hash: HASH_V2, uri: URI_V2 });
      expect(run.errorMessage).to.match(/^a proposal to add compose hash 0x2{64} is already open \(ready in 7d 0h 0m/);
      expect(run.errorMessage).to.include("npx hardhat cancel-hash");
    });

    it("points at activate-hash when the open proposal is already ready", async function () {
      const { app, proposed } = await networkHelpers.loadFixture(withProposalV2);
      await networkHelpers.time.increaseTo(proposed.readyAt);
      const run = await runTask("propose-hash", { app, hash: HASH_V2, uri: URI_V2 });
      expect(run.errorMessage).to.equal(
        `a proposal to add compose hash ${HASH_V2} is already open and ready since 0s (expires in 14d 0h 0m): ` +
          `activate it instead: npx hardhat activate-hash --app ${app} --hash ${HASH_V2} --network default`,
      );
    });

    it("proposes an expired proposal again, with a fresh notice", async function () {
      const { app, proposed } = await networkHelpers.loadFixture(withProposalV2);
      await networkHelpers.time.increaseTo(proposed.expiresAt);
      const run = await runTaskOk<ProposeResult>("propose-hash", { app, hash: HASH_V2, uri: URI_V2 });
      expect(run.stdout).to.include(`An earlier proposal to add compose hash ${HASH_V2} expired at`);
      expect(run.value.readyAt - (await latestTimestamp())).to.equal(NOTICE);
    });

    it("refuses a signer that is not the owner, naming both addresses, and sends nothing", async function () {
      const { app, owner, stranger } = await networkHelpers.loadFixture(deployApp);
      const before = await networkHelpers.time.latestBlock();
      const run = await runTask("propose-hash", { app, hash: HASH_V2, uri: URI_V2, from: stranger.address });
      expect(run.errorMessage).to.include(
        `only the owner can propose to add compose hash ${HASH_V2}: the signer is ${stranger.address} but the owner is ${owner.address}`,
      );
      expect(await networkHelpers.time.latestBlock()).to.equal(before);
    });
  });

  describe("activate-hash", function () {
    it("activates once the notice has passed, from any account, and makes it the current release", async function () {
      const { app, appAuth, stranger, proposed } = await networkHelpers.loadFixture(withProposalV2);
      await networkHelpers.time.increaseTo(proposed.readyAt);
      const run = await runTaskOk("activate-hash", { app, hash: HASH_V2, from: stranger.address });

      expect(await appAuth.allowedComposeHashes(HASH_V2)).to.equal(true);
      expect((await appAuth.currentRelease())[0]).to.equal(HASH_V2);
      expect(run.stdout).to.include(`Activating: add compose hash ${HASH_V2} (ready since`);
      expect(run.stdout).to.include("It is allowed and is now the current release.");
    });

    it("--retire-others: the owner activates and retires every older release in one transaction", async function () {
      const { app, appAuth, proposed } = await networkHelpers.loadFixture(withProposalV2);
      await networkHelpers.time.increaseTo(proposed.readyAt);
      const before = await runTaskOk("app-status", { app });
      expect(before.stdout).to.match(/Older releases: +none allowed: the owner cannot downgrade/);
      const run = await runTaskOk("activate-hash", { app, hash: HASH_V2, retireOthers: true });

      expect(await appAuth.getComposeHashes()).to.deep.equal([HASH_V2]);
      expect(await appAuth.allowedComposeHashes(HASH_V1)).to.equal(false);
      expect((await appAuth.currentRelease())[0]).to.equal(HASH_V2);
      expect(run.stdout).to.include(`Retiring at once (narrowing): compose hash ${HASH_V1}`);
      expect(run.stdout).to.include("Retired 1 older release(s)");
    });

    it("without --retire-others the older release stays allowed, and app-status says the owner can downgrade", async function () {
      const { app, proposed } = await networkHelpers.loadFixture(withProposalV2);
      await networkHelpers.time.increaseTo(proposed.readyAt);
      await runTaskOk("activate-hash", { app, hash: HASH_V2 });
      const status = await runTaskOk("app-status", { app });
      expect(status.stdout).to.match(
        /Older releases: +1 still allowed \(oldest allowed 7d 0h \d+m ago\): the owner can roll back to any of them at once/,
      );
      expect(status.stdout).to.match(/allowed since: \S+Z \(now\)/);
    });

    it("--retire-others refuses a signer that is not the owner and sends nothing", async function () {
      const { app, appAuth, stranger, proposed } = await networkHelpers.loadFixture(withProposalV2);
      await networkHelpers.time.increaseTo(proposed.readyAt);
      const run = await runTask("activate-hash", { app, hash: HASH_V2, retireOthers: true, from: stranger.address });
      expect(run.errorMessage).to.match(
        /^only the owner can add compose hash 0x[0-9a-f]{64} and retire 1 older release/,
      );
      expect(await appAuth.allowedComposeHashes(HASH_V2)).to.equal(false);
      expect(await appAuth.allowedComposeHashes(HASH_V1)).to.equal(true);
    });

    it("refuses before readyAt with the date and the time left, and sends nothing", async function () {
      const { app, proposed } = await networkHelpers.loadFixture(withProposalV2);
      await networkHelpers.time.increaseTo(proposed.readyAt - 3n * 3600n - 12n * 60n);
      const run = await runTask("activate-hash", { app, hash: HASH_V2 });
      expect(run.errorMessage).to.equal(
        `the proposal to add compose hash ${HASH_V2} is not ready yet: ready at ${formatDate(proposed.readyAt)} (in 3h 12m)`,
      );
    });

    it("refuses after expiry and says it must be proposed again", async function () {
      const { app, proposed } = await networkHelpers.loadFixture(withProposalV2);
      await networkHelpers.time.increaseTo(proposed.expiresAt + 60n);
      const run = await runTask("activate-hash", { app, hash: HASH_V2 });
      expect(run.errorMessage).to.equal(
        `the proposal to add compose hash ${HASH_V2} expired at ${formatDate(proposed.expiresAt)} (1m ago) ` +
          "without being activated; it must be proposed again, with a fresh notice",
      );
    });

    it("refuses a file whose bytes do not match any proposal, listing the open ones", async function () {
      const { app } = await networkHelpers.loadFixture(withProposalV2);
      const file = await writeTempFile("app-compose.json", `${COMPOSE_V1}\n`);
      const run = await runTask("activate-hash", { app, file });
      expect(run.errorMessage).to.match(
        new RegExp(
          `^there was never a proposal to add compose hash 0x[0-9a-f]{64} on ${app}; open proposals of this kind: ${HASH_V2}$`,
        ),
      );
    });

    it("decodes the contract's custom error when the chain refuses anyway", async function () {
      const { appAuth } = await networkHelpers.loadFixture(withProposalV2);
      const error = await appAuth.activateComposeHash(HASH_V2).then(
        () => undefined,
        (e: unknown) => e,
      );
      const revert = decodeRevert(error);
      expect(revert?.name).to.equal("ProposalNotReady");
      expect(revert?.description).to.match(
        /^ProposalNotReady\(id: 0x[0-9a-f]{64}, readyAt: \d+ \[\d{4}-.*Z\], currentTime: \d+ \[/,
      );
    });
  });

  describe("cancel-hash", function () {
    it("cancels an open proposal", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(withProposalV2);
      const run = await runTaskOk("cancel-hash", { app, hash: HASH_V2 });
      expect((await appAuth.getProposals()).length).to.equal(0);
      expect(run.stdout).to.include(`Cancelled: the proposal to add compose hash ${HASH_V2} will not take effect.`);
    });

    it("refuses a non-owner", async function () {
      const { app, stranger } = await networkHelpers.loadFixture(withProposalV2);
      const run = await runTask("cancel-hash", { app, hash: HASH_V2, from: stranger.address });
      expect(run.errorMessage).to.match(/^only the owner can cancel the proposal to add compose hash/);
    });

    it("refuses when there is nothing to cancel", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await runTask("cancel-hash", { app, hash: HASH_V2 });
      expect(run.errorMessage).to.equal(`there was never a proposal to add compose hash ${HASH_V2} on ${app}`);
    });
  });

  describe("remove-hash", function () {
    it("removes an allowed hash at once and warns when it is the current release", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      const run = await runTaskOk("remove-hash", { app, hash: HASH_V1 });
      expect(await appAuth.allowedComposeHashes(HASH_V1)).to.equal(false);
      expect(run.stderr).to.include("this is the current release");
      expect(run.stdout).to.include("takes effect at once");
    });

    it("refuses a hash that is not allowed", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await runTask("remove-hash", { app, hash: HASH_V2 });
      expect(run.errorMessage).to.equal(`compose hash ${HASH_V2} is not allowed, so there is nothing to remove`);
    });
  });

  describe("roll-back", function () {
    it("points the current release back at an allowed hash", async function () {
      const { app, appAuth, proposed } = await networkHelpers.loadFixture(withProposalV2);
      await networkHelpers.time.increaseTo(proposed.readyAt);
      await runTaskOk("activate-hash", { app, hash: HASH_V2 });
      await runTaskOk("roll-back", { app, hash: HASH_V1 });
      expect((await appAuth.currentRelease())[0]).to.equal(HASH_V1);
    });

    it("refuses the current release and a hash that is not allowed", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      expect((await runTask("roll-back", { app, hash: HASH_V1 })).errorMessage).to.equal(
        `compose hash ${HASH_V1} is already the current release`,
      );
      expect((await runTask("roll-back", { app, hash: HASH_V2 })).errorMessage).to.match(/is not allowed: a roll-back/);
    });
  });
});
