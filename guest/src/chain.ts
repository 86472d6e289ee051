/**
 * The replicator's RPC endpoints, read at a confirmed block: every read starts with the first URL and falls back to
 * the next one on any error, so a preferred node is used again as soon as it is back ({@link RpcEndpoints}). All
 * values of one view come from one endpoint and one block number (`latest - confirmations`), passed as blockTag to
 * every call. Each endpoint is checked once, before its first use: it must report the expected chain id.
 *
 * Nothing either loop acts on is read through here: both believe no single endpoint (lib/verified/reader.ts). The
 * replicator uses these endpoints for hints only (logs, transactions by hash, some asked of every endpoint with
 * {@link RpcEndpoints.each}), for configuration checks at start, and to send its transactions.
 */
import { FetchRequest, JsonRpcProvider, Network, toQuantity } from "ethers";

import { redactUrl } from "./options.js";

/** No endpoint could give a view; the message lists each one's error. */
export class RpcUnavailableError extends Error {
  override name = "RpcUnavailableError";
}

/** One JSON-RPC URL, once its chain id was checked. */
export interface ConnectedEndpoint {
  /** Scheme and host only (paths often hold API keys). */
  shown: string;
  provider: JsonRpcProvider;
  /** Checks a loop made once on this endpoint (e.g. "there is a TimelockedAppAuth at X"), with what they found. */
  memo: Map<string, unknown>;
}

interface Endpoint {
  url: string;
  shown: string;
  connected: ConnectedEndpoint | undefined;
}

export interface RpcEndpointsOptions {
  rpcUrls: string[];
  rpcTimeoutMs: number;
  chainId: number | undefined;
}

/**
 * The chain's JSON-RPC URLs, shared by every loop. Each is checked once, before its first use: it must report the
 * expected chain id (configured, or learned from the first endpoint that answered). Every use starts with the first
 * URL and falls back to the next on any error, so a preferred node is used again as soon as it is back.
 */
export class RpcEndpoints {
  private readonly endpoints: Endpoint[];
  private expectedChainId: bigint | undefined;

  constructor(
    private readonly options: RpcEndpointsOptions,
    private readonly onFallback: (endpoint: string, error: string) => void,
  ) {
    this.endpoints = options.rpcUrls.map((url) => ({ url, shown: redactUrl(url), connected: undefined }));
    this.expectedChainId = options.chainId === undefined ? undefined : BigInt(options.chainId);
  }

  /** The chain id every endpoint reports; undefined until one answered (or configured). */
  get chainId(): bigint | undefined {
    return this.expectedChainId;
  }

  /** How many URLs there are (for timeouts: a read may try each). */
  get count(): number {
    return this.endpoints.length;
  }

  /**
   * Runs `use` with the first endpoint that works, falling back in order; throws {@link RpcUnavailableError} with
   * each endpoint's error when none does. `use` must be safe to run again on the next endpoint (a read, or sending a
   * transaction that is already signed).
   */
  async first<T>(use: (endpoint: ConnectedEndpoint) => Promise<T>, what = "gave an answer"): Promise<T> {
    const errors: string[] = [];
    for (const endpoint of this.endpoints) {
      try {
        return await use(await this.connect(endpoint));
      } catch (error) {
        const message = shortMessage(error);
        errors.push(`${endpoint.shown}: ${message}`);
        this.onFallback(endpoint.shown, message);
      }
    }
    throw new RpcUnavailableError(`no RPC endpoint ${what}: ${errors.join("; ")}`);
  }

  /**
   * Runs `use` on every endpoint, at once: each one's answer or error. For reads whose answers cannot be proven
   * (logs), where one endpoint's word must not be enough to act (e.g. "no onboarding happened").
   */
  async each<T>(
    use: (endpoint: ConnectedEndpoint) => Promise<T>,
  ): Promise<Array<{ endpoint: string; value: T } | { endpoint: string; error: string }>> {
    return Promise.all(
      this.endpoints.map(async (endpoint) => {
        try {
          return { endpoint: endpoint.shown, value: await use(await this.connect(endpoint)) };
        } catch (error) {
          return { endpoint: endpoint.shown, error: shortMessage(error) };
        }
      }),
    );
  }

  destroy(): void {
    for (const endpoint of this.endpoints) endpoint.connected?.provider.destroy();
  }

  /** Creates the endpoint's provider after checking its chain id; once per endpoint. */
  private async connect(endpoint: Endpoint): Promise<ConnectedEndpoint> {
    if (endpoint.connected !== undefined) return endpoint.connected;
    const request = new FetchRequest(endpoint.url);
    request.timeout = this.options.rpcTimeoutMs;
    const probe = new JsonRpcProvider(request, undefined, { staticNetwork: Network.from(1), batchMaxCount: 1 });
    let chainId: bigint;
    try {
      chainId = BigInt((await probe.send("eth_chainId", [])) as string);
    } finally {
      probe.destroy();
    }
    if (this.expectedChainId !== undefined && chainId !== this.expectedChainId) {
      throw new Error(`it is on chain ${chainId}, not chain ${this.expectedChainId}: not used`);
    }
    this.expectedChainId = chainId;
    const network = Network.from(chainId);
    // No response cache: ethers reuses an answer for 250 ms by default, and a pass must see the chain as it is now.
    const provider = new JsonRpcProvider(request, network, {
      staticNetwork: network,
      batchMaxCount: 1,
      cacheTimeout: -1,
    });
    endpoint.connected = { shown: endpoint.shown, provider, memo: new Map() };
    return endpoint.connected;
  }
}

/** The head and the confirmed block (`head - confirmations`) as one endpoint reports them. */
export interface ConfirmedBlock {
  endpoint: string;
  head: number;
  block: number;
  blockHash: string;
  /** Chain time of that block (seconds). */
  timestamp: number;
}

/** Reads the head and the header of the block `confirmations` below it. */
export async function readConfirmedBlock(endpoint: ConnectedEndpoint, confirmations: number): Promise<ConfirmedBlock> {
  const provider = endpoint.provider;
  const head = Number(await provider.send("eth_blockNumber", []));
  if (!Number.isSafeInteger(head) || head < 0) throw new Error(`eth_blockNumber answered ${head}`);
  const block = Math.max(0, head - confirmations);
  const header = (await provider.send("eth_getBlockByNumber", [toQuantity(block), false])) as {
    hash?: string;
    timestamp?: string;
  } | null;
  if (header?.hash == null || header.timestamp == null) throw new Error(`the node has no block ${block}`);
  return { endpoint: endpoint.shown, head, block, blockHash: header.hash, timestamp: Number(header.timestamp) };
}

/** ethers errors carry a long JSON dump; keep the part a person reads. */
export function shortMessage(error: unknown): string {
  if (error instanceof Error) {
    const short = (error as { shortMessage?: string }).shortMessage;
    const message = short ?? error.message;
    const code = (error as { code?: string }).code;
    return code !== undefined && short !== undefined ? `${message} (${code})` : message.split("\n")[0]!;
  }
  return String(error);
}
