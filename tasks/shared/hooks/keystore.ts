import type { ConfigurationVariableHooks, UserInterruptionHooks } from "hardhat/types/hooks";

import { KeystoreNeedsTerminalError } from "../plugin-errors.js";

/** The configuration variables being resolved right now: what a password prompt is for. */
const resolving = new Set<string>();

/**
 * Runs around hardhat-keystore's own handler (this plugin is loaded after it), only to remember which variables are
 * being resolved, so that a password prompt without a terminal can name them.
 */
export async function configurationVariables(): Promise<Partial<ConfigurationVariableHooks>> {
  return {
    async fetchValue(context, variable, next) {
      resolving.add(variable.name);
      try {
        return await next(context, variable);
      } finally {
        resolving.delete(variable.name);
      }
    },
  };
}

/**
 * Without a terminal, Hardhat's password prompt reads stdin: with nothing there (a service, `docker run` without
 * `-i`, a cron job) the prompt never resolves and Node exits with code 13 and no error. Refuse at once instead, and
 * say what works without a terminal: the variable in the environment, which Hardhat reads before the keystore.
 */
export async function userInterruptions(): Promise<Partial<UserInterruptionHooks>> {
  return {
    async requestSecretInput(context, interruptor, inputDescription, next) {
      if (process.stdin.isTTY === true) return await next(context, interruptor, inputDescription);
      throw new KeystoreNeedsTerminalError([...resolving]);
    },
  };
}
