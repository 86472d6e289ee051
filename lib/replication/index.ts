/**
 * Off-chain side of the ReplicationRegistry, shared by tasks, tests and the guest agent. See README.md here for
 * the protocol and the `report_data` binding. `registry.ts` (the tasks' full binding of a deployed registry) is
 * imported on its own: it needs the contract types that `npx hardhat compile` generates at run time, and nothing
 * here does (`registry-view.ts` writes out the ABI the agent uses).
 */
export * from "./collateral.js";
export * from "./dstack-node.js";
export * from "./eip712.js";
export * from "./errors.js";
export * from "./event-log.js";
export * from "./files.js";
export * from "./key-chain.js";
export * from "./measured-boot.js";
export * from "./node-evidence.js";
export * from "./node-records.js";
export * from "./quote.js";
export * from "./registration.js";
export * from "./registry-view.js";
export * from "./report-data.js";
export * from "./secret.js";
