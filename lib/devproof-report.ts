/**
 * The DevProof report: which ERC-733 stage an app's on-chain policy (and, given one, its compose file) meets, line by
 * line, each PASS / WARN / FAIL / INFO with its evidence. Pure functions over a snapshot read elsewhere
 * (lib/devproof-snapshot.ts), so the rules are unit-tested without a chain and the status page runs the same rules
 * in the browser: nothing here imports node:.
 *
 * The stage:
 * - **Stage 0 ("ruggable")**: some line FAILs. Every FAIL names a way to change what runs, or where its data goes,
 *   without the public notice: an instant `addComposeHash`, an upgradeable proxy, a notice under 7 days, an
 *   unpinned image, an operator variable that picks the image or redirects data, a debugger port, no KMS.
 * - **Stage 1 ("DevProof")**: no FAIL. Widening changes wait at least 7 days (the ERC-733 / L2BEAT Stage-1 bar).
 * - **Stage 2 style**: Stage 1 and every Stage-2 line passes: a notice of at least 30 days, or upgrades disabled.
 * WARN lines never change the stage: they name what a careful user should look at (a single-key owner, a pending
 * widening proposal, an operator-supplied credential, a privileged container, ...).
 */
import { parse as parseYaml } from "yaml";

import { describeChange, OS_FIELDS, otherAllowedReleases, type AppStatus, type ProposalInfo } from "./appAuth.js";
import { formatCountdown, formatDate, formatDuration, formatNotice, formatRelative } from "./format.js";
import { safeJson, shown } from "./untrusted/text.js";

// ---------------------------------------------------------------------------------------------------------------
// The snapshot the rules read
// ---------------------------------------------------------------------------------------------------------------

/** Everything the report needs, read at one block (see `readDevProofSnapshot`). */
export interface DevProofSnapshot {
  app: string;
  chainId: bigint;
  blockNumber: number;
  /** The chain's clock at that block: countdowns are against it. */
  timestamp: bigint;
  hasCode: boolean;
  /** ERC-165: dstack's `IAppAuth` (0x1e079198), which the KMS needs. */
  supportsAppAuth: boolean;
  /** Whether `supportsInterface` answered at all (false: the call reverted or returned garbage: no ERC-165). */
  answersErc165?: boolean | undefined;
  /**
   * How the contract answered a probe `isAppAllowed(bootInfo)` (for a boot of itself with zero measurements), the
   * call dstack's KMS makes at every boot: `answers` with a `(bool, string)`, or `reverts` (or returns data that is
   * not one). It tells a genuine AppAuth without ERC-165 (dstack's own, before June 2025) from a contract that is
   * no AppAuth at all. Undefined when not asked.
   */
  isAppAllowedProbe?: "answers" | "reverts" | undefined;
  /** Whether it answers dstack's KMS `registeredApps`, `allowedOsImages` and `isAppAllowed`: the KMS, not a policy. */
  isKms?: boolean | undefined;
  /** ERC-165 `ITimelockedAppAuth`: present (with the full status) only for a TimelockedAppAuth. */
  timelocked: AppStatus | undefined;
  /** dstack's `IAppAuthBasicManagement` (0x8fd37527): `addComposeHash` and friends, which act at once. */
  supportsBasicManagement: boolean;
  /** Non-zero EIP-1967 slots: an implementation or beacon means the rules themselves can be swapped. */
  proxy: { implementation?: string; beacon?: string; admin?: string };
  /** `owner()`, when the contract answers it. */
  owner: string | undefined;
  /** Whether there is code at the owner's address (a multisig or a timelock) rather than a single key. */
  ownerIsContract: boolean | undefined;
  /**
   * `--kms`: whether that KMS has the app registered, so it asks this policy at every boot; and the CA key it
   * publishes (`kmsInfo().caPubkey`, 0x-hex; undefined for a KMS without `kmsInfo`), which a CVM's `key_provider_id`
   * pins.
   */
  kms?: KmsEvidence | undefined;
  /**
   * A timelocked shape other than ours, recognised from what the contract (or its owner) answers: what the chain says
   * about its notice and open proposals. Its rules are code the report cannot read, so it is never taken as verified.
   */
  otherTimelock?: OtherTimelock | undefined;
  compose?: ComposeEvidence | undefined;
}

/** What the KMS at `--kms` says about itself: the app's registration, its keys, who controls it. */
export interface KmsEvidence {
  address: string;
  registered: boolean;
  caPubkey?: string | undefined;
  /** The KMS's `owner()`: in dstack's `DstackKms`, who allows OS images and may upgrade it. Undefined: not answered. */
  owner?: string | undefined;
  ownerIsContract?: boolean | undefined;
  /** Its non-zero EIP-1967 slots (dstack's `DstackKms` is a UUPS proxy). Undefined: not read. */
  proxy?: { implementation?: string; beacon?: string; admin?: string } | undefined;
}

/**
 * Timelocked shapes the report recognises but cannot verify:
 * - `notice-per-hash`: the shape of dstack's tutorial `TimelockAppAuth`: `noticePeriod()`, `proposedAt(bytes32)`,
 *   `ComposeHashProposed(bytes32 indexed, uint256 activatesAt)` events;
 * - `owner-timelock`: an AppAuth whose owner answers `getMinDelay()` (OpenZeppelin's `TimelockController`).
 */
export type OtherTimelock =
  | {
      kind: "notice-per-hash";
      noticePeriod: bigint;
      /** Open proposals (`proposedAt(hash) != 0`), from the proposal events; undefined when the logs were refused. */
      proposals: Array<{ composeHash: string; proposedAt: bigint; activatesAt: bigint }> | undefined;
    }
  | { kind: "owner-timelock"; owner: string; minDelay: bigint };

