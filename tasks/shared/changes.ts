/**
 * One implementation of propose / activate / cancel for the five widening changes, and of the instant narrowing
 * calls, so every task family checks, prints and fails the same way.
 */
import {
  changeCall,
  describeChange,
  isChangeInEffect,
  proposalIdOf,
  readProposal,
  readProposalEvents,
  changeKindOf,
  type Change,
  type ChangeKind,
  type ContractCall,
  type ProposalEvent,
  OS_FIELDS,
  type OsField,
} from "../../lib/appAuth.js";
import { UserError } from "../../lib/errors.js";
import {
  formatCountdown,
  formatDate,
  formatDateWithRelative,
  formatDuration,
  formatRelative,
} from "../../lib/format.js";
import { chainNow, sendCall, type SentTransaction } from "./send.js";
import { printSessionHeader, requireOwner, type AppSession } from "./session.js";

/**
 * The tasks of each change family, to tell the user the exact next command; `undo` is the instant narrowing task that
 * takes back a change once it is in effect.
 */
const FAMILY: Record<
  ChangeKind,
  { activate: string; cancel: string; undo: string; valueOption: (change: Change) => string }
> = {
  AddComposeHash: {
    activate: "activate-hash",
    cancel: "cancel-hash",
    undo: "remove-hash",
    valueOption: (c) => ` --hash ${c.value}`,
  },
  AddDevice: {
    activate: "activate-device",
    cancel: "cancel-device",
    undo: "remove-device",
    valueOption: (c) => ` --device ${c.value}`,
  },
  AllowAnyDevice: {
    activate: "activate-allow-any-device",
    cancel: "cancel-allow-any-device",
    undo: "restrict-devices",
    valueOption: () => "",
  },
  AllowOutdatedTcb: {
    activate: "activate-allow-outdated-tcb",
    cancel: "cancel-allow-outdated-tcb",
    undo: "require-up-to-date-tcb",
    valueOption: () => "",
  },
  ShortenNotice: {
    activate: "activate-notice",
    cancel: "cancel-notice",
    undo: "set-notice", // with a longer notice than the value: see undoHint
    valueOption: (c) => ` --notice ${BigInt(c.value)}`,
  },
  AddMrSystem: osFamily(0),
  AddOsImageHash: osFamily(1),
  UnpinMrSystem: unpinFamily(0),
  UnpinOsImageHash: unpinFamily(1),
};

function osFamily(field: OsField) {
  return {
    activate: "activate-os",
    cancel: "cancel-os",
    undo: "remove-os",
    valueOption: (c: Change) => ` --field ${OS_FIELDS[field].option} --value ${c.value}`,
  };
}

/** Unpinning is undone by pinning again, at once (pin-os with the value to allow). */
function unpinFamily(field: OsField) {
  return {
    activate: "activate-unpin-os",
    cancel: "cancel-unpin-os",
    undo: "pin-os",
    valueOption: () => ` --field ${OS_FIELDS[field].option}`,
  };
}

function command(session: AppSession, task: string, change: Change): string {
  return `npx hardhat ${task} --app ${session.address}${FAMILY[change.kind].valueOption(change)} --network ${session.networkName}`;
}

export interface ProposeResult extends SentTransaction {
  proposalId: string;
  readyAt: bigint;
  expiresAt: bigint;
}

