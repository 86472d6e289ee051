import type { ContractTransactionReceipt, ContractTransactionResponse, LogDescription } from "ethers";

import { appAuthInterface, decodeRevert, type ContractCall } from "../../lib/appAuth.js";
import { UserError } from "../../lib/errors.js";
import { signerOf, type AppSession } from "./session.js";

export interface SentTransaction {
  hash: string;
  blockNumber: number;
  /** The contract's events in the receipt, decoded. */
  events: LogDescription[];
}

/**
 * Sends a call, waits for it to be mined, and prints the transaction hash and block. A revert (caught when the
 * node estimates gas, before anything is sent) becomes a {@link UserError} naming the custom error and its values.
 */
export async function sendCall(session: AppSession, call: ContractCall): Promise<SentTransaction> {
  signerOf(session); // a read-only session cannot send: fail clearly rather than inside ethers
  let response: ContractTransactionResponse;
  try {
    response = await session.appAuth.getFunction(call.method)(...call.args);
  } catch (error) {
    const revert = decodeRevert(error);
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
    const revert = decodeRevert(error);
    throw new UserError(
      `transaction ${response.hash} reverted${revert === undefined ? "" : ` with ${revert.description}`}`,
    );
  }
  if (receipt === null) throw new UserError(`transaction ${response.hash} was dropped or replaced`);
  console.log(`Mined in block ${receipt.blockNumber}`);
  const events = receipt.logs.flatMap((log) => {
    if (log.address.toLowerCase() !== session.address.toLowerCase()) return [];
    const parsed = appAuthInterface.parseLog({ topics: [...log.topics], data: log.data });
    return parsed === null ? [] : [parsed];
  });
  return { hash: response.hash, blockNumber: receipt.blockNumber, events };
}

/** The latest block's timestamp: the clock the contract compares `readyAt` with. */
export async function chainNow(session: AppSession): Promise<bigint> {
  const block = await session.ethers.provider.getBlock("latest");
  if (block === null) throw new Error("the node returned no latest block");
  return BigInt(block.timestamp);
}