/** A compose file and what the chain says about its hash. */
export interface ComposeEvidence {
  /** Where it came from, for the evidence: a path or a URL. */
  source: string;
  /** Its text (UTF-8), for parsing. */
  text: string;
  /** `0x` + sha256 of its exact bytes: what the CVM measures. */
  sha256: string;
  /** Whether the contract answers `allowedComposeHashes(sha256) == true`; undefined if it cannot be asked. */
  allowedOnChain: boolean | undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------------------------

export const LEVELS = ["PASS", "WARN", "FAIL", "INFO"] as const;
export type Level = (typeof LEVELS)[number];

export interface ReportLine {
  /** Stable id, for scripts: `notice.stage1`, `compose.images`, `proposal.0x1234abcd`, ... */
  id: string;
  level: Level;
  /** The check, or its result, in a few words. */
  title: string;
  /** What was read, so the reader can check it. */
  evidence: string;
  /** The stage whose bar this line is part of (a FAIL at 1 means Stage 0; a WARN at 2 means at most Stage 1). */
  stage?: 1 | 2;
  /**
   * The line is part of the stage's bar but the chain cannot settle it (a contract whose rules are code the report
   * cannot read): the stage holds only if what the line says to read holds. Always a WARN.
   */
  unverified?: true;
}

export type Stage = 0 | 1 | 2;

export interface DevProofReport {
  app: string;
  chainId: string;
  blockNumber: number;
  timestamp: string;
  stage: Stage;
  /** "Stage 1: DevProof", ...; with "(unverified: ...)" when some line of its bar could not be verified. */
  stageTitle: string;
  /** Whether the stage rests on unverified lines (what they say an auditor must read). */
  unverified?: true;
  lines: ReportLine[];
}

export const STAGE_TITLES: Record<Stage, string> = {
  0: "Stage 0: ruggable — there is a way to change the code or its data flows without notice",
  1: "Stage 1: DevProof — every change that widens what runs waits at least 7 days",
  2: "Stage 2 style: DevProof with a notice of at least 30 days (or no upgrades at all)",
};

/** The ERC-733 / L2BEAT Stage-1 bar: users get at least 7 days to read a change and leave. */
export const STAGE1_NOTICE_SECONDS = 7n * 86_400n;
/** The Stage-2 style bar (L2BEAT's Stage-2 exit window). */
export const STAGE2_NOTICE_SECONDS = 30n * 86_400n;

/** The stage a set of lines meets: 0 with any FAIL; 2 when every Stage-2 line passes too; else 1. */
export function stageOf(lines: readonly ReportLine[]): Stage {
  if (lines.some((line) => line.level === "FAIL")) return 0;
  // A stage that rests on a line the chain cannot settle is never more than 1.
  return lines.every((line) => (line.stage !== 2 || line.level === "PASS") && line.unverified !== true) ? 2 : 1;
}

/** Assesses a snapshot: the on-chain lines, then the compose file's when there is one. */
export function buildReport(snapshot: DevProofSnapshot): DevProofReport {
  const lines = [...assessOnChain(snapshot), ...(snapshot.compose ? assessCompose(snapshot.compose, snapshot) : [])];
  const stage = stageOf(lines);
  const unverified = stage > 0 && lines.some((line) => line.unverified === true);
  return {
    app: snapshot.app,
    chainId: snapshot.chainId.toString(),
    blockNumber: snapshot.blockNumber,
    timestamp: formatDate(snapshot.timestamp),
    stage,
    stageTitle: unverified
      ? `${STAGE_TITLES[stage]} — UNVERIFIED: only if what the "cannot verify" lines say to read holds`
      : STAGE_TITLES[stage],
    ...(unverified ? { unverified: true as const } : {}),
    lines,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// On-chain rules
// ---------------------------------------------------------------------------------------------------------------

/**
 * Why the address is not an app's AppAuth, so that there is nothing to grade, in one sentence; undefined when it is
 * one. An AppAuth is what dstack's KMS can ask at every boot: a contract whose `isAppAllowed(bootInfo)` answers. Its
 * ERC-165 answer alone does not decide: dstack's own AppAuth had no ERC-165 before June 2025 (and is still deployed),
 * and dstack's KMS says it supports IAppAuth too.
 */
export function notAnAppAuth(snapshot: DevProofSnapshot): string | undefined {
  const where = `at ${snapshot.app} on chain ${snapshot.chainId} (block ${snapshot.blockNumber})`;
  if (!snapshot.hasCode) {
    return (
      `there is no contract ${where}: it is an account without code (an EOA), ` +
      "or nothing is deployed there on this chain"
    );
  }
  if (snapshot.isKms === true) {
    return (
      `the contract ${where} is a dstack KMS (it answers registeredApps and allowedOsImages), ` +
      "not an app's auth contract: an app's id is the address of its own AppAuth"
    );
  }
  if (snapshot.isAppAllowedProbe !== "reverts") return undefined;
  const erc165 = snapshot.supportsAppAuth
    ? "it says it implements IAppAuth (supportsInterface(0x1e079198) is true), but"
    : snapshot.answersErc165 === false
      ? "it has no ERC-165 (supportsInterface reverts), and"
      : "supportsInterface(0x1e079198) is false, and";
  return (
    `the contract ${where} is not a dstack AppAuth: ${erc165} isAppAllowed(bootInfo), the call dstack's KMS makes ` +
    "at every boot, does not answer (it reverts, or returns no (bool, string))"
  );
}

/** The lines about the contract: its kind, notice, proxy, owner, proposals, KMS registration and release. */
export function assessOnChain(snapshot: DevProofSnapshot): ReportLine[] {
  if (!snapshot.hasCode) {
    return [
      {
        id: "contract.code",
        level: "FAIL",
        title: "no contract at the app address",
        evidence: `eth_getCode(${snapshot.app}) is empty at block ${snapshot.blockNumber}: wrong address or network`,
        stage: 1,
      },
    ];
  }
  const notAppAuth = notAnAppAuth(snapshot);
  if (notAppAuth !== undefined) {
    // Nothing to grade: every other line would judge a policy that is not there.
    return [{ id: "contract.app-auth", level: "FAIL", title: "not a dstack AppAuth", evidence: notAppAuth, stage: 1 }];
  }
  const lines: ReportLine[] = [];
  lines.push(
    snapshot.supportsAppAuth
      ? {
          id: "contract.app-auth",
          level: "PASS",
          title: "implements dstack's IAppAuth",
          evidence: "supportsInterface(0x1e079198) is true: dstack's KMS can ask it at every boot",
        }
      : snapshot.isAppAllowedProbe === "answers"
        ? {
            id: "contract.app-auth",
            level: "PASS",
            title: "answers dstack's IAppAuth, without ERC-165",
            evidence:
              "isAppAllowed(bootInfo) answers, so dstack's KMS (which does not ask ERC-165) can ask it at every boot; " +
              "supportsInterface(0x1e079198) is not true, as in dstack's own AppAuth before June 2025",
          }
        : {
            id: "contract.app-auth",
            level: "WARN",
            title: "does not say it implements dstack's IAppAuth",
            evidence: "supportsInterface(0x1e079198) is not true: dstack's KMS may not be able to ask it",
          },
  );
  lines.push(proxyLine(snapshot));
  const status = snapshot.timelocked;
  if (status !== undefined) lines.push(...assessTimelocked(snapshot, status));
  else if (snapshot.otherTimelock !== undefined) lines.push(...assessOtherTimelock(snapshot, snapshot.otherTimelock));
  else lines.push(...assessInstantAppAuth(snapshot));
  lines.push(ownerLine(snapshot));
  lines.push(...kmsLines(snapshot));
  return lines;
}

function proxyLine(snapshot: DevProofSnapshot): ReportLine {
  const { implementation, beacon, admin } = snapshot.proxy;
  const ownerTimelock = snapshot.otherTimelock?.kind === "owner-timelock" ? snapshot.otherTimelock : undefined;
  if (implementation === undefined && beacon === undefined) {
    return {
      id: "contract.proxy",
      level: "PASS",
      title: "not an upgradeable proxy",
      evidence: "the EIP-1967 implementation and beacon slots are empty",
      stage: 1,
    };
  }
  const parts = [
    implementation === undefined ? undefined : `implementation ${implementation}`,
    beacon === undefined ? undefined : `beacon ${beacon}`,
    admin === undefined ? undefined : `admin ${admin}`,
  ].filter((part) => part !== undefined);
  if (ownerTimelock !== undefined && admin === undefined) {
    return {
      id: "contract.proxy",
      level: "WARN",
      unverified: true,
      title: "an upgradeable proxy, owned by a timelock: cannot verify that upgrades wait",
      evidence:
        `EIP-1967 slots: ${parts.join(", ")}; its owner ${ownerTimelock.owner} answers getMinDelay() = ` +
        `${formatNotice(ownerTimelock.minDelay)}. The chain does not say who the implementation lets upgrade ` +
        `(read its source: upgradeToAndCall / _authorizeUpgrade must admit only owner())`,
      stage: 1,
    };
  }
  return {
    id: "contract.proxy",
    level: "FAIL",
    title: "instant upgrade path: Stage 0 — an upgradeable proxy",
    evidence:
      `EIP-1967 slots: ${parts.join(", ")}. Whoever may upgrade it can replace the policy's rules at once, ` +
      "bypassing any notice the current implementation enforces",
    stage: 1,
  };
}

function assessInstantAppAuth(snapshot: DevProofSnapshot): ReportLine[] {
  const frozen = snapshot.owner !== undefined && /^0x0{40}$/i.test(snapshot.owner);
  const how = snapshot.supportsBasicManagement
    ? "it answers IAppAuthBasicManagement (0x8fd37527): its owner allows new code with addComposeHash, at once"
    : "nothing on-chain makes its changes wait: a dstack-style AppAuth lets its owner allow new code at once";
  return [
    {
      id: "contract.timelocked",
      level: "INFO",
      title: "not a TimelockedAppAuth",
      evidence: "supportsInterface(ITimelockedAppAuth) is not true",
    },
    frozen
      ? {
          id: "upgrade-path",
          level: "PASS",
          title: "no instant upgrade path: the owner renounced",
          evidence: `owner() is the zero address: nobody can change the policy (${how})`,
          stage: 1,
        }
      : {
          id: "upgrade-path",
          level: "FAIL",
          title: "instant upgrade path: Stage 0",
          evidence: `${how}; users learn of new code after it can already boot`,
          stage: 1,
        },
    {
      id: "notice.stage1",
      level: frozen ? "PASS" : "FAIL",
      title: frozen ? "no notice needed: nothing can change" : "no notice period",
      evidence: frozen ? "the owner renounced" : "changes to the policy take effect in the block that makes them",
      stage: 1,
    },
  ];
}

/**
 * A timelocked shape the report recognises but cannot verify (see {@link OtherTimelock}): it reads the notice and the
 * open proposals from the chain, and says what an auditor must read before trusting the notice rule. Never "Stage 0,
 * instant" (the chain shows a notice), never a PASS (the chain does not show that nothing bypasses it).
 */
function assessOtherTimelock(snapshot: DevProofSnapshot, shape: OtherTimelock): ReportLine[] {
  const at = `${snapshot.app} on chain ${snapshot.chainId}`;
  if (shape.kind === "owner-timelock") {
    return [
      {
        id: "contract.timelocked",
        level: "INFO",
        title: "not a TimelockedAppAuth; its owner is a timelock",
        evidence: `owner() = ${shape.owner} answers getMinDelay() = ${formatNotice(shape.minDelay)} (OpenZeppelin's TimelockController shape)`,
      },
      {
        id: "upgrade-path",
        level: "WARN",
        unverified: true,
        title: "cannot verify the notice rule: read the owner timelock's roles and code",
        evidence:
          `every owner call of ${at} goes through ${shape.owner}, which says its delay is ` +
          `${formatNotice(shape.minDelay)}. The chain does not show that it is OpenZeppelin's TimelockController ` +
          "unmodified, nor who holds its roles: compare its verified source and bytecode, and check its RoleGranted " +
          "events (PROPOSER, EXECUTOR, CANCELLER, DEFAULT_ADMIN: no admin other than itself) and that updateDelay " +
          "can only be called by the timelock itself",
        stage: 1,
      },
      noticeLine(shape.minDelay, "getMinDelay() of the owner timelock"),
    ];
  }
  const lines: ReportLine[] = [
    {
      id: "contract.timelocked",
      level: "INFO",
      title: "not a TimelockedAppAuth; a notice-per-proposal shape (dstack's tutorial TimelockAppAuth)",
      evidence:
        `${at} answers noticePeriod() = ${formatNotice(shape.noticePeriod)} and proposedAt(bytes32), and emits ` +
        "ComposeHashProposed(hash, activatesAt)",
    },
    {
      id: "upgrade-path",
      level: "WARN",
      unverified: true,
      title: "cannot verify the notice rule: read the contract's source",
      evidence:
        `${at} has no interface the report can check its rules against. Read its verified source (and compare the ` +
        "deployed bytecode): every function that allows a compose hash or a device, or sets allowAnyDevice, must wait " +
        "noticePeriod from a public proposal; noticePeriod must not be settable at once; owner transfer and any " +
        "upgrade path must not bypass it",
      stage: 1,
    },
    noticeLine(shape.noticePeriod, "noticePeriod()"),
  ];
  if (shape.proposals === undefined) {
    lines.push({
      id: "proposals",
      level: "WARN",
      title: "open proposals not read",
      evidence: "the node refused the ComposeHashProposed logs: read them from an archive node or an explorer",
    });
  } else if (shape.proposals.length === 0) {
    lines.push({
      id: "proposals",
      level: "PASS",
      title: "no open proposal",
      evidence: "proposedAt(hash) is 0 for every proposed hash",
    });
  } else {
    for (const proposal of shape.proposals) {
      lines.push({
        id: `proposal.${proposal.composeHash.slice(0, 10)}`,
        level: "WARN",
        title: `proposed compose hash ${proposal.composeHash}`,
        evidence:
          `proposed ${formatDate(proposal.proposedAt)}; can be activated by anyone from ${formatDate(proposal.activatesAt)} ` +
          (snapshot.timestamp < proposal.activatesAt
            ? `ready in ${formatDuration(proposal.activatesAt - snapshot.timestamp)}): audit it before then`
            : "ready now): it may boot as soon as anyone activates it"),
      });
    }
  }
  return lines;
}

/** The notice a recognised (unverified) timelock says it has, against the Stage-1 bar; never PASS. */
function noticeLine(notice: bigint, source: string): ReportLine {
  return notice < STAGE1_NOTICE_SECONDS
    ? {
        id: "notice.stage1",
        level: "FAIL",
        title: "notice period under 7 days: Stage 0",
        evidence: `${source} = ${formatNotice(notice)}: users get less than the 7 days the Stage-1 bar asks`,
        stage: 1,
      }
    : {
        id: "notice.stage1",
        level: "WARN",
        unverified: true,
        title: "notice period of at least 7 days, as the contract says (unverified)",
        evidence: `${source} = ${formatNotice(notice)}; it holds only if the rule above does`,
        stage: 1,
      };
}

function assessTimelocked(snapshot: DevProofSnapshot, status: AppStatus): ReportLine[] {
  const lines: ReportLine[] = [
    {
      id: "contract.timelocked",
      level: "PASS",
      title: "a TimelockedAppAuth: widening changes wait the notice",
      evidence:
        "supportsInterface(ITimelockedAppAuth) is true: new compose hashes, devices, allow-any-device, " +
        "allow-outdated-TCB and shorter notices are proposed publicly and wait; narrowing changes are instant",
    },
  ];
  const notice = status.noticePeriod;
  if (status.upgradesDisabled) {
    const evidence = "upgradesDisabled() is true: nothing can be proposed or activated, ever";
    lines.push(
      { id: "upgrades", level: "PASS", title: "upgrades disabled for good", evidence },
      { id: "notice.stage1", level: "PASS", title: "no notice needed: no change can take effect", evidence, stage: 1 },
      { id: "notice.stage2", level: "PASS", title: "no notice needed: no change can take effect", evidence, stage: 2 },
    );
  } else {
    lines.push(
      {
        id: "upgrades",
        level: "INFO",
        title: "upgrades enabled",
        evidence: `new releases can be proposed; each waits ${formatDuration(notice)} before anyone may activate it`,
      },
      notice >= STAGE1_NOTICE_SECONDS
        ? {
            id: "notice.stage1",
            level: "PASS",
            title: "notice period of at least 7 days",
            evidence: `noticePeriod() = ${formatNotice(notice)}`,
            stage: 1,
          }
        : {
            id: "notice.stage1",
            level: "FAIL",
            title: "notice period under 7 days: Stage 0",
            evidence: `noticePeriod() = ${formatNotice(notice)}; Stage 1 needs at least ${formatNotice(STAGE1_NOTICE_SECONDS)} to read a change and leave`,
            stage: 1,
          },
      notice >= STAGE2_NOTICE_SECONDS
        ? {
            id: "notice.stage2",
            level: "PASS",
            title: "notice period of at least 30 days",
            evidence: `noticePeriod() = ${formatNotice(notice)}`,
            stage: 2,
          }
        : {
            id: "notice.stage2",
            level: "WARN",
            title: "notice period under 30 days (Stage 2 style asks for 30)",
            evidence: `noticePeriod() = ${formatNotice(notice)}`,
            stage: 2,
          },
    );
  }
  lines.push(...proposalLines(status));
  lines.push(releaseLine(status), downgradeLine(status));
  if (status.unreadable !== undefined) {
    lines.push({
      id: "uris.unreadable",
      level: "WARN",
      title: "the owner published compose URIs that are not UTF-8: users cannot follow them to audit the file",
      evidence: `${status.unreadable.join("; ")} (shown with U+FFFD in place of each bad sequence)`,
    });
  }
  lines.push(
    status.requireTcbUpToDate
      ? {
          id: "tcb",
          level: "PASS",
          title: 'only an "UpToDate" TCB is accepted',
          evidence: "requireTcbUpToDate() is true",
        }
      : {
          id: "tcb",
          level: "WARN",
          title: "an out-of-date TCB is accepted",
          evidence: "requireTcbUpToDate() is false: machines with known, unpatched TDX vulnerabilities get the keys",
        },
    status.allowAnyDevice
      ? {
          id: "devices",
          level: "INFO",
          title: "any TDX machine may run the app",
          evidence: "allowAnyDevice() is true",
        }
      : {
          id: "devices",
          level: "INFO",
          title: `only ${status.devices.length} listed device(s) may run the app`,
          evidence: status.devices.length === 0 ? "no device listed" : status.devices.join(", "),
        },
  );
  return lines;
}

function proposalLines(status: AppStatus): ReportLine[] {
  const open = status.proposals.filter((p) => p.state === "Waiting" || p.state === "Ready");
  if (open.length === 0) {
    return [
      {
        id: "proposals",
        level: "PASS",
        title: "no pending proposal",
        evidence:
          status.proposals.length === 0
            ? "getProposals() is empty"
            : `getProposals() lists only ${status.proposals.map((p) => p.state.toLowerCase()).join(", ")} ones, which can never take effect`,
      },
    ];
  }
  return open.map((proposal) => proposalLine(proposal, status.timestamp));
}

function proposalLine(proposal: ProposalInfo, now: bigint): ReportLine {
  const when = formatCountdown(proposal.readyAt, proposal.expiresAt, now);
  const uri = proposal.uri === "" ? "" : `; compose file: ${shown(proposal.uri)}`;
  return {
    id: `proposal.${proposal.id.slice(0, 10)}`,
    level: "WARN",
    title: `pending widening change: ${describeChange(proposal)}`,
    evidence:
      proposal.state === "Ready"
        ? `ready now: anyone may activate it until ${formatDate(proposal.expiresAt)} (${when})${uri}`
        : `can take effect at ${formatDate(proposal.readyAt)} (${when}): audit it, or leave before then${uri}`,
  };
}

function releaseLine(status: AppStatus): ReportLine {
  const release = status.currentRelease;
  if (release === undefined) {
    return { id: "release.current", level: "WARN", title: "no current release", evidence: "currentRelease() is empty" };
  }
  const allowed = status.composeHashes.some((entry) => entry.composeHash === release.composeHash);
  return allowed
    ? {
        id: "release.current",
        level: "PASS",
        title: "the current release's compose hash is allowed",
        evidence: `${release.composeHash} since ${formatDate(release.setAt)}; compose file: ${shown(release.uri)}`,
      }
    : {
        id: "release.current",
        level: "WARN",
        title: "the current release's compose hash is no longer allowed",
        evidence: `${release.composeHash} was removed: no CVM can boot it; agents keep running what they run`,
      };
}

/**
 * The downgrade surface: older releases the policy still allows. Rolling back to one is instant (it widens nothing
 * the policy does not already allow), so a release with a known hole stays one transaction away until it is retired.
 */
function downgradeLine(status: AppStatus): ReportLine {
  const older = otherAllowedReleases(status);
  if (older.length === 0) {
    return {
      id: "release.downgrade",
      level: "PASS",
      title: "no older release is allowed: the owner cannot downgrade",
      evidence: `getComposeHashes() lists ${status.composeHashes.length === 0 ? "no hash" : "only the current release"}`,
    };
  }
  const ages = older.map(
    (entry) => `${entry.composeHash} (allowed ${formatRelative(entry.allowedAt, status.timestamp)})`,
  );
  return {
    id: "release.downgrade",
    level: "WARN",
    title: `${older.length} older release(s) still allowed: the owner can downgrade to any of them at once`,
    evidence:
      `${ages.join(", ")}; any CVM may boot them and rollBackTo points the agents at them without notice. ` +
      "Check they have no known hole, or ask the owner to retire them (removeComposeHash, or activateComposeHashAndRetire " +
      "with the next upgrade)",
  };
}

function ownerLine(snapshot: DevProofSnapshot): ReportLine {
  const owner = snapshot.owner;
  const pending = snapshot.timelocked?.pendingOwner;
  const transfer = pending === undefined ? "" : `; ownership transfer to ${pending} pending (it must accept)`;
  if (owner === undefined) {
    return { id: "owner", level: "INFO", title: "owner unknown", evidence: "the contract does not answer owner()" };
  }
  if (/^0x0{40}$/i.test(owner)) {
    return {
      id: "owner",
      level: "INFO",
      title: "no owner",
      evidence: `owner() is the zero address: nothing can be proposed, and nothing revoked either${transfer}`,
    };
  }
  return snapshot.ownerIsContract === true
    ? {
        id: "owner",
        level: "PASS",
        title: "the owner is a contract (a multisig or a timelock)",
        evidence: `owner() = ${owner}, which has code: check its signers and threshold${transfer}`,
      }
    : {
        id: "owner",
        level: "WARN",
        title: "the owner is a single key (an EOA)",
        evidence:
          `owner() = ${owner}, which has no code: ` +
          (snapshot.otherTimelock !== undefined
            ? "one stolen key can propose (the notice applies only if the contract enforces it, see above)"
            : snapshot.timelocked === undefined
              ? "one stolen key can allow new code at once"
              : "one stolen key can propose (the notice still applies) and can cancel or revoke at once") +
          `; a multisig is safer${transfer}`,
      };
}

/**
 * The KMS the app relies on: whether it asks this policy, who owns it, whether it can be upgraded, and what its owner
 * decides without the app (the OS). Trusted by design (docs/auditing.md): these lines say what that trust covers.
 */
function kmsLines(snapshot: DevProofSnapshot): ReportLine[] {
  const kms = snapshot.kms;
  const lines = [kmsRegisteredLine(snapshot)];
  if (kms === undefined) return snapshot.timelocked === undefined ? lines : [...lines, osPinLine(snapshot)];
  const owner = kms.owner;
  const ownerText =
    owner === undefined
      ? "its owner (it does not answer owner())"
      : `its owner ${owner} (${kms.ownerIsContract === true ? "a contract: check its signers and any delay" : "a single key (an EOA)"})`;
  if (kms.proxy !== undefined) {
    const { implementation, beacon, admin } = kms.proxy;
    const slots = [
      implementation === undefined ? undefined : `implementation ${implementation}`,
      beacon === undefined ? undefined : `beacon ${beacon}`,
      admin === undefined ? undefined : `admin ${admin}`,
    ].filter((part) => part !== undefined);
    lines.push(
      slots.length === 0
        ? {
            id: "kms.upgradeable",
            level: "INFO",
            title: "the KMS is not an EIP-1967 proxy",
            evidence: `the EIP-1967 slots of KMS ${kms.address} are empty`,
          }
        : {
            id: "kms.upgradeable",
            level: "WARN",
            title: "the KMS is an upgradeable proxy: its owner can change its rules at once",
            evidence:
              `EIP-1967 slots of KMS ${kms.address}: ${slots.join(", ")}. dstack's DstackKms is a UUPS proxy that ` +
              `${admin === undefined ? ownerText : `its admin ${admin}`} can upgrade without notice; an upgraded KMS ` +
              "can hand out keys without asking this policy, whatever the app's notice (the chain does not say who " +
              "the implementation admits: read its _authorizeUpgrade)",
          },
    );
  }
  lines.push({
    id: "kms.owner",
    level: owner === undefined ? "INFO" : kms.ownerIsContract === true ? "INFO" : "WARN",
    title: "the KMS owner decides which OS images boot, at once",
    evidence:
      `KMS ${kms.address}: ${ownerText} allows and removes OS images (addOsImageHash / removeOsImageHash) and sets ` +
      "the KMS's keys (setKmsInfo) without notice; the app's own policy is asked only after the KMS accepts the OS image",
  });
  lines.push(osPinLine(snapshot));
  return lines;
}

/**
 * Whether the app pins the OS it runs on, and what that changes: with a pin, an OS image the KMS owner allows at once
 * still waits the app's notice; without one, the app boots whatever OS the KMS allows.
 */
function osPinLine(snapshot: DevProofSnapshot): ReportLine {
  const os = snapshot.timelocked?.os;
  const upgrade = "pinning does not protect against a KMS upgrade, which can stop asking the app at all";
  if (os === undefined) {
    return {
      id: "kms.os-pin",
      level: "INFO",
      title: "what pinning the OS changes",
      evidence:
        "an app whose policy pins its OS (mrSystem or OS image hashes, widened only with the notice) refuses an OS " +
        `image the KMS owner adds, so a new OS waits the app's notice too; ${upgrade}. This contract is not a ` +
        "TimelockedAppAuth: whether it pins its OS is not read",
    };
  }
  const pinned = OS_FIELDS.map((field, i) => ({ field, ...os[i]! })).filter((pin) => pin.pinned);
  if (pinned.length === 0) {
    return {
      id: "kms.os-pin",
      level: "WARN",
      title: "the app does not pin its OS: it boots any OS image the KMS owner allows, at once",
      evidence:
        "osPinned(mrSystem) and osPinned(OS image hash) are false: a new OS reaches this app without its notice. " +
        'Pinning (pin-os, instant) makes isAppAllowed refuse any other OS ("OS not allowed by the app"), so an OS ' +
        `update then waits the notice like new code; ${upgrade}`,
    };
  }
  const listed = pinned.map((pin) => `${pin.field.label} ∈ {${pin.values.join(", ")}}`).join(" and ");
  return {
    id: "kms.os-pin",
    level: "PASS",
    title: "the app pins its OS: a new OS waits the notice",
    evidence:
      `isAppAllowed refuses any boot unless ${listed} ("OS not allowed by the app"); another value, or unpinning, ` +
      `waits the notice like new code, even when the KMS owner allows a new OS image at once; ${upgrade}`,
  };
}

function kmsRegisteredLine(snapshot: DevProofSnapshot): ReportLine {
  const kms = snapshot.kms;
  if (kms === undefined) {
    return {
      id: "kms.registered",
      level: "INFO",
      title: "KMS registration not checked",
      evidence: "pass --kms <address> to check that dstack's KMS asks this policy at every boot",
    };
  }
  return kms.registered
    ? {
        id: "kms.registered",
        level: "PASS",
        title: "registered with the KMS",
        evidence: `registeredApps(${snapshot.app}) is true on KMS ${kms.address}: it asks this policy at every boot`,
        stage: 1,
      }
    : {
        id: "kms.registered",
        level: "FAIL",
        title: "not registered with the KMS",
        evidence:
          `registeredApps(${snapshot.app}) is false on KMS ${kms.address}: this KMS never asks this policy, so ` +
          "the CVMs get their keys some other way",
        stage: 1,
      };
}

// ---------------------------------------------------------------------------------------------------------------
// The compose file: its hash, and the "operator gap"
// ---------------------------------------------------------------------------------------------------------------

/**
 * The classes of operator-set variables, by what their name says they control. An operator sets `allowed_envs`
 * values at deploy time, without any notice, so a variable that picks the code or where data goes undoes the
 * timelock (FAIL); one that carries a credential deserves a look (WARN); others are listed (INFO).
 */
export type VariableClass = "code" | "redirect" | "debug" | "credential" | "other";

const CODE_WORDS = new Set([
  "IMAGE",
  "TAG",
  "DIGEST",
  "ENTRYPOINT",
  "COMMAND",
  "CMD",
  "SCRIPT",
  "PLUGIN",
  "PLUGINS",
  "PRELOAD",
]);
const CODE_NAMES = new Set(["NODE_OPTIONS", "LD_PRELOAD", "LD_LIBRARY_PATH", "JAVA_TOOL_OPTIONS", "PYTHONPATH"]);
const CODE_NAMES_MORE = new Set(["PYTHONSTARTUP", "NODE_PATH", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "PERL5OPT"]);
const REDIRECT_WORDS = new Set([
  "URL",
  "URI",
  "URLS",
  "ENDPOINT",
  "ENDPOINTS",
  "HOST",
  "HOSTS",
  "HOSTNAME",
  "ADDR",
  "ADDRESS",
  "DOMAIN",
  "WEBHOOK",
  "RPC",
  "PROXY",
  "SERVER",
  "SERVERS",
  "ORIGIN",
  "UPSTREAM",
  "BACKEND",
  "SINK",
  "DSN",
  "DATABASE",
  "DB",
  "REDIS",
  "MONGO",
  "MONGODB",
  "POSTGRES",
  "MYSQL",
  "BUCKET",
  "S3",
  "SMTP",
  "BROKER",
  "BROKERS",
  "KAFKA",
  "AMQP",
  "MQTT",
  "CALLBACK",
  "FORWARD",
  "RELAY",
  "DEST",
  "DESTINATION",
  "TARGET",
  "GATEWAY",
  "PEER",
  "PEERS",
  "BOOTNODES",
]);
const DEBUG_WORDS = new Set(["DEBUG", "DEV", "DEVMODE", "DEVELOPMENT", "INSPECT", "VERBOSE", "TRACE", "PROFILE"]);
const CREDENTIAL_WORDS = new Set([
  "KEY",
  "KEYS",
  "TOKEN",
  "TOKENS",
  "SECRET",
  "SECRETS",
  "PASSWORD",
  "PASS",
  "PASSWD",
  "PWD",
  "CREDENTIAL",
  "CREDENTIALS",
  "AUTH",
  "MNEMONIC",
  "SEED",
  "PRIVATE",
  "CERT",
  "APIKEY",
]);

/** What a variable's name says it controls. Code beats redirect beats debug beats credential. */
export function classifyVariable(name: string): VariableClass {
  const upper = name.toUpperCase();
  const words = upper.split(/[^A-Z0-9]+/).filter((word) => word !== "");
  const has = (set: Set<string>) => words.some((word) => set.has(word));
  if (CODE_NAMES.has(upper) || CODE_NAMES_MORE.has(upper) || has(CODE_WORDS)) return "code";
  if (has(REDIRECT_WORDS) || /(URL|URI|ENDPOINT|HOST|WEBHOOK)$/.test(upper)) return "redirect";
  if (has(DEBUG_WORDS) || upper === "NODE_ENV" || upper === "FLASK_ENV") return "debug";
  if (has(CREDENTIAL_WORDS) || /(KEY|TOKEN|SECRET|PASSWORD)$/.test(upper)) return "credential";
  return "other";
}

/** Where an operator-set variable reaches the running containers. */
export interface VariableUse {
  name: string;
  /** e.g. `services.app.environment.API_URL`, `services.app.image`. */
  path: string;
}

/** A parsed app-compose.json and its docker-compose YAML; errors instead of throwing. */
export interface ParsedCompose {
  appCompose: Record<string, unknown> | undefined;
  dockerCompose: Record<string, unknown> | undefined;
  errors: string[];
}

/** Parses app-compose.json (JSON) and its `docker_compose_file` (YAML, with the `yaml` package). */
export function parseAppCompose(text: string): ParsedCompose {
  let appCompose: unknown;
  try {
    appCompose = JSON.parse(text);
  } catch (error) {
    return { appCompose: undefined, dockerCompose: undefined, errors: [`not JSON: ${messageOf(error)}`] };
  }
  if (!isRecord(appCompose)) return { appCompose: undefined, dockerCompose: undefined, errors: ["not a JSON object"] };
  const yamlText = appCompose["docker_compose_file"];
  if (typeof yamlText !== "string") {
    return { appCompose, dockerCompose: undefined, errors: [] };
  }
  let dockerCompose: unknown;
  try {
    dockerCompose = parseYaml(yamlText);
  } catch (error) {
    return {
      appCompose,
      dockerCompose: undefined,
      errors: [`docker_compose_file is not valid YAML: ${messageOf(error)}`],
    };
  }
  if (!isRecord(dockerCompose)) {
    return { appCompose, dockerCompose: undefined, errors: ["docker_compose_file is not a YAML mapping"] };
  }
  return { appCompose, dockerCompose, errors: [] };
}

/** Every `$VAR`, `${VAR}`, `${VAR:-default}`, ... in a string (not `$$`, compose's escaped dollar). */
export function substitutedVariables(value: string): string[] {
  const names: string[] = [];
  for (const match of value.matchAll(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))/g)) {
    const name = match[2] ?? match[3];
    if (name !== undefined) names.push(name);
  }
  return names;
}

/** The compose file's lines: its hash against the chain, its images, its operator variables, its switches. */
export function assessCompose(compose: ComposeEvidence, snapshot: DevProofSnapshot): ReportLine[] {
  const lines: ReportLine[] = [composeHashLine(compose, snapshot)];
  const releaseLineForCompose = composeReleaseLine(compose, snapshot);
  if (releaseLineForCompose !== undefined) lines.push(releaseLineForCompose);

  const parsed = parseAppCompose(compose.text);
  if (parsed.appCompose === undefined) {
    lines.push({
      id: "compose.parse",
      level: "FAIL",
      title: "the compose file cannot be read",
      evidence: `${compose.source}: ${parsed.errors.join("; ")}`,
      stage: 1,
    });
    return lines;
  }
  const app = parsed.appCompose;
  lines.push(...keyProviderLines(app, snapshot.kms));
  if (parsed.errors.length > 0) {
    lines.push({
      id: "compose.parse",
      level: "FAIL",
      title: "the docker-compose part cannot be read",
      evidence: parsed.errors.join("; "),
      stage: 1,
    });
  }
  const runner = app["runner"];
  if (runner !== undefined && runner !== "docker-compose") {
    lines.push({
      id: "compose.runner",
      level: "WARN",
      title: `runner "${String(runner)}": its script is not checked`,
      evidence: "only docker-compose apps are analysed here; read the script yourself",
    });
  }
  const preLaunch = app["pre_launch_script"];
  if (typeof preLaunch === "string" && preLaunch.trim() !== "") {
    lines.push({
      id: "compose.pre-launch",
      level: "WARN",
      title: "a pre-launch script runs before the app",
      evidence: `it is measured (part of the hash) but not analysed here; its first line: ${preLaunch.trim().split("\n")[0]}`,
    });
  }

  const services = isRecord(parsed.dockerCompose?.["services"]) ? parsed.dockerCompose["services"] : {};
  lines.push(imageLine(services));
  lines.push(...variableLines(app, parsed.dockerCompose ?? {}));
  lines.push(...switchLines(services, snapshot.app));
  lines.push(...agentRpcLines(services, snapshot.app));
  return lines;
}

/**
 * How this app's guest agent believes the chain (guest/README.md, "What the agent trusts"): it acts on a block header
 * only when `DEVPROOF_RPC_QUORUM` of its `DEVPROOF_RPC_URLS` report it. WARN when it opts out (`none`), lists one URL,
 * or lists fewer independent providers (told apart by their domain) than the quorum: then one provider can lie about
 * the chain and be believed. Does not change the stage: the agent is the one component that can be tricked this way.
 */
function agentRpcLines(services: Record<string, unknown>, app: string): ReportLine[] {
  const lines: ReportLine[] = [];
  for (const [name, service] of Object.entries(services)) {
    if (!isRecord(service)) continue;
    const env = new Map(environmentEntries(service["environment"]));
    if (env.get("DEVPROOF_APP_AUTH")?.trim().toLowerCase() !== app.toLowerCase()) continue;
    const urls = (env.get("DEVPROOF_RPC_URLS") ?? "")
      .split(",")
      .map((url) => url.trim())
      .filter((url) => url !== "");
    const quorumSetting = env.get("DEVPROOF_RPC_QUORUM")?.trim() ?? "majority";
    const providers = new Set(urls.map(providerOf));
    const quorum =
      quorumSetting === "none"
        ? 1
        : /^\d+$/.test(quorumSetting)
          ? Number(quorumSetting)
          : Math.max(2, Math.floor(urls.length / 2) + 1);
    const id = "compose.agent-rpc-quorum";
    const where = `${name}: DEVPROOF_RPC_URLS=${urls.length === 0 ? "(not set here)" : urls.map(providerOf).join(",")}`;
    if (quorumSetting === "none") {
      lines.push({
        id,
        level: "WARN",
        title: "the guest agent opts out of the RPC quorum",
        evidence:
          `${where}, DEVPROOF_RPC_QUORUM=none: it believes one endpoint's block header, so an RPC provider that lies ` +
          "about the chain can make it run a release this policy never allowed; list three independent providers",
      });
    } else if (urls.length < 2) {
      lines.push({
        id,
        level: "WARN",
        title:
          urls.length === 0
            ? "the guest agent's RPC URLs are not in the measured file"
            : "the guest agent lists one RPC provider",
        evidence:
          `${where}: the agent believes a block header only when a quorum of independent providers report it ` +
          "(it refuses to start with one URL unless the quorum is opted out); list three, with DEVPROOF_RPC_QUORUM=2",
      });
    } else if (providers.size < quorum || providers.size < 2) {
      lines.push({
        id,
        level: "WARN",
        title: "the guest agent's RPC URLs are not independent providers",
        evidence:
          `${where}, quorum ${quorum}: ${urls.length} URLs of ${providers.size} provider(s) (${[...providers].join(", ")}); ` +
          "one provider could answer for the whole quorum",
      });
    } else {
      lines.push({
        id,
        level: "INFO",
        title: `the guest agent needs ${quorum} of ${urls.length} RPC providers to agree`,
        evidence: `${where}, quorum ${quorum}: it acts only on a block header they report alike, and on values proven against it`,
      });
    }
  }
  return lines;
}

/** An RPC URL's provider, told by its domain's last two labels (rpc.ankr.com and eth.ankr.com are one provider). */
function providerOf(url: string): string {
  try {
    const host = new URL(url).hostname;
    return /^[\d.]+$|^\[/.test(host) ? host : host.split(".").slice(-2).join(".");
  } catch {
    return url;
  }
}

function composeHashLine(compose: ComposeEvidence, snapshot: DevProofSnapshot): ReportLine {
  const status = snapshot.timelocked;
  const allowed =
    status !== undefined
      ? status.composeHashes.some((entry) => entry.composeHash === compose.sha256)
      : compose.allowedOnChain;
  const pending = status?.proposals.find(
    (p) => p.kind === "AddComposeHash" && p.value === compose.sha256 && (p.state === "Waiting" || p.state === "Ready"),
  );
  const what = `sha256 of the exact bytes of ${compose.source} = ${compose.sha256}`;
  if (allowed === true) {
    return { id: "compose.hash", level: "PASS", title: "the compose file's hash is allowed", evidence: what };
  }
  if (pending !== undefined) {
    return {
      id: "compose.hash",
      level: "WARN",
      title: "the compose file is proposed, not yet allowed",
      evidence: `${what}; ${formatCountdown(pending.readyAt, pending.expiresAt, snapshot.timestamp)}`,
    };
  }
  return {
    id: "compose.hash",
    level: allowed === false ? "FAIL" : "WARN",
    title: allowed === false ? "the compose file's hash is not allowed" : "cannot tell whether the hash is allowed",
    evidence:
      allowed === false
        ? `${what}: no CVM running these bytes gets keys; this is not the file the app runs`
        : `${what}: the contract does not answer allowedComposeHashes(bytes32)`,
    stage: 1,
  };
}

function composeReleaseLine(compose: ComposeEvidence, snapshot: DevProofSnapshot): ReportLine | undefined {
  const release = snapshot.timelocked?.currentRelease;
  if (release === undefined) return undefined;
  return release.composeHash === compose.sha256
    ? {
        id: "compose.release",
        level: "PASS",
        title: "the compose file is the current release",
        evidence: `currentRelease() = ${release.composeHash} (${shown(release.uri)})`,
      }
    : {
        id: "compose.release",
        level: "WARN",
        title: "the compose file is not the current release",
        evidence: `currentRelease() = ${release.composeHash} (${shown(release.uri)}); this file is ${compose.sha256}`,
      };
}

function keyProviderLines(app: Record<string, unknown>, kms: DevProofSnapshot["kms"]): ReportLine[] {
  const lines: ReportLine[] = [];
  if (app["kms_enabled"] === true) {
    lines.push({
      id: "compose.kms",
      level: "PASS",
      title: "keys come from the KMS",
      evidence: "kms_enabled is true: the KMS asks the on-chain policy before handing out the app's keys",
      stage: 1,
    });
    lines.push(keyProviderPinLine(app["key_provider_id"], kms));
  } else {
    lines.push({
      id: "compose.kms",
      level: "FAIL",
      title: "the KMS is not used",
      evidence: `kms_enabled is ${JSON.stringify(app["kms_enabled"] ?? null)}: the app's keys do not depend on the on-chain policy, so its notice protects nothing`,
      stage: 1,
    });
  }
  if (app["local_key_provider_enabled"] === true) {
    lines.push({
      id: "compose.local-key-provider",
      level: "FAIL",
      title: "a local key provider is enabled",
      evidence:
        "local_key_provider_enabled is true: keys come from the host's key provider, not from the policy-gated KMS",
      stage: 1,
    });
  }
  return lines;
}

/**
 * `key_provider_id` pins which KMS a CVM takes its keys from (dstack refuses any other at boot); empty, the host names
 * the KMS. A KMS the developer runs answers "allowed" for any code, and the app key it hands out is the root of every
 * key the app derives — so an unpinned app's notice protects nothing.
 */
function keyProviderPinLine(pin: unknown, kms: DevProofSnapshot["kms"]): ReportLine {
  const pinned = typeof pin === "string" ? pin.trim().toLowerCase().replace(/^0x/, "") : "";
  if (pinned === "") {
    return {
      id: "compose.key-provider",
      level: "FAIL",
      title: "the KMS is not pinned",
      evidence:
        `key_provider_id is ${JSON.stringify(pin ?? null)}: the CVM takes its keys from whatever KMS its host names, ` +
        "and a KMS the developer runs hands the app key to code this policy never allowed; pin it to the CA key the " +
        "app's KMS publishes (kmsInfo().caPubkey: npx hardhat kms-info prints it)",
      stage: 1,
    };
  }
  const published = kms?.caPubkey?.toLowerCase().replace(/^0x/, "");
  if (kms === undefined || published === undefined || published === "") {
    return {
      id: "compose.key-provider",
      level: "WARN",
      title: "the KMS is pinned, to a key not checked here",
      evidence:
        kms === undefined
          ? `key_provider_id is ${short(pinned)}: give --kms (the app's KMS) to check it is the CA key that KMS publishes`
          : `key_provider_id is ${short(pinned)}, but the KMS at ${kms.address} publishes no CA key (kmsInfo) to compare`,
    };
  }
  return published === pinned
    ? {
        id: "compose.key-provider",
        level: "PASS",
        title: "the KMS is pinned",
        evidence: `key_provider_id is the CA key the KMS at ${kms.address} publishes (kmsInfo().caPubkey ${short(pinned)})`,
      }
    : {
        id: "compose.key-provider",
        level: "FAIL",
        title: "the KMS pinned is another one",
        evidence:
          `key_provider_id is ${short(pinned)}, but the KMS at ${kms.address} publishes the CA key ${short(published)}: ` +
          "the CVM would take its keys from another KMS than the one that asks this policy",
        stage: 1,
      };
}

/** A long hex value, shortened for a report line. */
function short(hex: string): string {
  return hex.length <= 24 ? hex : `${hex.slice(0, 12)}…${hex.slice(-8)} (${hex.length / 2} bytes)`;
}

function imageLine(services: Record<string, unknown>): ReportLine {
  const unpinned: string[] = [];
  const built: string[] = [];
  let pinned = 0;
  for (const [name, service] of Object.entries(services)) {
    if (!isRecord(service)) continue;
    if (service["build"] !== undefined && service["image"] === undefined) {
      built.push(`${name} (build: ${JSON.stringify(service["build"])})`);
      continue;
    }
    const image = service["image"];
    if (typeof image !== "string") {
      unpinned.push(`${name} (no image)`);
    } else if (/@sha256:[0-9a-f]{64}$/.test(image) && substitutedVariables(image).length === 0) {
      pinned += 1;
    } else {
      unpinned.push(`${name}: ${image}`);
    }
  }
  const problems = [...unpinned, ...built];
  if (problems.length === 0) {
    return {
      id: "compose.images",
      level: "PASS",
      title: "every image is pinned by digest",
      evidence: `${pinned} service(s), each image@sha256:<digest>: the registry cannot swap the code`,
      stage: 1,
    };
  }
  return {
    id: "compose.images",
    level: "FAIL",
    title: "an image is not pinned by digest",
    evidence:
      `${problems.join("; ")}: a tag or a build can change the code without changing the compose hash, so ` +
      "without any notice",
    stage: 1,
  };
}

/** Operator-set variables: `allowed_envs`, and every `${VAR}` the compose file substitutes. */
function variableLines(app: Record<string, unknown>, dockerCompose: Record<string, unknown>): ReportLine[] {
  const listed = Array.isArray(app["allowed_envs"])
    ? app["allowed_envs"].filter((name): name is string => typeof name === "string")
    : undefined;
  const uses: VariableUse[] = [];
  walkStrings(dockerCompose, [], (value, path) => {
    // `environment: ["API_URL=${X}"]` lands in API_URL, as the mapping form would say.
    const key = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(value)?.[1];
    const where = key !== undefined && path.at(-2) === "environment" ? [...path.slice(0, -1), key] : path;
    for (const name of substitutedVariables(value)) uses.push({ name, path: where.join(".") });
  });
  for (const use of passThroughEnvironment(dockerCompose)) uses.push(use);

  // Without an allowed_envs list, older dstack versions pass every encrypted variable: treat every use as set by the
  // operator. With one, only the listed names can be set.
  const operatorSet = new Set(listed ?? uses.map((use) => use.name));
  const lines: ReportLine[] = [];
  if (listed === undefined && uses.length > 0) {
    lines.push({
      id: "compose.allowed-envs",
      level: "WARN",
      title: "no allowed_envs list",
      evidence: "without one, some dstack versions let the operator set any variable the compose file substitutes",
    });
  }
  if (operatorSet.size === 0) {
    lines.push({
      id: "compose.env",
      level: "PASS",
      title: "the operator sets no variable",
      evidence: `allowed_envs is ${JSON.stringify(listed ?? [])} and nothing is substituted from the environment`,
      stage: 1,
    });
    return lines;
  }

  const byClass = new Map<VariableClass, Map<string, string[]>>();
  for (const name of operatorSet) {
    const paths = uses.filter((use) => use.name === name).map((use) => use.path);
    let kind = classifyVariable(name);
    // Where a variable lands can say more than its name: `image: app:${V}` picks the code, whatever V is called.
    if (paths.some((p) => /\.(image|entrypoint|command)(\.|$)/.test(p))) kind = "code";
    else if (kind === "other" || kind === "credential") {
      const target = paths.map((p) => classifyVariable(p.split(".").pop() ?? "")).find((c) => c !== "other");
      if (target === "code" || target === "redirect") kind = target;
    }
    const entries = byClass.get(kind) ?? new Map<string, string[]>();
    entries.set(name, paths);
    byClass.set(kind, entries);
  }
  const describe = (entries: Map<string, string[]>) =>
    [...entries]
      .map(([name, paths]) => (paths.length === 0 ? `${name} (in allowed_envs)` : `${name} -> ${paths.join(", ")}`))
      .join("; ");

  const code = byClass.get("code");
  if (code !== undefined) {
    lines.push({
      id: "compose.env.code",
      level: "FAIL",
      title: `operator variables choose the code: ${[...code.keys()].join(", ")}`,
      evidence: `${describe(code)}: the operator can run other code at deploy time, without any notice`,
      stage: 1,
    });
  }
  const redirect = byClass.get("redirect");
  if (redirect !== undefined) {
    lines.push({
      id: "compose.env.redirect",
      level: "FAIL",
      title: `operator variables can redirect where data goes: ${[...redirect.keys()].join(", ")}`,
      evidence: `${describe(redirect)}: URLs, endpoints and hosts set at deploy time can send users' data to the operator, without any notice`,
      stage: 1,
    });
  }
  const debug = byClass.get("debug");
  if (debug !== undefined) {
    lines.push({
      id: "compose.env.debug",
      level: "FAIL",
      title: `operator variables can switch on debug or dev modes: ${[...debug.keys()].join(", ")}`,
      evidence: `${describe(debug)}: debug modes tend to log secrets or open debug endpoints, and the operator can turn them on without notice`,
      stage: 1,
    });
  }
  const credential = byClass.get("credential");
  if (credential !== undefined) {
    lines.push({
      id: "compose.env.credentials",
      level: "WARN",
      title: `the operator supplies credentials: ${[...credential.keys()].join(", ")}`,
      evidence: `${describe(credential)}: check in the code that a key or token the operator knows cannot read users' data (e.g. an encryption key, or the operator's own account at a service)`,
    });
  }
  const other = byClass.get("other");
  if (other !== undefined) {
    lines.push({
      id: "compose.env.other",
      level: "INFO",
      title: `other operator variables: ${[...other.keys()].join(", ")}`,
      evidence: `${describe(other)}: their names suggest neither code, data flows, debugging nor credentials; check what each changes`,
    });
  }
  return lines;
}

/** `environment: [NAME]` or `environment: {NAME: null}`: the value comes from the deploy-time environment. */
function passThroughEnvironment(dockerCompose: Record<string, unknown>): VariableUse[] {
  const uses: VariableUse[] = [];
  const services = isRecord(dockerCompose["services"]) ? dockerCompose["services"] : {};
  for (const [service, definition] of Object.entries(services)) {
    if (!isRecord(definition)) continue;
    const environment = definition["environment"];
    const path = `services.${service}.environment`;
    if (Array.isArray(environment)) {
      for (const entry of environment) {
        if (typeof entry === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(entry)) {
          uses.push({ name: entry, path: `${path}.${entry}` });
        }
      }
    } else if (isRecord(environment)) {
      for (const [name, value] of Object.entries(environment)) {
        if (value === null) uses.push({ name, path: `${path}.${name}` });
      }
    }
  }
  return uses;
}

const DEBUGGER_FLAGS = [
  /--inspect(-brk)?(=|\s|$)/,
  /--remote-debugging-port/,
  /-agentlib:jdwp/,
  /\bdebugpy\b/,
  /\bpydevd\b/,
  /\bdlv\b.*--headless/,
];
const TRUTHY = /^(1|true|yes|on|development|dev)$/i;
const DEBUG_SWITCHES = new Set([
  "DEBUG",
  "DEV_MODE",
  "DEVMODE",
  "DEV",
  "NODE_ENV",
  "FLASK_ENV",
  "FLASK_DEBUG",
  "APP_ENV",
]);

/**
 * Switches in the measured file. They are public (part of the hash), so users see them during the notice; what makes
 * one a FAIL is that it opens a way to run other code or read secrets at run time:
 * - FAIL: the Docker socket mounted into a container (it can start any image: unpinned code) — except into this
 *   project's guest agent for this very app (pinned by digest, `DEVPROOF_APP_AUTH` = the app), which only runs what
 *   the app's policy activated: that is a WARN asking the auditor to compare the image digest with the reproducible
 *   build; a debugger flag (`--inspect`, JDWP, debugpy: whoever reaches the port runs code in the process).
 * - WARN: `privileged: true`, `cap_add: [SYS_ADMIN | ALL]`, `network_mode: host`, `pid: host` (the container can
 *   reach the CVM's devices, network or processes: a larger attack surface, not a new code path by itself); a
 *   debug or dev mode set to on (logs and endpoints that may leak secrets); `env_file` (values not in the file).
 */
function switchLines(services: Record<string, unknown>, app: string): ReportLine[] {
  const dockerSocket: string[] = [];
  const agentDockerSocket: string[] = [];
  const debuggers: string[] = [];
  const privileged: string[] = [];
  const hostNamespaces: string[] = [];
  const debugModes: string[] = [];
  const envFiles: string[] = [];
  for (const [name, service] of Object.entries(services)) {
    if (!isRecord(service)) continue;
    const volumes = Array.isArray(service["volumes"]) ? service["volumes"] : [];
    for (const volume of volumes) {
      const source =
        typeof volume === "string" ? volume.split(":")[0] : isRecord(volume) ? volume["source"] : undefined;
      if (typeof source === "string" && /(^|\/)docker\.sock$/.test(source)) {
        (isGuestAgentOf(service, app) ? agentDockerSocket : dockerSocket).push(`${name}: ${source}`);
      }
    }
    walkStrings(
      { command: service["command"], entrypoint: service["entrypoint"], environment: service["environment"] },
      [],
      (value, path) => {
        if (DEBUGGER_FLAGS.some((flag) => flag.test(value))) debuggers.push(`${name}.${path.join(".")}: ${value}`);
      },
    );
    if (service["privileged"] === true) privileged.push(`${name}: privileged: true`);
    const caps = Array.isArray(service["cap_add"]) ? service["cap_add"] : [];
    for (const cap of caps) {
      if (typeof cap === "string" && /^(CAP_)?(SYS_ADMIN|ALL|SYS_PTRACE|SYS_MODULE)$/i.test(cap)) {
        privileged.push(`${name}: cap_add ${cap}`);
      }
    }
    if (service["network_mode"] === "host") hostNamespaces.push(`${name}: network_mode: host`);
    if (service["pid"] === "host") hostNamespaces.push(`${name}: pid: host`);
    for (const [key, value] of environmentEntries(service["environment"])) {
      if (DEBUG_SWITCHES.has(key.toUpperCase()) && value !== undefined && TRUTHY.test(value.trim())) {
        debugModes.push(`${name}: ${key}=${value}`);
      }
    }
    if (service["env_file"] !== undefined) envFiles.push(`${name}: env_file ${JSON.stringify(service["env_file"])}`);
  }
  const lines: ReportLine[] = [];
  if (dockerSocket.length > 0) {
    lines.push({
      id: "compose.docker-socket",
      level: "FAIL",
      title: "the Docker socket is mounted into a container",
      evidence: `${dockerSocket.join("; ")}: that container can start any image, i.e. run code that was never announced`,
      stage: 1,
    });
  }
  if (agentDockerSocket.length > 0) {
    lines.push({
      id: "compose.docker-socket-agent",
      level: "WARN",
      title: "the Docker socket is mounted into this app's DevProof guest agent",
      evidence:
        `${agentDockerSocket.join("; ")}: an image pinned by digest, configured for ${app}, which runs only the ` +
        "release this policy activated; check its digest against the reproducible build of guest/ (guest/README.md)",
    });
  }
  if (debuggers.length > 0) {
    lines.push({
      id: "compose.debugger",
      level: "FAIL",
      title: "a debugger is enabled",
      evidence: `${debuggers.join("; ")}: whoever reaches the debugger port can run code inside the app`,
      stage: 1,
    });
  }
  if (privileged.length > 0) {
    lines.push({
      id: "compose.privileged",
      level: "WARN",
      title: "a container runs privileged",
      evidence: `${privileged.join("; ")}: it controls the CVM's devices and kernel; make sure it needs to`,
    });
  }
  if (hostNamespaces.length > 0) {
    lines.push({
      id: "compose.host-namespaces",
      level: "WARN",
      title: "a container shares the CVM's network or processes",
      evidence: `${hostNamespaces.join("; ")}: it can reach every local service of the CVM`,
    });
  }
  if (debugModes.length > 0) {
    lines.push({
      id: "compose.debug-mode",
      level: "WARN",
      title: "a debug or dev mode is on",
      evidence: `${debugModes.join("; ")}: debug modes tend to log secrets or expose debug endpoints`,
    });
  }
  if (envFiles.length > 0) {
    lines.push({
      id: "compose.env-file",
      level: "WARN",
      title: "a container reads variables from a file",
      evidence: `${envFiles.join("; ")}: values in that file are not part of the compose hash`,
    });
  }
  if (lines.length === 0) {
    lines.push({
      id: "compose.switches",
      level: "PASS",
      title: "no debug, privileged or host-sharing switch",
      evidence: "no Docker socket, debugger flag, privileged container, host namespace, debug mode or env_file",
      stage: 1,
    });
  }
  return lines;
}

/** The project's guest agent for `app`: pinned by digest and pointed at this very policy. */
function isGuestAgentOf(service: Record<string, unknown>, app: string): boolean {
  const image = service["image"];
  if (typeof image !== "string" || !/@sha256:[0-9a-f]{64}$/.test(image)) return false;
  return environmentEntries(service["environment"]).some(
    ([key, value]) => key === "DEVPROOF_APP_AUTH" && value?.trim().toLowerCase() === app.toLowerCase(),
  );
}

function environmentEntries(environment: unknown): Array<[string, string | undefined]> {
  if (Array.isArray(environment)) {
    return environment
      .filter((entry): entry is string => typeof entry === "string")
      .map((entry) => {
        const at = entry.indexOf("=");
        return at < 0 ? [entry, undefined] : [entry.slice(0, at), entry.slice(at + 1)];
      });
  }
  if (isRecord(environment)) {
    return Object.entries(environment).map(([key, value]) => [key, value === null ? undefined : String(value)]);
  }
  return [];
}

function walkStrings(value: unknown, path: string[], visit: (value: string, path: string[]) => void): void {
  if (typeof value === "string") visit(value, path);
  else if (Array.isArray(value)) value.forEach((item, i) => walkStrings(item, [...path, String(i)], visit));
  else if (isRecord(value)) for (const [key, item] of Object.entries(value)) walkStrings(item, [...path, key], visit);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------------

/** The report as text: the stage, then one line per check with its evidence indented below. */
export function renderReport(report: DevProofReport): string {
  const out = [
    `DevProof report for ${report.app} (chain ${report.chainId}, block ${report.blockNumber}, ${report.timestamp})`,
    "",
  ];
  for (const line of report.lines) {
    out.push(`${line.level.padEnd(4)}  ${line.title}`, `      ${line.evidence}`);
  }
  const counts = LEVELS.map((level) => `${report.lines.filter((line) => line.level === level).length} ${level}`);
  out.push("", `${report.stageTitle}`, `(${counts.join(", ")})`);
  return out.join("\n");
}

/** The report as one JSON object (`--json`). */
export function reportJson(report: DevProofReport): string {
  return safeJson(report);
}
