/**
 * Where a verified header comes from: one interface, two ways.
 *
 * - {@link QuorumHeaderSource}: several independent JSON-RPC endpoints; a header counts once at least `quorum` of
 *   them report the same hash at the height and no other hash reaches the quorum. Each answer is first checked to
 *   hash to what it claims (./header.ts), so a header's state root is vouched for by the same endpoints.
 * - a light client (./lightClient.ts): a header the client verified itself from the chain's consensus.
 *
 * Every answer is reported, agreeing or not, so a caller can say which endpoint said what.
 */
import { headerFromRpcBlock, type VerifiedHeader } from "./header.js";
import { quantityToNumber, type RpcClient } from "./rpc.js";

/** What one endpoint said in a round: its head, the hash it reports at the height, or why it was not counted. */
export interface EndpointReport {
  endpoint: string;
  head?: number;
  hash?: string;
  /** Set when the endpoint was not counted: no answer, another chain, a header that does not hash, … */
  problem?: string;
}

/** A header the source vouches for, with the evidence. */
export interface HeaderEvidence {
  header: VerifiedHeader;
  /** The head the confirmed height was counted from (for a light client, its own head). */
  head: number;
  /** How the header was verified, in words: "2 of 3 endpoints agree", "light client (base)". */
  how: string;
  /** Every endpoint's report; for a quorum, the ones that disagreed or failed are the ones with another hash or a problem. */
  reports: EndpointReport[];
}

/** No header could be verified: too few endpoints answered, or they disagree. Carries every endpoint's report. */
export class HeaderUnverifiedError extends Error {
  override name = "HeaderUnverifiedError";

  constructor(
    message: string,
    readonly kind: "too-few" | "disagree" | "unavailable",
    readonly reports: EndpointReport[],
  ) {
    super(message);
  }
}

/** A source of verified headers. */
export interface HeaderSource {
  /** "quorum 2 of 3", "light client (base)": for logs and `/status`. */
  readonly description: string;
  /** The verified header `confirmations` blocks below the head. */
  confirmedHeader(confirmations: number): Promise<HeaderEvidence>;
  /** The verified header at `height`. */
  verifiedHeader(height: number): Promise<HeaderEvidence>;
}

export interface QuorumOptions {
  /** How many endpoints must report the same header hash (1 only when the operator opted out of a quorum). */
  quorum: number;
  /** The chain every endpoint must be on; undefined: learned once `quorum` endpoints report the same chain id. */
  chainId?: bigint | undefined;
}

/** The quorum a set of `count` endpoints gets by default: a majority, and never fewer than 2. */
export function defaultQuorum(count: number): number {
  return Math.max(2, Math.floor(count / 2) + 1);
}

/**
 * A header is verified when at least `quorum` endpoints report it. The confirmed height is counted from the
 * `quorum`-th highest head reported, so no single endpoint can move it: one that claims a far head is ignored, and a
 * stale one only lowers nothing while `quorum` others are ahead of it.
 */
export class QuorumHeaderSource implements HeaderSource {
  readonly description: string;
  private chainId: bigint | undefined;
  /** Endpoints whose chain id was checked (by `shown`). */
  private readonly checked = new Set<string>();

  constructor(
    private readonly clients: readonly RpcClient[],
    private readonly options: QuorumOptions,
  ) {
    if (!Number.isInteger(options.quorum) || options.quorum < 1 || options.quorum > clients.length) {
      throw new Error(`a quorum of ${options.quorum} cannot be reached with ${clients.length} endpoint(s)`);
    }
    this.chainId = options.chainId;
    this.description =
      options.quorum === 1 && clients.length === 1
        ? "one endpoint, no quorum"
        : `quorum of ${options.quorum} of ${clients.length} endpoints`;
  }

  get quorum(): number {
    return this.options.quorum;
  }

  async confirmedHeader(confirmations: number): Promise<HeaderEvidence> {
    await this.checkChains();
    const reports = await Promise.all(
      this.clients.map(async (client): Promise<EndpointReport> => {
        if (!this.checked.has(client.shown)) return { endpoint: client.shown, problem: this.chainProblem(client) };
        try {
          return {
            endpoint: client.shown,
            head: quantityToNumber(await client.request("eth_blockNumber", []), "head"),
          };
        } catch (error) {
          return { endpoint: client.shown, problem: messageOf(error) };
        }
      }),
    );
    const heads = reports
      .map((report) => report.head)
      .filter((head): head is number => head !== undefined)
      .sort((a, b) => b - a);
    if (heads.length < this.options.quorum) {
      throw new HeaderUnverifiedError(
        `only ${heads.length} of ${this.clients.length} RPC endpoints answered, ${this.options.quorum} must agree: ${describeReports(reports)}`,
        "too-few",
        reports,
      );
    }
    const head = heads[this.options.quorum - 1]!;
    const evidence = await this.headerAt(Math.max(0, head - confirmations), reports);
    return { ...evidence, head };
  }

