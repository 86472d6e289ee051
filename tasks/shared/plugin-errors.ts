/**
 * Errors of this project's Hardhat plugin (tasks/shared/plugin.ts). They are `HardhatPluginError`s, so that Hardhat's
 * own tasks (`ignition deploy`, `run`) print them as one line without a stack trace; `defineAction` prints them as
 * our tasks print a `UserError`.
 */
import { HardhatPluginError } from "hardhat/plugins";

export const PLUGIN_ID = "dstack-devproof";

export class DevproofPluginError extends HardhatPluginError {
  constructor(message: string, cause?: Error) {
    super(PLUGIN_ID, message, cause);
  }
}

/** A failure of a network's RPC endpoint (unreachable, refusing, silent, not JSON-RPC, wrong chain). */
export class RpcEndpointError extends DevproofPluginError {
  override name = "RpcEndpointError";
}
