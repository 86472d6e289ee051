import { getAddress, recoverAddress } from "ethers";

import { UserError } from "../lib/errors.js";
import { formatDate } from "../lib/format.js";
import {
  ReplicationVerificationError,
  checkNodeEvidenceConsistency,
  describeVerificationFailure,
  parseRefreshFile,
  readNodeEvidence,
  refreshArguments,
  refreshDigest,
  registryDomain,
} from "../lib/replication/index.js";
import type { SignedRefresh } from "../lib/replication/index.js";
import { nodeStatusOf } from "../lib/replication/registry.js";
import { MissingOptionError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { readFileOption } from "./shared/files.js";
import {
  evidenceContextOf,
  openRegistry,
  parseRegistryOptions,
  printRegistryHeader,
  sendRegistryCall,
  type RegistryOptions,
  requireSignedForSession,
} from "./shared/registry.js";
import type { SentTransaction } from "./shared/send.js";

export interface RefreshNodeArgs extends RegistryOptions {
  file?: string | undefined;
  fromBlock?: number | undefined;
}

/**
 * A host submits the attestation refresh its node's agent signed (`refresh.json`): before sending, it checks that the
 * file is for this chain and registry, that the node is registered or a member and the refresh is for its next nonce,
 * that the node signed it, and what members will check without collateral: the new quote binds the node's registered
 * keys and measures the boot info the registry stores (a refresh reports a new TCB, never a new boot).
 */
export default defineAction(async (args: RefreshNodeArgs, hre): Promise<SentTransaction & { node: string }> => {
  const parsed = parseRegistryOptions(args);
  if (args.file === undefined) {
    throw new MissingOptionError("file", "the node's signed attestation refresh, as its agent writes it");
  }
  const signed = parseRefreshFile((await readFileOption("file", args.file)).toString("utf8"), args.file);
  const session = await openRegistry(hre, parsed, true);
  const node = await checkRefresh(session, signed, args.file);

  const context = await evidenceContextOf(session);
  const read = await readNodeEvidence(session.registry, node, { fromBlock: args.fromBlock ?? 0 });
  if (read === undefined) throw new Error(`node ${node} has a record but no registration`);
  const r = signed.refresh;
  try {
    checkNodeEvidenceConsistency(
      {
        ...read.evidence,
        bootInfo: { ...read.record.bootInfo, tcbStatus: r.tcbStatus, advisoryIds: r.advisoryIds },
        quote: r.quote,
        eventLog: r.eventLog,
      },
      { appId: context.appId, kms: context.kms },
    );
  } catch (error) {
    if (!(error instanceof ReplicationVerificationError)) throw error;
    throw new UserError(`members would refuse this refresh: ${describeVerificationFailure(error)}`);
  }

  printRegistryHeader(session);
  console.log(
    `Refreshing node ${node}'s attestation (refresh #${BigInt(r.nonce) + 1n}, signed by its in-TEE key): TCB ` +
      `${r.tcbStatus}${r.advisoryIds.length === 0 ? "" : `, advisories ${r.advisoryIds.join(", ")}`}.`,
  );
  const sent = await sendRegistryCall(session, { method: "refreshAttestation", args: [...refreshArguments(signed)] });
  const event = sent.events.find((e) => e.name === "AttestationRefreshed");
  const expiresAt = await session.registry.attestationExpiresAt(node);
  const allowed = event?.args.getValue("allowed") as boolean | undefined;
  console.log(
    `Refreshed: node ${node}'s attestation counts until ${formatDate(expiresAt)}. ` +
      (allowed === false
        ? `The app's policy does NOT allow its refreshed boot info (${String(event?.args.getValue("reason"))}): ` +
          "anyone may evict it, and it onboards nobody."
        : "The app's policy allows its refreshed boot info."),
  );
  return { ...sent, node };
});

/** The file is for this chain and registry, for a node that can refresh, at its next nonce, signed by that node. */
async function checkRefresh(
  session: Awaited<ReturnType<typeof openRegistry>>,
  signed: SignedRefresh,
  file: string,
): Promise<string> {
  requireSignedForSession(session, signed, file);
  const node = getAddress(signed.refresh.node);
  const record = await session.registry.getNode(node);
  const status = nodeStatusOf(record.status);
  if (status !== "Registered" && status !== "Member") {
    throw new UserError(
      `cannot refresh ${node}'s attestation: it is ${status === "None" ? "not registered" : "evicted"} ` +
        "(only a registered node or a member refreshes)",
    );
  }
  if (BigInt(signed.refresh.nonce) !== record.refreshes) {
    throw new UserError(
      `${file} is refresh #${BigInt(signed.refresh.nonce) + 1n} of ${node}, but the registry expects refresh ` +
        `#${record.refreshes + 1n}: ${BigInt(signed.refresh.nonce) < record.refreshes ? "it was submitted already" : "an earlier one is missing"}`,
    );
  }
  let signer: string;
  try {
    signer = recoverAddress(
      refreshDigest(registryDomain(signed.chainId, signed.registry), signed.refresh),
      signed.signature,
    );
  } catch {
    throw new UserError(`${file}: the signature is not a valid ECDSA signature`);
  }
  if (signer !== node) throw new UserError(`${file} is signed by ${signer}, not by the node ${node} it names`);
  return node;
}
