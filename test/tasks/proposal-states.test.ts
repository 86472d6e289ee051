/**
 * activate-* and cancel-* when there is nothing to act on: each of the five change kinds says which case it is —
 * never proposed, not ready yet, expired, cancelled, already in effect (since when, by whom), activated and taken back
 * since — in one line that names the next step and repeats nothing, and sends nothing.
 */
import { expect } from "chai";

import { TimelockedAppAuth__factory, type TimelockedAppAuth } from "../../types/ethers-contracts/index.js";
import {
  allowAnyDeviceChange,
  allowOutdatedTcbChange,
  changeCall,
  composeHashChange,
  deviceChange,
  readProposalEvents,
  shortenNoticeChange,
  type Change,
} from "../../lib/appAuth.js";
import { formatDate } from "../../lib/format.js";
import { DEVICE_B, deployApp, ethers, HASH_V1, HASH_V2, networkHelpers, NOTICE, runTask } from "./helpers.js";

const SHORTER = 3n * 24n * 3600n;

interface Kind {
  name: string;
  activate: string;
  cancel: string;
  args: Record<string, string>;
  change: Change;
  what: string;
  undoCommand: RegExp;
  /** The instant narrowing change that takes an activated change back. */
  takeBack: (appAuth: TimelockedAppAuth) => Promise<unknown>;
}

const KINDS: Kind[] = [
  {
    name: "compose hash",
    activate: "activate-hash",
    change: composeHashChange(HASH_V2),
    cancel: "cancel-hash",
    args: { hash: HASH_V2 },
    what: `add compose hash ${HASH_V2}`,
    undoCommand: new RegExp(
      `to take it back, at once: npx hardhat remove-hash --app 0x[0-9a-fA-F]{40} --hash ${HASH_V2}`,
    ),
    takeBack: (a) => a.removeComposeHash(HASH_V2),
  },
  {
    name: "device",
    activate: "activate-device",
    change: deviceChange(DEVICE_B),
    cancel: "cancel-device",
    args: { device: DEVICE_B },
    what: `add device ${DEVICE_B}`,
    undoCommand: new RegExp(`npx hardhat remove-device --app 0x[0-9a-fA-F]{40} --device ${DEVICE_B}`),
    takeBack: (a) => a.removeDevice(DEVICE_B),
  },
  {
    name: "allow-any-device",
    activate: "activate-allow-any-device",
    change: allowAnyDeviceChange(),
    cancel: "cancel-allow-any-device",
    args: {},
    what: "allow any device",
    undoCommand: /npx hardhat restrict-devices --app 0x[0-9a-fA-F]{40} --network default$/,
    takeBack: (a) => a.restrictDevices(),
  },
  {
    name: "allow-outdated-tcb",
    activate: "activate-allow-outdated-tcb",
    change: allowOutdatedTcbChange(),
    cancel: "cancel-allow-outdated-tcb",
    args: {},
    what: "allow an out-of-date TCB",
    undoCommand: /npx hardhat require-up-to-date-tcb --app 0x[0-9a-fA-F]{40} --network default$/,
    takeBack: (a) => a.requireUpToDateTcb(),
  },
  {
    name: "notice",
    activate: "activate-notice",
    change: shortenNoticeChange(SHORTER),
    cancel: "cancel-notice",
    args: { notice: "3d" },
    what: "shorten the notice period to 3d 0h 0m",
    undoCommand:
      /to lengthen the notice again, at once: npx hardhat set-notice --app 0x[0-9a-fA-F]{40} --notice <longer>/,
    takeBack: (a) => a.lengthenNoticePeriod(NOTICE),
  },
];

/** No run of four words appears twice: a message that says the same thing twice reads as a bug. */
function expectNoRepetition(message: string): void {
  const words = message.split(/\s+/);
  const seen = new Set<string>();
  for (let i = 0; i + 4 <= words.length; i += 1) {
    const gram = words.slice(i, i + 4).join(" ");
    expect(seen.has(gram), `"${gram}" repeats in: ${message}`).to.equal(false);
    seen.add(gram);
  }
}

/** Runs a task that must fail, checks that it sent nothing and that its message repeats nothing. */
async function refusal(task: string, args: Record<string, unknown>): Promise<string> {
  const before = await networkHelpers.time.latestBlock();
  const run = await runTask(task, args);
  expect(run.result.success, `${task} should refuse`).to.equal(false);
  expect(await networkHelpers.time.latestBlock(), `${task} sent a transaction`).to.equal(before);
  expectNoRepetition(run.errorMessage);
  return run.errorMessage;
}

