import { getAddress } from "ethers";

import { formatDate } from "../lib/format.js";
import {
  ReplicationVerificationError,
  describeVerificationFailure,
  quoteVerificationFrom,
  verifySponsorChain,
} from "../lib/replication/index.js";
import type { VerifiedSponsor } from "../lib/replication/index.js";
import { evictionCauseOf, nodeStatusOf } from "../lib/replication/registry.js";
import type { NodeStatus } from "../lib/replication/registry.js";
import { UserError } from "../lib/errors.js";
import { quoted } from "../lib/untrusted/text.js";
import { defineAction } from "./shared/action.js";
import { quoteVerifier } from "./shared/quote-verifier.js";
import {
  openRegistry,
  parseVerificationOptions,
  parseNodeOption,
  parseRegistryOptions,
  requireNodeStatus,
  verifyRegisteredNode,
  type VerificationOptions,
  type RegistryOptions,
} from "./shared/registry.js";

export interface VerifyNodeArgs extends RegistryOptions, VerificationOptions {
  node?: string | undefined;
}

export interface VerifyNodeResult {
  node: string;
  status: NodeStatus;
  measuredComposeHash: string | undefined;
  allowed: boolean;
  reason: string;
  /** Whether its last attestation is older than the registry's period. */
  expired: boolean;
  /** Who made it a member: the owner (genesis) or the member that signed its onboarding. */
  admittedBy: string | undefined;
  /** Its sponsors back to the genesis member, each of whose evidence verified (empty for the genesis member). */
  sponsors: string[];
}

/**
 * What an auditor checks from the chain alone: the node's latest evidence verifies (the same checks a member runs
 * before onboarding), how it became a member — set as genesis by the owner, or onboarded by a member's signature —
 * and that the chain of sponsors that admitted it reaches a genesis member whose evidence verifies (what a joining
 * node checks before it stores the secret); and whether it was evicted, by whom and why.
 */
export default defineAction(async (args: VerifyNodeArgs, hre): Promise<VerifyNodeResult> => {
  const parsed = parseRegistryOptions(args);
  const node = parseNodeOption(args.node);
  const verification = parseVerificationOptions(args);
  const session = await openRegistry(hre, parsed, false);
  const status = nodeStatusOf(await session.registry.nodeStatus(node));
  if (status === "None") await requireNodeStatus(session, node, "Registered", "verify it");

  console.log(`ReplicationRegistry ${session.address} of app ${session.app.address} on ${session.where}`);
  const { checked, context, allowed, reason, expired, read } = await verifyRegisteredNode(
    session,
    node,
    verification,
    "vouch for",
    { requireAllowed: false },
  );

  const { registry } = session;
  const { fromBlock } = verification;
  const [genesis] = await registry.queryFilter(registry.filters.GenesisSet(node), fromBlock);
  const [onboarded] = await registry.queryFilter(registry.filters.NodeOnboarded(node), fromBlock);
  const [evicted] = await registry.queryFilter(registry.filters.MemberEvicted(node), fromBlock);
  let admittedBy: string | undefined;
  let sponsors: VerifiedSponsor[] = [];
  console.log(`Status: ${status}`);
  if (genesis !== undefined) {
    admittedBy = getAddress(genesis.args.setBy);
    console.log(`  genesis member, set by the app's owner ${admittedBy} in block ${genesis.blockNumber}`);
  } else if (onboarded !== undefined) {
    admittedBy = getAddress(onboarded.args.sponsor);
    console.log(`  onboarded by member ${admittedBy}'s signature in block ${onboarded.blockNumber}`);
    const { verifier } = quoteVerifier();
    const verifyQuote = quoteVerificationFrom(verification.source, {
      verifier,
      ...(verification.at === undefined ? {} : { nowSeconds: () => verification.at! }),
    });
    try {
      sponsors = await verifySponsorChain(
        registry,
        node,
        { appId: context.appId, kms: context.kms, verifyQuote },
        { fromBlock },
      );
    } catch (error) {
      if (!(error instanceof ReplicationVerificationError)) throw error;
      throw new UserError(`cannot vouch for ${node}'s admission: ${describeVerificationFailure(error)}`);
    }
    for (const sponsor of sponsors) {
      const m = sponsor.checked.measured;
      const role = sponsor.sponsor === undefined ? "genesis member" : `sponsored by ${sponsor.sponsor}`;
      console.log(
        `  sponsor chain: ${sponsor.node} (${role}): evidence verifies, compose hash ${m.composeHash}, ` +
          `key issued by the KMS root to app ${context.appId}` +
          (sponsor.checked.tcbNote === undefined ? "" : `; TCB today: ${sponsor.checked.tcbNote}`),
      );
    }
  }
  if (evicted !== undefined) {
    const cause = evictionCauseOf(evicted.args.cause);
    const why = evicted.args.reason === "" ? "" : ` (${quoted(evicted.args.reason)})`;
    console.log(
      `  evicted by ${evicted.args.by} at ${formatDate(read.record.evictedAt)}, block ${evicted.blockNumber}: ${cause}${why}`,
    );
  }
  return {
    node,
    status,
    measuredComposeHash: checked.measured.composeHash,
    allowed,
    reason,
    expired,
    admittedBy,
    sponsors: sponsors.map((sponsor) => sponsor.node),
  };
});
