/**
 * Off-chain side of the ReplicationRegistry, shared by tasks, tests and the guest agent. See README.md here for
 * the protocol and the `report_data` binding.
 */
export * from "./eip712.js";
export * from "./errors.js";
export * from "./event-log.js";
export * from "./quote.js";
export * from "./registration.js";
export * from "./report-data.js";
export * from "./secret.js";
