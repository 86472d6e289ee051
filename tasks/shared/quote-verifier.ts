/**
 * The DCAP verifier every replication task uses: Intel's chain through `verifyTdxQuote` (dcap-qvl), always, from the
 * command line. Tests and the demo run TEE stand-ins, whose quotes are the fixture quote with other keys patched in
 * (no TDX hardware here), so they swap in a stand-in verifier through {@link substituteQuoteVerifier}, a library
 * call that no command-line option reaches. While one is in place, every task says so in its output.
 */
import { verifyTdxQuote } from "../../lib/replication/index.js";
import type { QuoteVerifier } from "../../lib/replication/index.js";

const INTEL_DCAP = "Intel DCAP (dcap-qvl): quote signature, PCK certificate chain to Intel's root, CRLs, TCB info";

let current: { verifier: QuoteVerifier; description: string; substitute: boolean } = {
  verifier: verifyTdxQuote,
  description: INTEL_DCAP,
  substitute: false,
};

/** The verifier in force, what it checks in words, and whether it is a substitute (tests and demo only). */
export function quoteVerifier(): Readonly<typeof current> {
  return current;
}

/**
 * Replaces the verifier until the returned function is called. For tests and the demo's TEE stand-ins only;
 * `description` is printed by every task that verifies a quote meanwhile.
 */
export function substituteQuoteVerifier(verifier: QuoteVerifier, description: string): () => void {
  const previous = current;
  current = { verifier, description, substitute: true };
  return () => {
    current = previous;
  };
}