/** Proposes a widening change (owner only), after checking it is not already open and upgrades are enabled. */
export async function proposeChange(session: AppSession, change: Change, uri = ""): Promise<ProposeResult> {
  const what = describeChange(change);
  const call = changeCall("propose", change, uri);
  await requireOwner(session, call, `propose to ${what}`);
  await requireUpgradesEnabled(session, `propose to ${what}`);
  const existing = await readProposal(session.appAuth, change);
  const now = await chainNow(session);
  if (existing.state === "Ready") {
    throw new UserError(
      `a proposal to ${what} is already open and ${formatCountdown(existing.readyAt, existing.expiresAt, now)}: ` +
        `activate it instead: ${command(session, FAMILY[change.kind].activate, change)}`,
    );
  }
  if (existing.state === "Waiting") {
    throw new UserError(
      `a proposal to ${what} is already open (${formatCountdown(existing.readyAt, existing.expiresAt, now)}, ` +
        `at ${formatDate(existing.readyAt)}); proposing it again would reset its timer, so the contract refuses; ` +
        `to start over, cancel it first: ${command(session, FAMILY[change.kind].cancel, change)}`,
    );
  }
  if (existing.state === "Expired") {
    console.log(
      `An earlier proposal to ${what} expired at ${formatDate(existing.expiresAt)}; this one starts a fresh notice.`,
    );
  }
  const notice = await session.appAuth.noticePeriod();
  printSessionHeader(session);
  console.log(
    `Proposing to ${what}${uri === "" ? "" : ` (compose file at ${uri})`}. ` +
      `It waits the notice period of ${formatDuration(notice)}; then anyone can activate it.`,
  );
  const sent = await sendCall(session, call);
  const event = sent.events.find((e) => e.name === "ChangeProposed");
  if (event === undefined) throw new Error(`transaction ${sent.hash} emitted no ChangeProposed event`);
  const readyAt = event.args.getValue("readyAt") as bigint;
  const expiresAt = event.args.getValue("expiresAt") as bigint;
  const minedAt = await chainNow(session);
  console.log(`Proposed (id ${event.args.getValue("id") as string}).`);
  console.log(`  Ready at:   ${formatDateWithRelative(readyAt, minedAt)}`);
  console.log(`  Expires at: ${formatDateWithRelative(expiresAt, minedAt)} unless activated before`);
  console.log(`Then anyone can activate it: ${command(session, FAMILY[change.kind].activate, change)}`);
  return { ...sent, proposalId: proposalIdOf(change), readyAt, expiresAt };
}

/** Activates a ready proposal (anyone may); explains precisely why not when it is not ready. */
export async function activateChange(
  session: AppSession,
  change: Change,
  retire: readonly string[] = [],
): Promise<SentTransaction> {
  const what = describeChange(change);
  const call: ContractCall =
    retire.length === 0
      ? changeCall("activate", change)
      : { method: "activateComposeHashAndRetire", args: [change.value, [...retire]] };
  if (retire.length > 0) {
    if (change.kind !== "AddComposeHash") throw new Error("only a compose-hash activation can retire releases");
    await requireOwner(session, call, `${what} and retire ${retire.length} older release(s)`);
  }
  const proposal = await readProposal(session.appAuth, change);
  const now = await chainNow(session);
  switch (proposal.state) {
    case "None":
      throw new UserError(await whyNoProposal(session, change, "activate", now));
    case "Waiting":
      throw new UserError(
        `the proposal to ${what} is not ready yet: ready at ${formatDateWithRelative(proposal.readyAt, now)}`,
      );
    case "Expired":
      throw new UserError(
        `the proposal to ${what} expired at ${formatDateWithRelative(proposal.expiresAt, now)} without being ` +
          `activated; it must be proposed again, with a fresh notice`,
      );
    case "Voided":
      throw new UserError(`upgrades are disabled for good on ${session.address}: the proposal to ${what} is void`);
    case "Ready":
      break;
  }
  printSessionHeader(session);
  console.log(`Activating: ${what} (${formatCountdown(proposal.readyAt, proposal.expiresAt, now)}).`);
  for (const hash of retire) console.log(`Retiring at once (narrowing): compose hash ${hash}`);
  const sent = await sendCall(session, call);
  console.log(
    `Activated: ${what}.${change.kind === "AddComposeHash" ? " It is allowed and is now the current release." : ""}`,
  );
  if (retire.length > 0) {
    console.log(
      `Retired ${retire.length} older release(s): no CVM can boot them and the owner cannot roll back to them.`,
    );
  }
  return sent;
}

/** Cancels an open proposal (owner only). */
export async function cancelChange(session: AppSession, change: Change): Promise<SentTransaction> {
  const what = describeChange(change);
  const call = changeCall("cancel", change);
  await requireOwner(session, call, `cancel the proposal to ${what}`);
  const proposal = await readProposal(session.appAuth, change);
  if (proposal.state === "None") throw new UserError(await whyNoProposal(session, change, "cancel"));
  printSessionHeader(session);
  console.log(`Cancelling the proposal to ${what} (${proposal.state.toLowerCase()}).`);
  const sent = await sendCall(session, call);
  console.log(`Cancelled: the proposal to ${what} will not take effect.`);
  return sent;
}

/** Sends a narrowing change (owner only), which takes effect at once. The caller checks its preconditions. */
export async function applyNarrowing(session: AppSession, call: ContractCall, what: string): Promise<SentTransaction> {
  await requireOwner(session, call, what);
  printSessionHeader(session);
  console.log(`About to ${what}. This narrows what may run, so it takes effect at once.`);
  const sent = await sendCall(session, call);
  console.log(`Done: ${what}.`);
  return sent;
}

