import {
  describeChange,
  OS_FIELDS,
  otherAllowedReleases,
  readAppStatus,
  readHistory,
  type AppStatus,
  type HistoryEntry,
} from "../lib/appAuth.js";
import { assessOnChain } from "../lib/devproof-report.js";
import { readDevProofSnapshot } from "../lib/devproof-snapshot.js";
import { UserError } from "../lib/errors.js";
import { connectKms } from "../lib/kms.js";
import { formatCountdown, formatDate, formatDuration, formatNotice, formatRelative } from "../lib/format.js";
import { shown } from "../lib/untrusted/text.js";
import { checkBlockNumber, parseAddress } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface AppStatusArgs extends AppOptions {
  fromBlock: number;
  /** A dstack KMS to describe: the app's registration, the KMS's owner and proxy, who controls OS images. */
  kms?: string | undefined;
}

export default defineAction(async (args: AppStatusArgs, hre) => {
  const app = parseAppOptions(args);
  const fromBlock = checkBlockNumber("from-block", args.fromBlock);
  const kmsAddress = args.kms === undefined ? undefined : parseAddress("kms", args.kms);
  const session = await openApp(hre, app, false);
  const status = await readAppStatus(session.appAuth);
  console.log(`TimelockedAppAuth ${status.address} on ${session.where}`);
  console.log(renderStatus(status));
  if (kmsAddress !== undefined) {
    // The same lines as the report's (lib/devproof-report.ts): the KMS is code the app relies on too.
    await connectKms(kmsAddress, session.ethers.provider, session.where);
    const snapshot = await readDevProofSnapshot(session.ethers.provider, status.address, { kms: kmsAddress });
    console.log("", `The KMS the app relies on (${kmsAddress}):`);
    for (const line of assessOnChain(snapshot).filter((l) => l.id.startsWith("kms."))) {
      console.log(`  ${line.level.padEnd(4)}  ${line.title}`, `\n        ${line.evidence}`);
    }
  }

  let history: HistoryEntry[];
  try {
    history = await readHistory(session.appAuth, { fromBlock, toBlock: status.blockNumber });
  } catch (error) {
    // Public RPCs cap the block range of eth_getLogs: the state above stands, but say how to get the history.
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new UserError(
      `the node refused the event logs of blocks ${fromBlock}..${status.blockNumber} (${reason}): ` +
        "pass --from-block <the contract's deployment block>",
    );
  }
  console.log(renderHistory(history, fromBlock));
  return { status, history };
});

/** The policy and open proposals as text, with countdowns against the chain's clock. */
export function renderStatus(status: AppStatus): string {
  const now = status.timestamp;
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`${`${label}:`.padEnd(20)}${value}`);

  row("At block", `${status.blockNumber} (${formatDate(now)}; times below are the chain's clock)`);
  row("Owner", status.owner);
  row("Pending owner", status.pendingOwner ?? "none");
  row(
    "Notice period",
    `${formatNotice(status.noticePeriod)}; bounds ${formatDuration(status.minNoticePeriod)} to ` +
      `${formatDuration(status.maxNoticePeriod)}, grace period ${formatDuration(status.gracePeriod)}`,
  );
  row(
    "Upgrades",
    status.upgradesDisabled
      ? "DISABLED for good: nothing can be proposed or activated"
      : "enabled: widening changes wait the notice period",
  );
  row("TCB", status.requireTcbUpToDate ? 'only "UpToDate" accepted' : "out-of-date TCB accepted");
  row("Devices", status.allowAnyDevice ? "ANY device accepted" : "only listed devices accepted");
  row(
    "OS",
    status.os.some((pin) => pin.pinned)
      ? `pinned (${OS_FIELDS.filter((_, i) => status.os[i]!.pinned)
          .map((f) => f.label)
          .join(" and ")}): any other OS is refused, a new one waits the notice`
      : "not pinned: any OS image the KMS owner allows boots, at once (pin-os pins it)",
  );
  row(
    "Current release",
    status.currentRelease === undefined
      ? "none"
      : `${status.currentRelease.composeHash} since ${formatDate(status.currentRelease.setAt)}`,
  );
  const older = otherAllowedReleases(status);
  row(
    "Older releases",
    older.length === 0
      ? "none allowed: the owner cannot downgrade"
      : `${older.length} still allowed (oldest allowed ${formatRelative(older[0]!.allowedAt, now)}): the owner can ` +
          "roll back to any of them at once; retire them with remove-hash or activate-hash --retire-others",
  );

  lines.push("", `Allowed compose hashes (${status.composeHashes.length}):`);
  for (const { composeHash, uri, isCurrentRelease, allowedAt } of status.composeHashes) {
    lines.push(
      `  ${composeHash}${isCurrentRelease ? "  [current release]" : ""}`,
      `      uri: ${shown(uri)}`,
      `      allowed since: ${formatDate(allowedAt)} (${formatRelative(allowedAt, now)})`,
    );
  }
  const ignored = status.allowAnyDevice ? " (not needed while any device is accepted)" : "";
  lines.push("", `Listed devices (${status.devices.length})${ignored}:`);
  for (const device of status.devices) lines.push(`  ${device}`);

  OS_FIELDS.forEach((field, i) => {
    const pin = status.os[i]!;
    if (!pin.pinned) return;
    lines.push("", `Pinned ${field.label} values (${pin.values.length}):`);
    for (const value of pin.values) lines.push(`  ${value}`);
  });

  lines.push("", `Open proposals (${status.proposals.length}):`);
  for (const proposal of status.proposals) {
    lines.push(`  ${describeChange(proposal)}  [${proposal.state}]`);
    if (proposal.uri !== "") lines.push(`      uri:        ${shown(proposal.uri)}`);
    lines.push(
      `      ready at:   ${formatDate(proposal.readyAt)} (${formatCountdown(proposal.readyAt, proposal.expiresAt, now)})`,
      `      expires at: ${formatDate(proposal.expiresAt)} (${formatRelative(proposal.expiresAt, now)})`,
    );
  }
  if (status.unreadable !== undefined) {
    lines.push("", `Not UTF-8 (shown with U+FFFD in place of each bad sequence): ${status.unreadable.join("; ")}`);
  }
  return lines.join("\n");
}

/** The contract's events, oldest first. */
export function renderHistory(history: HistoryEntry[], fromBlock: number): string {
  const lines = ["", `History (${history.length} events since block ${fromBlock}):`];
  for (const entry of history) {
    lines.push(
      `  block ${String(entry.blockNumber).padEnd(6)} ${formatDate(entry.timestamp)}  ${entry.event}: ${entry.description}`,
    );
  }
  return lines.join("\n");
}
