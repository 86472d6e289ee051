import { UserError } from "../lib/errors.js";
import { formatDate } from "../lib/format.js";
import { evictionCauseOf, evictionGround, registryInterface } from "../lib/replication/registry.js";
import { defineAction } from "./shared/action.js";
import {
  openRegistry,
  parseNodeOption,
  parseRegistryOptions,
  printRegistryHeader,
  requireNodeStatus,
  sendRegistryCall,
  type RegistryOptions,
} from "./shared/registry.js";
import type { SentTransaction } from "./shared/send.js";
import { signerOf } from "./shared/session.js";

export interface EvictNodeArgs extends RegistryOptions {
  node?: string | undefined;
  yes?: boolean | undefined;
}

export default defineAction(async (args: EvictNodeArgs, hre): Promise<SentTransaction & { cause: string }> => {
  const parsed = parseRegistryOptions(args);
  const node = parseNodeOption(args.node);
  const session = await openRegistry(hre, parsed, true);
  const sender = signerOf(session).address;
  await requireNodeStatus(session, node, "Member", "evict it");

  const owner = await session.app.appAuth.owner();
  // The eviction is mined in a later block: judged at the latest block's time, the earliest it can be.
  const latest = await session.ethers.provider.getBlock("latest");
  const now = BigInt(latest?.timestamp ?? Math.floor(Date.now() / 1000));
  const ground = await evictionGround(session.registry, node, sender, owner, now);
  let explanation: string;
  switch (ground.cause) {
    case "Left":
      explanation = "the member leaves: the sender is the node itself";
      break;
    case "NoLongerAllowed":
      explanation = `the app's policy no longer allows the node ("${ground.reason}"), so anyone may evict it`;
      break;
    case "AttestationExpired":
      explanation =
        `its last attestation expired at ${formatDate(ground.expiredAt)} (it did not refresh it within the ` +
        "registry's period), so anyone may evict it";
      break;
    case "RemovedByOwner":
      explanation = "the sender is the app's owner, who may remove any member at once (the policy still allows it)";
      break;
    case undefined: {
      const ownerIsContract = (await session.ethers.provider.getCode(owner)) !== "0x";
      const hint = ownerIsContract
        ? `the owner (a contract: a multisig?) can submit a call to ${session.address} with data ` +
          `${registryInterface.encodeFunctionData("evict", [node])}`
        : "the owner can evict it, or narrow the policy (remove its compose hash or device) so that anyone can";
      throw new UserError(
        `none of the grounds to evict ${node} applies: the sender ${sender} is not the node itself, the app's ` +
          `policy still allows the node, its attestation counts until ${formatDate(ground.expiresAt)}, and the ` +
          `sender is not the app's owner ${owner}; ${hint}`,
      );
    }
  }
  if ((await session.registry.memberCount()) === 1n && args.yes !== true) {
    throw new UserError(
      `${node} is the last member: evicting it leaves the registry without members, so nobody can ever be ` +
        "onboarded again (a new registry is a new deployment). Re-run with --yes to confirm",
    );
  }

  printRegistryHeader(session);
  console.log(`Evicting member ${node}: ${explanation}.`);
  const sent = await sendRegistryCall(session, { method: "evict", args: [node] });
  const event = sent.events.find((e) => e.name === "MemberEvicted");
  if (event === undefined) throw new Error(`transaction ${sent.hash} emitted no MemberEvicted event`);
  const cause = evictionCauseOf(event.args.getValue("cause") as bigint);
  console.log(
    `Evicted: ${node} is no longer a member (cause ${cause}). It keeps any secret it already held; eviction ` +
      "stops it from onboarding others and tells agents to stop trusting it.",
  );
  return { ...sent, cause };
});