export async function requireUpgradesEnabled(session: AppSession, what: string): Promise<void> {
  if (await session.appAuth.upgradesDisabled()) {
    throw new UserError(`cannot ${what}: upgrades are disabled for good on ${session.address}`);
  }
}

/**
 * Why a change has no proposal to activate or cancel. The contract forgets a proposal once it is activated or
 * cancelled, so the change's state (is it in effect?) and its proposal events tell the cases apart: already in effect
 * (and since when), cancelled, activated and taken back since, never proposed. Each case is said once, with the next
 * step.
 */
async function whyNoProposal(
  session: AppSession,
  change: Change,
  action: "activate" | "cancel",
  now?: bigint,
): Promise<string> {
  const what = describeChange(change);
  const [inEffect, events, clock] = await Promise.all([
    isChangeInEffect(session.appAuth, change),
    readProposalEvents(session.appAuth, change),
    now ?? chainNow(session),
  ]);
  const last = events?.at(-1);
  const at = (event: ProposalEvent) =>
    `in block ${event.blockNumber} at ${formatDate(event.timestamp)} ` +
    `(${formatRelative(event.timestamp, clock)}, transaction ${event.transactionHash})`;
  if (inEffect) {
    const since =
      last?.event === "ChangeActivated"
        ? `: its proposal was activated ${at(last)} by ${last.activatedBy}`
        : events?.length !== 0
          ? ""
          : change.kind === "ShortenNotice"
            ? " without a proposal (set at deployment, or by lengthening the notice, which is instant)"
            : " since the contract was deployed (it was never proposed)";
    if (action === "activate") {
      return `nothing to activate: "${what}" is already in effect${since}${await releaseHint(session, change)}`;
    }
    return `too late to cancel: "${what}" is already in effect${since}; ${undoHint(session, change)}`;
  }
  const next = action === "activate" ? "it must be proposed again, with a fresh notice" : "there is nothing to cancel";
  switch (last?.event) {
    case "ChangeCancelled":
      return `the proposal to ${what} was ${action === "cancel" ? "already " : ""}cancelled ${at(last)}; ${next}`;
    case "ChangeActivated":
      return `the proposal to ${what} was activated ${at(last)}, and a narrowing change has taken it back since; ${next}`;
    case undefined:
      if (events !== undefined) {
        return `there was never a proposal to ${what} on ${session.address}${await otherOpen(session, change)}`;
      }
      break;
    case "ChangeProposed":
      break; // a proposal the contract no longer has, with no later event: the node's logs are incomplete
  }
  return (
    `there is no open proposal to ${what} on ${session.address}: it was never proposed, or was cancelled, or was ` +
    `activated and taken back since (the node did not return the contract's events to tell which)` +
    (await otherOpen(session, change))
  );
}

/** The instant narrowing command that takes back a change in effect. */
function undoHint(session: AppSession, change: Change): string {
  if (change.kind === "ShortenNotice") {
    return `to lengthen the notice again, at once: npx hardhat set-notice --app ${session.address} --notice <longer> --network ${session.networkName}`;
  }
  if (change.kind === "UnpinMrSystem" || change.kind === "UnpinOsImageHash") {
    return `to pin it again, at once: ${command(session, FAMILY[change.kind].undo, change)} --value <value>`;
  }
  return `to take it back, at once: ${command(session, FAMILY[change.kind].undo, change)}`;
}

/** For a compose hash already allowed: whether it runs, and how to make it run again. */
async function releaseHint(session: AppSession, change: Change): Promise<string> {
  if (change.kind !== "AddComposeHash") return "";
  const [current] = await session.appAuth.currentRelease();
  return current === change.value
    ? "; it is the current release"
    : `; to make it the current release again: ${command(session, "roll-back", change)}`;
}

/** "; open proposals of this kind: …" when there are any: helps when a value was mistyped or a file's bytes changed. */
async function otherOpen(session: AppSession, change: Change): Promise<string> {
  const open = (await session.appAuth.getProposals())
    .filter((p) => changeKindOf(p.kind) === change.kind)
    .map((p) => ({ kind: changeKindOf(p.kind), value: p.value }));
  if (open.length === 0) return "";
  const values = open.map((p) => (p.kind === "ShortenNotice" ? formatDuration(BigInt(p.value)) : p.value));
  return `; open proposals of this kind: ${values.join(", ")}`;
}
