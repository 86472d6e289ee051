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

/** The keystore needs its password and there is no terminal to ask it on. */
export class KeystoreNeedsTerminalError extends DevproofPluginError {
  override name = "KeystoreNeedsTerminalError";

  constructor(readonly variables: string[]) {
    const names = variables.length === 0 ? undefined : variables.join(", ");
    super(
      names === undefined
        ? "the Hardhat keystore needs its password, and there is no terminal to type it (stdin is not a TTY): run " +
            "this at a terminal, or give the variable in the environment instead (Hardhat reads environment " +
            "variables before the keystore)"
        : `reading ${names} from the Hardhat keystore needs its password, and there is no terminal to type it ` +
            `(stdin is not a TTY): for a service, set ${names} in its environment instead (Hardhat reads ` +
            "environment variables before the keystore)",
    );
  }
}
