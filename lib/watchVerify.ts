/**
 * `watch --verify-rpc`: the events come from the network's provider, which could hide one; each pass, the open
 * proposals and the current release are also read as storage proven against a header a quorum of other endpoints
 * report (lib/verified), at the block the pass scanned up to. A proven open proposal that no `ChangeProposed` event
 * announced is reported as URGENT, with the provider named as the one that hid it; a pass that cannot be verified is
 * said so, once per change, and never counts as "nothing happened".
 */
import { changeKindOf, describeChange } from "./appAuth.js";
import { formatCountdown } from "./format.js";
import { describeReports, HeaderUnverifiedError } from "./verified/headers.js";
import type { VerifiedChainReader } from "./verified/reader.js";
import { readProvenProposals, readProvenRelease, type ProvenProposal } from "./verified/timelockedAppAuth.js";

export interface VerifiedCheck {
  /** The block the check was proven at, and by whom. */
  block: number;
  how: string;
  currentRelease: string | undefined;
  proposals: ProvenProposal[];
  /** Open proposals no event announced: the provider hid them (or the watch started after them). */
  unannounced: ProvenProposal[];
}

export class WatchVerifier {
  /** Proposal ids the event stream announced (or an earlier check reported). */
  readonly announced = new Set<string>();
  private lastProblem: string | undefined;

  constructor(
    private readonly reader: VerifiedChainReader,
    private readonly app: string,
  ) {}

  /** Records a `ChangeProposed` event's id. */
  announce(id: string): void {
    this.announced.add(id.toLowerCase());
  }

  /** Proves the state at `block` (the block the pass scanned up to) and returns what the events did not show. */
  async check(block: number): Promise<VerifiedCheck> {
    const evidence = await this.reader.verifiedHeader(block);
    const [proposals, release] = await Promise.all([
      readProvenProposals(this.reader, this.app, evidence.header),
      readProvenRelease(this.reader, this.app, evidence.header, []),
    ]);
    const unannounced = proposals.filter((proposal) => !this.announced.has(proposal.id.toLowerCase()));
    for (const proposal of unannounced) this.announce(proposal.id);
    this.lastProblem = undefined;
    return {
      block: evidence.header.number,
      how: evidence.how,
      currentRelease: release.release?.composeHash,
      proposals,
      unannounced,
    };
  }

  /** The line for a failed check, or undefined when it repeats the last one (the same kind of failure). */
  problemLine(error: unknown): string | undefined {
    const message =
      error instanceof HeaderUnverifiedError
        ? `${error.message.split(":")[0]}: ${describeReports(error.reports)}`
        : error instanceof Error
          ? error.message
          : String(error);
    const shape = message.replace(/0x[0-9a-fA-F]+/g, "0x…").replace(/\d+/g, "N");
    if (shape === this.lastProblem) return undefined;
    this.lastProblem = shape;
    return `UNVERIFIED: ${message}. What this watch reports is the provider's word until the endpoints agree again`;
  }
}

/** TimelockedAppAuth's GRACE_PERIOD: a ready proposal can be activated for this long. */
const GRACE_PERIOD_SECONDS = 14 * 24 * 3600;

/** An unannounced proposal as a line: what it widens, and when it can take effect. */
export function describeUnannounced(proposal: ProvenProposal, now: number, provider: string): string {
  const change = { kind: changeKindOf(proposal.kind), value: proposal.value };
  const readyAt = Number(proposal.readyAt);
  return (
    `URGENT  proven on chain but not reported by ${provider}: widening change proposed: ${describeChange(change)} — ` +
    `${formatCountdown(readyAt, readyAt + GRACE_PERIOD_SECONDS, now)}`
  );
}
