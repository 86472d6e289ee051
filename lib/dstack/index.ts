/**
 * dstack's own evidence formats, free of Hardhat and of this project's protocol: a key's signature chain up to the
 * KMS root, the key-provider event, and what the KMS contract publishes about its keys. See docs/evidence.md.
 */
export * from "./errors.js";
export * from "./key-provider.js";
export * from "./kms-info.js";
export * from "./signature-chain.js";
export * from "./signed-message.js";
