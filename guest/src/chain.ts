/**
 * Reading the contract through one or more RPC endpoints, always at a confirmed block.
 *
 * Every read starts with the first URL and falls back to the next one on any error, so a preferred node is used
 * again as soon as it is back. All values of one view come from one endpoint and one block number
 * (`latest - confirmations`), passed as blockTag to every call: a view is consistent even when two endpoints
 * disagree about the head. Each endpoint is checked once, before its first use: it must report the expected chain id
 * and find a TimelockedAppAuth at the address.
 */
import { FetchRequest, JsonRpcProvider, Network, toQuantity } from "ethers";

import {
  checkReleaseReader,
  connectReleaseReader,
  isComposeHashAllowedAt,
  readReleaseAt,
  type Release,
  type ReleaseReader,
} from "../../lib/release.js";
import { redactUrl } from "./options.js";

export interface ChainView {
  /** Which endpoint answered (redacted). */
  endpoint: string;
  head: number;
  /** The confirmed block every value below was read at: `head - confirmations`. */
  block: number;
  blockHash: string;
  /** Chain time of that block (seconds). */
  timestamp: number;
  /** The current release at that block; undefined before the first release. */
  release: Release | undefined;
  /** For each hash asked about, whether it is allowed at that block. */
  allowed: Map<string, boolean>;
}

/** No endpoint could give a view; the message lists each one's error. */
export class RpcUnavailableError extends Error {
  override name = "RpcUnavailableError";
}

interface Endpoint {
  url: string;
  shown: string;
  provider: JsonRpcProvider | undefined;
  reader: ReleaseReader | undefined;
}

export interface ChainOptions {
  rpcUrls: string[];
  appAuth: string;
  confirmations: number;
  rpcTimeoutMs: number;
  chainId: number | undefined;
}

export class Chain {
  private readonly endpoints: Endpoint[];
  /** The chain id every endpoint must report: configured, or learned from the first endpoint that answered. */
  private chainId: bigint | undefined;

  constructor(
    private readonly options: ChainOptions,
    private readonly onFallback: (endpoint: string, error: string) => void,
  ) {
    this.endpoints = options.rpcUrls.map((url) => ({
      url,
      shown: redactUrl(url),
      provider: undefined,
      reader: undefined,
    }));
    this.chainId = options.chainId === undefined ? undefined : BigInt(options.chainId);
  }

  /** The confirmed view of the contract, from the first endpoint that can give one. */
  async readView(hashesToCheck: readonly string[]): Promise<ChainView> {
    const errors: string[] = [];
    for (const endpoint of this.endpoints) {
      try {
        return await this.readFrom(endpoint, hashesToCheck);
      } catch (error) {
        const message = shortMessage(error);
        errors.push(`${endpoint.shown}: ${message}`);
        this.onFallback(endpoint.shown, message);
      }
    }
    throw new RpcUnavailableError(`no RPC endpoint gave a view: ${errors.join("; ")}`);
  }

  destroy(): void {
    for (const endpoint of this.endpoints) endpoint.provider?.destroy();
  }

  private async readFrom(endpoint: Endpoint, hashesToCheck: readonly string[]): Promise<ChainView> {
    const reader = await this.connect(endpoint);
    const provider = endpoint.provider!;
    const head = Number(await provider.send("eth_blockNumber", []));
    if (!Number.isSafeInteger(head) || head < 0) throw new Error(`eth_blockNumber answered ${head}`);
    const block = Math.max(0, head - this.options.confirmations);
    const header = (await provider.send("eth_getBlockByNumber", [toQuantity(block), false])) as {
      hash?: string;
      timestamp?: string;
    } | null;
    if (header?.hash == null || header.timestamp == null) throw new Error(`the node has no block ${block}`);
    const release = await readReleaseAt(reader, block);
    const allowed = new Map<string, boolean>();
    if (release !== undefined) allowed.set(release.composeHash, release.allowed);
    for (const hash of hashesToCheck) {
      if (!allowed.has(hash)) allowed.set(hash, await isComposeHashAllowedAt(reader, hash, block));
    }
    return {
      endpoint: endpoint.shown,
      head,
      block,
      blockHash: header.hash,
      timestamp: Number(header.timestamp),
      release,
      allowed,
    };
  }

  /** Creates the endpoint's provider after checking its chain id and the contract; once per endpoint. */
  private async connect(endpoint: Endpoint): Promise<ReleaseReader> {
    if (endpoint.reader !== undefined) return endpoint.reader;
    const request = new FetchRequest(endpoint.url);
    request.timeout = this.options.rpcTimeoutMs;
    const probe = new JsonRpcProvider(request, undefined, { staticNetwork: Network.from(1), batchMaxCount: 1 });
    let chainId: bigint;
    try {
      chainId = BigInt((await probe.send("eth_chainId", [])) as string);
    } finally {
      probe.destroy();
    }
    if (this.chainId !== undefined && chainId !== this.chainId) {
      throw new Error(`it is on chain ${chainId}, not chain ${this.chainId}: not used`);
    }
    const network = Network.from(chainId);
    const provider = new JsonRpcProvider(request, network, { staticNetwork: network, batchMaxCount: 1 });
    const reader = connectReleaseReader(this.options.appAuth, provider);
    try {
      const head = Number(await provider.send("eth_blockNumber", []));
      await checkReleaseReader(reader, Math.max(0, head - this.options.confirmations));
    } catch (error) {
      provider.destroy();
      throw error;
    }
    this.chainId = chainId;
    endpoint.provider = provider;
    endpoint.reader = reader;
    return reader;
  }
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
