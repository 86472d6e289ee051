/**
 * The app's TLS identity: a key derived from the replicated secret (`key.ts`), certificates for it
 * (`certificate.ts`, `acme.ts`), the quote binding a member serves at `/attestation` (`report-data.ts`,
 * `attestation.ts`), and what a user checks against a live app (`served.ts`, `verify-app.ts`). See docs/tls.md.
 */
export * from "./certificate.js";
export * from "./key.js";
export * from "./report-data.js";
export * from "./attestation.js";
export * from "./served.js";
export * from "./verify-app.js";
export * from "./acme.js";
export * from "./ct.js";
export * from "./ct-watch.js";
export * from "./merkle.js";
export * from "./crtsh.js";
export * from "./ct-feed.js";
