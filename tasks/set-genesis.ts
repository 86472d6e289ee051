import { UserError } from "../lib/errors.js";
import { registryInterface } from "../lib/replication/registry.js";
import { defineAction } from "./shared/action.js";
import {
  openRegistry,
  parseVerificationOptions,
  parseNodeOption,
  parseRegistryOptions,
  printRegistryHeader,
  requireNodeStatus,
  sendRegistryCall,
  verifyRegisteredNode,
  type VerificationOptions,
  type RegistryOptions,
} from "./shared/registry.js";
import type { SentTransaction } from "./shared/send.js";
import { requireOwner } from "./shared/session.js";

export interface SetGenesisArgs extends RegistryOptions, VerificationOptions {
  node?: string | undefined;
}

export default defineAction(async (args: SetGenesisArgs, hre): Promise<SentTransaction> => {
  const parsed = parseRegistryOptions(args);
  const node = parseNodeOption(args.node);
  const verification = parseVerificationOptions(args);
  const session = await openRegistry(hre, parsed, true);
  await requireOwner(
    session.app,
    { to: session.address, data: registryInterface.encodeFunctionData("setGenesis", [node]) },
    "set the genesis member",
  );
  const genesis = await session.registry.genesis();
  if (BigInt(genesis) !== 0n) {
    throw new UserError(`the genesis member is already set (to ${genesis}); it can be set only once`);
  }
  await requireNodeStatus(session, node, "Registered", "make it the genesis member");
  // The one member nobody else verifies: check its evidence exactly as a member checks a new node. (The registry
  // itself checked its key chain when it registered: nothing without a KMS-issued key can be picked.)
  await verifyRegisteredNode(session, node, verification, "make genesis");

  printRegistryHeader(session);
  console.log(
    `Making node ${node} the genesis member, once and for good: it makes the app's shared secret and onboards the ` +
      "next nodes. Its quote, event log and key chain stay in its NodeRegistered event for auditors.",
  );
  const sent = await sendRegistryCall(session, { method: "setGenesis", args: [node] });
  console.log(
    `Genesis set: ${node} is the first member. Anyone can re-check it: npx hardhat verify-node ` +
      `--registry ${session.address} --node ${node} --network ${session.networkName}`,
  );
  return sent;
});
