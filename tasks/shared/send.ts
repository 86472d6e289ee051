import type {
  BaseContract,
  ContractTransactionReceipt,
  ContractTransactionResponse,
  Interface,
  LogDescription,
} from "ethers";

import { appAuthInterface, decodeRevert, type ContractCall } from "../../lib/appAuth.js";
import { UserError } from "../../lib/errors.js";
import { signerOf, type AppSession, type NetworkSession } from "./session.js";

export interface SentTransaction {
  hash: string;
  blockNumber: number;
  /** The contract's events in the receipt, decoded. */
  events: LogDescription[];
}

/** A contract a task sends to: connected to the sending signer, with the ABI that decodes its reverts and events. */
export interface CallTarget {
  contract: BaseContract;
  address: string;
  iface: Interface;
}

/**
 * Sends a call to the session's TimelockedAppAuth, waits for it to be mined, and prints the transaction hash and
 * block. A revert (caught when the node estimates gas, before anything is sent) becomes a {@link UserError} naming
 * the custom error and its values.
 */
export async function sendCall(session: AppSession, call: ContractCall): Promise<SentTransaction> {
  return sendTo(session, { contract: session.appAuth, address: session.address, iface: appAuthInterface }, call);
}

/** {@link sendCall} for any contract: the registry tasks send to the ReplicationRegistry through it. */
export async function sendTo(
  session: NetworkSession,
  target: CallTarget,
  call: ContractCall<string>,
): Promise<SentTransaction> {
  signerOf(session); // a read-only session cannot send: fail clearly rather than inside ethers
  let response: ContractTransactionResponse;
  try {
    response = (await target.contract.getFunction(call.method)(...call.args)) as ContractTransactionResponse;
  } catch (error) {
    const revert = decodeRevert(error, target.iface);
    if (revert !== undefined)
      throw new UserError(`${call.method} would revert with ${revert.description}; nothing was sent`);
    throw error;
  }
  console.log(`Transaction ${response.hash} sent, waiting for it to be mined...`);
  let receipt: ContractTransactionReceipt | null;
  try {
    receipt = await response.wait();
  } catch (error) {
    // A receipt carries no revert data: the state changed between the estimate and the inclusion.
    const revert = decodeRevert(error, target.iface);
    throw new UserError(
      `transaction ${response.hash} reverted${revert === undefined ? "" : ` with ${revert.description}`}`,
    );
  }
  if (receipt === null) throw new UserError(`transaction ${response.hash} was dropped or replaced`);
  console.log(`Mined in block ${receipt.blockNumber}`);
  const events = receipt.logs.flatMap((log) => {
    if (log.address.toLowerCase() !== target.address.toLowerCase()) return [];
    const parsed = target.iface.parseLog({ topics: [...log.topics], data: log.data });
    return parsed === null ? [] : [parsed];
  });
  return { hash: response.hash, blockNumber: receipt.blockNumber, events };
}

/** The latest block's timestamp: the clock the contract compares `readyAt` with. */
export async function chainNow(session: NetworkSession): Promise<bigint> {
  const block = await session.ethers.provider.getBlock("latest");
  if (block === null) throw new Error("the node returned no latest block");
  return BigInt(block.timestamp);
}