async function timeOf(blockNumber: number): Promise<string> {
  return formatDate((await ethers.provider.getBlock(blockNumber))!.timestamp);
}

/** Sends the contract call that proposes, activates or cancels the kind's change (from the owner, or `from`). */
async function send(
  appAuth: TimelockedAppAuth,
  action: "propose" | "activate" | "cancel",
  kind: Kind,
  from?: Parameters<TimelockedAppAuth["connect"]>[0],
) {
  const call = changeCall(action, kind.change, "https://example.org/v2.json");
  return (from === undefined ? appAuth : appAuth.connect(from)).getFunction(call.method)(...call.args);
}

async function minedIn(sent: unknown): Promise<{ blockNumber: number; hash: string }> {
  const receipt = await (sent as { wait: () => Promise<{ blockNumber: number; hash: string }> }).wait();
  return { blockNumber: receipt.blockNumber, hash: receipt.hash };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("activate / cancel: why there is no proposal to act on", function () {
  for (const kind of KINDS) {
    describe(kind.name, function () {
      it("never proposed: says so, for activate and cancel alike", async function () {
        const { app } = await networkHelpers.loadFixture(deployApp);
        const expected = `there was never a proposal to ${kind.what} on ${app}`;
        expect(await refusal(kind.activate, { app, ...kind.args })).to.equal(expected);
        expect(await refusal(kind.cancel, { app, ...kind.args })).to.equal(expected);
      });

      it("not ready yet: says when it will be", async function () {
        const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
        await send(appAuth, "propose", kind);
        const readyAt = (await appAuth.getProposals())[0]!.readyAt;
        expect(await refusal(kind.activate, { app, ...kind.args })).to.equal(
          `the proposal to ${kind.what} is not ready yet: ready at ${formatDate(readyAt)} (in 7d 0h 0m)`,
        );
      });

      it("expired: says it must be proposed again", async function () {
        const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
        await send(appAuth, "propose", kind);
        const expiresAt = (await appAuth.getProposals())[0]!.expiresAt;
        await networkHelpers.time.increaseTo(expiresAt);
        expect(await refusal(kind.activate, { app, ...kind.args })).to.equal(
          `the proposal to ${kind.what} expired at ${formatDate(expiresAt)} (now) without being activated; ` +
            "it must be proposed again, with a fresh notice",
        );
      });

      it("cancelled: names the block, for activate and for a second cancel", async function () {
        const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
        await send(appAuth, "propose", kind);
        const cancelled = await minedIn(await send(appAuth, "cancel", kind));
        const at = `in block ${cancelled.blockNumber} at ${await timeOf(cancelled.blockNumber)}`;
        const activate = await refusal(kind.activate, { app, ...kind.args });
        expect(activate).to.match(
          new RegExp(
            `^the proposal to ${escape(kind.what)} was cancelled ${escape(at)} \\((?:now|\\d+s ago), transaction ${cancelled.hash}\\); ` +
              "it must be proposed again, with a fresh notice$",
          ),
        );
        const cancel = await refusal(kind.cancel, { app, ...kind.args });
        expect(cancel).to.match(
          new RegExp(
            `^the proposal to ${escape(kind.what)} was already cancelled ${escape(at)} .*; there is nothing to cancel$`,
          ),
        );
      });

      it("already in effect: names the activation's block and sender, and how to take it back", async function () {
        const { app, appAuth, stranger } = await networkHelpers.loadFixture(deployApp);
        await send(appAuth, "propose", kind);
        await networkHelpers.time.increase(NOTICE);
        const activated = await minedIn(await send(appAuth, "activate", kind, stranger));
        const at = `in block ${activated.blockNumber} at ${await timeOf(activated.blockNumber)}`;
        const activate = await refusal(kind.activate, { app, ...kind.args });
        expect(activate).to.match(
          new RegExp(
            `^nothing to activate: "${escape(kind.what)}" is already in effect: its proposal was activated ` +
              `${escape(at)} \\((?:now|\\d+s ago), transaction ${activated.hash}\\) by ${stranger.address}` +
              (kind.name === "compose hash" ? "; it is the current release$" : "$"),
          ),
        );
        const cancel = await refusal(kind.cancel, { app, ...kind.args });
        expect(cancel).to.match(
          new RegExp(
            `^too late to cancel: "${escape(kind.what)}" is already in effect: its proposal was activated ${escape(at)}`,
          ),
        );
        expect(cancel).to.match(kind.undoCommand);
      });

      it("activated, then taken back by a narrowing change: says both", async function () {
        const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
        await send(appAuth, "propose", kind);
        await networkHelpers.time.increase(NOTICE);
        const activated = await minedIn(await send(appAuth, "activate", kind));
        await kind.takeBack(appAuth);
        const message = await refusal(kind.activate, { app, ...kind.args });
        expect(message).to.match(
          new RegExp(
            `^the proposal to ${escape(kind.what)} was activated in block ${activated.blockNumber} at .*, and a ` +
              "narrowing change has taken it back since; it must be proposed again, with a fresh notice$",
          ),
        );
        expect(await refusal(kind.cancel, { app, ...kind.args })).to.match(
          /taken it back since; there is nothing to cancel$/,
        );
      });
    });
  }

  it("a compose hash allowed at deployment: in effect since then, never proposed", async function () {
    const { app } = await networkHelpers.loadFixture(deployApp);
    expect(await refusal("activate-hash", { app, hash: HASH_V1 })).to.equal(
      `nothing to activate: "add compose hash ${HASH_V1}" is already in effect since the contract was deployed ` +
        "(it was never proposed); it is the current release",
    );
    expect(await refusal("cancel-hash", { app, hash: HASH_V1 })).to.equal(
      `too late to cancel: "add compose hash ${HASH_V1}" is already in effect since the contract was deployed ` +
        `(it was never proposed); to take it back, at once: npx hardhat remove-hash --app ${app} --hash ${HASH_V1} ` +
        "--network default",
    );
  });

  it("a notice set by lengthening it: in effect without a proposal, and not said to date from deployment", async function () {
    const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
    await appAuth.lengthenNoticePeriod(10n * 24n * 3600n);
    expect(await refusal("activate-notice", { app, notice: "10d" })).to.equal(
      'nothing to activate: "shorten the notice period to 10d 0h 0m" is already in effect without a proposal ' +
        "(set at deployment, or by lengthening the notice, which is instant)",
    );
  });

  it("an allowed hash that is no longer the current release: points at roll-back", async function () {
    const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
    await appAuth.proposeComposeHash(HASH_V2, "https://example.org/v2.json");
    await networkHelpers.time.increase(NOTICE);
    await appAuth.activateComposeHash(HASH_V2);
    expect(await refusal("activate-hash", { app, hash: HASH_V1 })).to.match(
      new RegExp(
        `; to make it the current release again: npx hardhat roll-back --app ${app} --hash ${HASH_V1} --network default$`,
      ),
    );
  });

  it("a mistyped value: lists the open proposals of its kind", async function () {
    const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
    await appAuth.proposeDevice(DEVICE_B);
    const other = `0x${"cd".repeat(32)}`;
    expect(await refusal("activate-device", { app, device: other })).to.equal(
      `there was never a proposal to add device ${other} on ${app}; open proposals of this kind: ${DEVICE_B}`,
    );
  });

  it("keeps a proposal made in a contract-creation transaction, and skips only the genesis release's event", async function () {
    const { appAuth, app } = await networkHelpers.loadFixture(deployApp);
    const [owner] = await ethers.getSigners();
    // The owner offers the ownership to a contract it is about to deploy, whose constructor proposes.
    const nonce = await ethers.provider.getTransactionCount(owner!.address);
    await appAuth.transferOwnership(ethers.getCreateAddress({ from: owner!.address, nonce: nonce + 1 }));
    await ethers.deployContract("ConstructorProposer", [app, HASH_V2, "https://example.org/v2.json"]);
    expect((await appAuth.getProposal(await appAuth.proposalId(0n, HASH_V2))).readyAt).to.not.equal(0n);

    const events = await readProposalEvents(appAuth, composeHashChange(HASH_V2));
    expect(events?.map((e) => e.event)).to.deep.equal(["ChangeProposed"]);
    expect(await readProposalEvents(appAuth, composeHashChange(HASH_V1))).to.deep.equal([]);
  });

  it("reads a proposal's events, and says it cannot when the node refuses the log query", async function () {
    const { appAuth } = await networkHelpers.loadFixture(deployApp);
    await appAuth.proposeComposeHash(HASH_V2, "https://example.org/v2.json");
    await appAuth.cancelComposeHash(HASH_V2);
    const events = await readProposalEvents(appAuth, composeHashChange(HASH_V2));
    expect(events?.map((e) => e.event)).to.deep.equal(["ChangeProposed", "ChangeCancelled"]);

    const refusing = new Proxy(ethers.provider, {
      get(target, property, receiver) {
        if (property === "getLogs") return () => Promise.reject(new Error("query exceeds max block range 2000"));
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const viaPublicRpc = TimelockedAppAuth__factory.connect(await appAuth.getAddress(), refusing);
    expect(await readProposalEvents(viaPublicRpc, composeHashChange(HASH_V2))).to.equal(undefined);
  });
});
