import { definePlugin } from "hardhat/plugins";

import { PLUGIN_ID } from "./plugin-errors.js";

/**
 * This project's hooks into Hardhat: one line instead of a stack trace when a network's RPC endpoint fails, and a
 * clear refusal instead of a silent exit when the keystore would prompt for its password without a terminal. Listed
 * after the toolbox in hardhat.config.ts, so its handlers run before (around) the toolbox plugins'.
 */
export default definePlugin({
  id: PLUGIN_ID,
  hookHandlers: {
    network: () => import("./hooks/network.js"),
    configurationVariables: async () => ({ default: (await import("./hooks/keystore.js")).configurationVariables }),
    userInterruptions: async () => ({ default: (await import("./hooks/keystore.js")).userInterruptions }),
  },
});