  async verifiedHeader(height: number): Promise<HeaderEvidence> {
    await this.checkChains();
    return this.headerAt(
      height,
      this.clients.map((client) => ({ endpoint: client.shown })),
    );
  }

  /** Asks every endpoint (that answered so far) for the header at `height`, and counts the hashes. */
  private async headerAt(height: number, earlier: EndpointReport[]): Promise<HeaderEvidence> {
    const reports = await Promise.all(
      this.clients.map(async (client, index): Promise<EndpointReport> => {
        const before = earlier[index] ?? { endpoint: client.shown };
        if (before.problem !== undefined) return before;
        if (!this.checked.has(client.shown)) return { ...before, problem: this.chainProblem(client) };
        try {
          const block = await client.request("eth_getBlockByNumber", [`0x${height.toString(16)}`, false]);
          if (block === null) return { ...before, problem: `it has no block ${height}` };
          const header = headerFromRpcBlock(block);
          if (header.number !== height)
            return { ...before, problem: `it answered block ${header.number} for ${height}` };
          return { ...before, hash: header.hash, header } as EndpointReport & { header: VerifiedHeader };
        } catch (error) {
          return { ...before, problem: messageOf(error) };
        }
      }),
    );
    const byHash = new Map<string, { header: VerifiedHeader; endpoints: string[] }>();
    for (const report of reports as Array<EndpointReport & { header?: VerifiedHeader }>) {
      if (report.header === undefined) continue;
      const group = byHash.get(report.header.hash) ?? { header: report.header, endpoints: [] };
      group.endpoints.push(report.endpoint);
      byHash.set(report.header.hash, group);
    }
    const clean = reports.map(({ endpoint, head, hash, problem }) => ({ endpoint, head, hash, problem }));
    const winners = [...byHash.values()].filter((group) => group.endpoints.length >= this.options.quorum);
    if (winners.length !== 1) {
      const answered = [...byHash.values()].reduce((sum, group) => sum + group.endpoints.length, 0);
      const kind = answered < this.options.quorum ? "too-few" : "disagree";
      throw new HeaderUnverifiedError(
        kind === "too-few"
          ? `only ${answered} of ${this.clients.length} RPC endpoints gave block ${height}, ${this.options.quorum} must agree: ${describeReports(clean)}`
          : `RPC endpoints disagree about block ${height}, no hash has ${this.options.quorum} of ${this.clients.length}: ${describeReports(clean)}`,
        kind,
        clean,
      );
    }
    const winner = winners[0]!;
    return {
      header: winner.header,
      head: height,
      how: `${winner.endpoints.length} of ${this.clients.length} endpoints report this header (quorum ${this.options.quorum})`,
      reports: clean,
    };
  }

  /** Checks, once per endpoint, that it is on the expected chain (learned from a quorum when not configured). */
  private async checkChains(): Promise<void> {
    const unchecked = this.clients.filter((client) => !this.checked.has(client.shown));
    if (unchecked.length === 0) return;
    const answers = await Promise.all(
      unchecked.map(async (client) => {
        try {
          return { client, chainId: BigInt(quantityToNumber(await client.request("eth_chainId", []), "chain id")) };
        } catch (error) {
          this.problems.set(client.shown, messageOf(error));
          return { client, chainId: undefined };
        }
      }),
    );
    if (this.chainId === undefined) {
      const counts = new Map<bigint, number>();
      for (const { chainId } of answers) if (chainId !== undefined) counts.set(chainId, (counts.get(chainId) ?? 0) + 1);
      const agreed = [...counts].filter(([, count]) => count >= this.options.quorum);
      if (agreed.length === 1) this.chainId = agreed[0]![0];
    }
    for (const { client, chainId } of answers) {
      if (chainId === undefined) continue;
      if (this.chainId === undefined) {
        this.problems.set(
          client.shown,
          `chain ${chainId}, and no chain id is reported by ${this.options.quorum} endpoints`,
        );
      } else if (chainId !== this.chainId) {
        this.problems.set(client.shown, `it is on chain ${chainId}, not chain ${this.chainId}: not counted`);
      } else {
        this.checked.add(client.shown);
        this.problems.delete(client.shown);
      }
    }
  }

  private readonly problems = new Map<string, string>();

  private chainProblem(client: RpcClient): string {
    return this.problems.get(client.shown) ?? "its chain id is not known yet";
  }
}

/** "a: head 12, hash 0xab…; b: no answer (…)" */
export function describeReports(reports: readonly EndpointReport[]): string {
  return reports
    .map((report) => {
      const said = [
        report.head === undefined ? undefined : `head ${report.head}`,
        report.hash === undefined ? undefined : `hash ${report.hash}`,
        report.problem,
      ].filter((part) => part !== undefined);
      return `${report.endpoint}: ${said.join(", ")}`;
    })
    .join("; ");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
