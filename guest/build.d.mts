/** Bundles the agent into `outfile` (default guest/dist/agent.mjs); resolves with the bundle's sha256 (hex). */
export function buildAgent(outfile?: string): Promise<string>;
