/**
 * Tells a contract's refusal (a revert, or an answer that does not decode) from a failure to ask at all (the node is
 * down, the network is wrong). Code that probes "is this contract X?" must answer "no" only for the first: the
 * second is an error to report as what it is, never as "not X".
 */
import { isError } from "ethers";

/** ethers' CALL_EXCEPTION and BAD_DATA; Hardhat's in-process SolidityError; a node's "execution reverted". */
export function isContractRefusal(error: unknown, depth = 0): boolean {
  if (depth > 4 || error === null || typeof error !== "object") return false;
  if (isError(error, "CALL_EXCEPTION") || isError(error, "BAD_DATA")) return true;
  const record = error as { name?: unknown; message?: unknown; cause?: unknown; error?: unknown };
  if (record.name === "SolidityError") return true;
  if (typeof record.message === "string" && /\brevert(ed)?\b/i.test(record.message)) return true;
  return isContractRefusal(record.cause, depth + 1) || isContractRefusal(record.error, depth + 1);
}
