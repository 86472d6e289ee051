import { styleText } from "node:util";

import { HardhatError } from "@nomicfoundation/hardhat-errors";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { NewTaskActionFunction, TaskArguments } from "hardhat/types/tasks";
import type { Result } from "hardhat/types/utils";

import { NegativeAnswer, UserError } from "../../lib/errors.js";
import { DevproofPluginError } from "./plugin-errors.js";
import { causeChain } from "./rpc.js";

/**
 * Wraps a task action so that a {@link UserError} (bad input, wrong signer, wrong state) prints as one red line,
 * without a stack trace, and makes the CLI exit with code 1 (Hardhat sets it for a failed `Result`); a
 * {@link NegativeAnswer}, which the task has already printed as its answer, only sets the exit code. So do the
 * failures this project's plugin names (tasks/shared/plugin.ts): an RPC endpoint that cannot be used, a keystore
 * password with no terminal to type it; they are returned as a UserError with the original as its cause. The error
 * is returned in the Result, so programmatic callers and tests can inspect it. Other errors are bugs: they propagate
 * and Hardhat prints them with their stack.
 */
export function defineAction<Args, Value>(
  action: (args: Args, hre: HardhatRuntimeEnvironment) => Promise<Value>,
): (args: Args, hre: HardhatRuntimeEnvironment) => Promise<Result<Value, UserError>> {
  return async (args, hre) => {
    try {
      return { success: true, value: await action(args, hre) };
    } catch (caught) {
      const error = caught instanceof UserError ? caught : asUserError(caught);
      if (error === undefined) throw caught;
      if (!(error instanceof NegativeAnswer)) console.error(styleText("red", `Error: ${error.message}`));
      return { success: false, error };
    }
  };
}

/**
 * A failure named by this project's plugin, or a configuration variable that is not set (Hardhat's HHE7), anywhere
 * in the error's causes, as a UserError.
 */
function asUserError(error: unknown): UserError | undefined {
  for (const link of causeChain(error)) {
    if (link instanceof DevproofPluginError) return new UserError(link.message, { cause: error });
    if (HardhatError.isHardhatError(link, HardhatError.ERRORS.CORE.GENERAL.ENV_VAR_NOT_FOUND)) {
      const { name } = link.messageArguments;
      return new UserError(
        `the configuration variable ${name} is not set: set it in the environment, or store it with ` +
          `\`npx hardhat keystore set ${name}\``,
        { cause: error },
      );
    }
  }
  return undefined;
}

/**
 * The lazy loader for a task action. Actions that talk to the contract import the TypeChain types, which
 * `npx hardhat compile` generates; before the first compile, say so instead of Hardhat's generic "unable to
 * import the action". The action's argument type is checked against the options the task declares: an option
 * declared INT must reach an action that takes a number.
 */
export function lazyAction<Args extends TaskArguments>(
  load: () => Promise<{ default: NewTaskActionFunction<Args> }>,
): () => Promise<{ default: NewTaskActionFunction<Args> }> {
  return async () => {
    try {
      return await load();
    } catch (error) {
      if (!isMissingGeneratedTypes(error)) throw error;
      return {
        default: defineAction(async () => {
          throw new UserError("the contract types are not generated yet: run `npx hardhat compile` first");
        }),
      };
    }
  };
}

function isMissingGeneratedTypes(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND" &&
    /types[\\/]ethers-contracts/.test(error.message)
  );
}
