import { getAddress } from "ethers";

import { formatDate } from "../lib/format.js";
import { evictionCauseOf, nodeStatusOf } from "../lib/replication/registry.js";
import type { NodeStatus } from "../lib/replication/registry.js";
import { quoted } from "../lib/untrusted/text.js";
import { defineAction } from "./shared/action.js";
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
  /** Who made it a member: the owner (genesis) or the member that signed its onboarding. */
  admittedBy: string | undefined;
}

/**
 * What an auditor checks from the chain alone: the node's registration evidence verifies (the same checks a member
 * runs before onboarding), and how it became a member: set as genesis by the owner, or onboarded by a member's
 * signature; and whether it was evicted, by whom and why.
 */
export default defineAction(async (args: VerifyNodeArgs, hre): Promise<VerifyNodeResult> => {
  const parsed = parseRegistryOptions(args);
  const node = parseNodeOption(args.node);
  const verification = parseVerificationOptions(args);
  const session = await openRegistry(hre, parsed, false);
  const status = nodeStatusOf(await session.registry.nodeStatus(node));
  if (status === "None") await requireNodeStatus(session, node, "Registered", "verify it");

  console.log(`ReplicationRegistry ${session.address} of app ${session.app.address} on ${session.where}`);
  const { verified, allowed, reason } = await verifyRegisteredNode(session, node, verification, "vouch for", {
    requireAllowed: false,
  });

  const { registry } = session;
  const { fromBlock } = verification;
  const [genesis] = await registry.queryFilter(registry.filters.GenesisSet(node), fromBlock);
  const [onboarded] = await registry.queryFilter(registry.filters.NodeOnboarded(node), fromBlock);
  const [evicted] = await registry.queryFilter(registry.filters.MemberEvicted(node), fromBlock);
  let admittedBy: string | undefined;
  console.log(`Status: ${status}`);
  if (genesis !== undefined) {
    admittedBy = getAddress(genesis.args.setBy);
    console.log(`  genesis member, set by the app's owner ${admittedBy} in block ${genesis.blockNumber}`);
  } else if (onboarded !== undefined) {
    admittedBy = getAddress(onboarded.args.sponsor);
    console.log(`  onboarded by member ${admittedBy}'s signature in block ${onboarded.blockNumber}`);
  }
  if (evicted !== undefined) {
    const record = await registry.getNode(node);
    const cause = evictionCauseOf(evicted.args.cause);
    const why = evicted.args.reason === "" ? "" : ` (${quoted(evicted.args.reason)})`;
    console.log(
      `  evicted by ${evicted.args.by} at ${formatDate(record.evictedAt)}, block ${evicted.blockNumber}: ${cause}${why}`,
    );
  }
  return { node, status, measuredComposeHash: verified.measuredComposeHash, allowed, reason, admittedBy };
});
