/**
 * The reconciler's view of the app's TimelockedAppAuth, proven: the confirmed header comes from the header source
 * (a quorum of the configured RPC endpoints), and the current release, its URI and whether each hash is allowed are
 * storage values proven against that header's state root (lib/verified). No endpoint's word is taken for any of
 * them; an endpoint that lies is outvoted (headers) or refused (proofs), and when too few agree nothing is decided.
 */
import type { Release } from "../../lib/release.js";
import type { EndpointReport } from "../../lib/verified/headers.js";
import type { VerifiedChainReader } from "../../lib/verified/reader.js";
import { checkProvenAppAuth, readProvenRelease } from "../../lib/verified/timelockedAppAuth.js";

export interface ChainView {
  /** Who vouched for the header, in words ("2 of 3 endpoints report this header (quorum 2)"). */
  endpoint: string;
  head: number;
  /** The confirmed block every value below was proven at: `head - confirmations`. */
  block: number;
  blockHash: string;
  /** Chain time of that block (seconds). */
  timestamp: number;
  /** The current release at that block; undefined before the first release. */
  release: Release | undefined;
  /** For each hash asked about, whether it is allowed at that block. */
  allowed: Map<string, boolean>;
  /** What each endpoint said about the header (agreeing or not), and every proof refused in this view. */
  reports: EndpointReport[];
  refusedProofs: Array<{ endpoint: string; problem: string }>;
}

/** What the reconciler reads the chain through (a test may give it another). */
export interface ChainReader {
  readView(hashesToCheck: readonly string[]): Promise<ChainView>;
}

export interface VerifiedChainOptions {
  appAuth: string;
  confirmations: number;
}

export class VerifiedChain implements ChainReader {
  /** Set once the address was found, in proven code, to be a TimelockedAppAuth. */
  private checked = false;
  private refused: Array<{ endpoint: string; problem: string }> = [];

  constructor(
    private readonly reader: VerifiedChainReader,
    private readonly options: VerifiedChainOptions,
  ) {}

  /** Called by the reader for every proof it refused (wired in main.ts). */
  noteRefusedProof(endpoint: string, problem: string): void {
    this.refused.push({ endpoint, problem });
  }

  async readView(hashesToCheck: readonly string[]): Promise<ChainView> {
    this.refused = [];
    const evidence = await this.reader.confirmedHeader(this.options.confirmations);
    const { header } = evidence;
    if (!this.checked) {
      await checkProvenAppAuth(this.reader, this.options.appAuth, header);
      this.checked = true;
    }
    const { release, allowed } = await readProvenRelease(this.reader, this.options.appAuth, header, hashesToCheck);
    return {
      endpoint: evidence.how,
      head: evidence.head,
      block: header.number,
      blockHash: header.hash,
      timestamp: header.timestamp,
      release,
      allowed,
      reports: evidence.reports,
      refusedProofs: this.refused,
    };
  }
}
