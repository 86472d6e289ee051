import { UserError } from "../lib/errors.js";
import { formatDate, formatTable, shortHex } from "../lib/format.js";
import { describeRefusedEvent, readRegistryNodes } from "../lib/replication/registry.js";
import { shown } from "../lib/untrusted/text.js";
import type { NodeView, RegistryNodes } from "../lib/replication/registry.js";
import { checkBlockNumber } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { openRegistry, parseRegistryOptions, type RegistryOptions } from "./shared/registry.js";

export interface NodesArgs extends RegistryOptions {
  fromBlock: number;
}

export default defineAction(async (args: NodesArgs, hre): Promise<RegistryNodes> => {
  const parsed = parseRegistryOptions(args);
  const fromBlock = checkBlockNumber("from-block", args.fromBlock);
  const session = await openRegistry(hre, parsed, false);
  let nodes: RegistryNodes;
  try {
    nodes = await readRegistryNodes(session.registry, { fromBlock });
  } catch (error) {
    // Public RPCs cap the block range of eth_getLogs, which the pending registrations come from.
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new UserError(
      `the node refused the registry's event logs since block ${fromBlock} (${reason}): ` +
        "pass --from-block <the registry's deployment block>",
    );
  }
  console.log(`ReplicationRegistry ${session.address} of app ${session.app.address} on ${session.where}`);
  console.log(renderNodes(nodes, session.address));
  return nodes;
});

const allowedNow = (node: NodeView): string => (node.allowed ? "yes" : `no: ${node.reason}`);
const attestedUntil = (node: NodeView): string =>
  `${node.expired ? "EXPIRED " : ""}${formatDate(node.attestationExpiresAt)}`;

/**
 * Members and pending registrations as two tables, with each one's TCB (as of its last attestation), until when that
 * attestation counts, and whether the app's policy allows it now.
 */
export function renderNodes(nodes: RegistryNodes, registry: string): string {
  const lines = [
    `At block ${nodes.blockNumber} (${formatDate(nodes.timestamp)}; times below are the chain's clock)`,
    `Genesis member: ${nodes.genesis ?? `none yet (the app's owner sets it once: npx hardhat set-genesis --registry ${registry} --node <address>)`}`,
    "",
    `Members (${nodes.members.length}):`,
  ];
  if (nodes.members.length > 0) {
    lines.push(
      formatTable(
        [
          "node",
          "status",
          "compose hash",
          "device",
          "registered",
          "joined",
          "onboarded by",
          "TCB",
          "attested until",
          "allowed now",
        ],
        nodes.members.map((node) => [
          node.address,
          node.isGenesis ? "Member (genesis)" : node.status,
          shortHex(node.bootInfo.composeHash),
          shortHex(node.bootInfo.deviceId),
          formatDate(node.registeredAt),
          formatDate(node.joinedAt),
          node.sponsor === undefined ? "(owner: genesis)" : shortHex(node.sponsor),
          node.bootInfo.tcbStatus,
          attestedUntil(node),
          allowedNow(node),
        ]),
      ),
    );
  }
  lines.push("", `Pending registrations (${nodes.pending.length}): registered, not yet onboarded`);
  if (nodes.pending.length > 0) {
    lines.push(
      formatTable(
        ["node", "status", "compose hash", "device", "registered", "TCB", "attested until", "allowed now"],
        nodes.pending.map((node) => [
          node.address,
          node.status,
          shortHex(node.bootInfo.composeHash),
          shortHex(node.bootInfo.deviceId),
          formatDate(node.registeredAt),
          shown(node.bootInfo.tcbStatus, 24),
          attestedUntil(node),
          allowedNow(node),
        ]),
      ),
    );
  }
  const unreadable = [...nodes.members, ...nodes.pending].filter((node) => node.unreadable !== undefined);
  if (unreadable.length > 0) {
    lines.push("", `Unreadable records (${unreadable.length}): shown above with U+FFFD in place of each bad sequence`);
    for (const node of unreadable) lines.push(`  ${node.address}: ${node.unreadable}`);
  }
  if (nodes.unreadable.length > 0) {
    lines.push("", `Nodes whose record does not decode at all (${nodes.unreadable.length}):`);
    for (const node of nodes.unreadable) lines.push(`  ${node.address}: ${node.reason}`);
  }
  if (nodes.refused.length > 0) {
    lines.push("", `Refused NodeRegistered logs (${nodes.refused.length}): their nodes are listed above from getNode`);
    for (const refused of nodes.refused) lines.push(`  ${describeRefusedEvent(refused)}`);
  }
  return lines.join("\n");
}
