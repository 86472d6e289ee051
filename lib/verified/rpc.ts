/**
 * The smallest JSON-RPC client the verified reader needs: one request at a time, no cache, no batching, a timeout,
 * and an endpoint name that never shows a URL's path (RPC URLs often carry an API key there). Answers are untrusted:
 * everything read through it is checked by the caller (a header's hash, a proof against a verified root).
 */
import type { LogSource, RawLog } from "../release.js";

/** One JSON-RPC endpoint; `shown` is how logs and `/status` name it. */
export interface RpcClient {
  readonly shown: string;
  request(method: string, params: readonly unknown[]): Promise<unknown>;
}

/** An endpoint answered something other than a JSON-RPC result (HTTP error, JSON-RPC error, not JSON, timeout). */
export class RpcRequestError extends Error {
  override name = "RpcRequestError";
}

/** `https://host/…`: scheme and host only, because paths and queries of RPC URLs often hold API keys. */
export function redactRpcUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const rest = parsed.pathname !== "/" || parsed.search !== "" ? "/…" : "";
    return `${parsed.protocol}//${parsed.host}${rest}`;
  } catch {
    return "<invalid URL>";
  }
}

/** A client for an http(s) JSON-RPC URL, each request limited to `timeoutMs`. */
export function httpRpcClient(url: string, options: { timeoutMs: number; shown?: string }): RpcClient {
  let id = 0;
  const shown = options.shown ?? redactRpcUrl(url);
  return {
    shown,
    async request(method, params) {
      id += 1;
      let response: Response;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        const what = (error as Error).name === "TimeoutError" ? `no answer within ${options.timeoutMs} ms` : cause;
        throw new RpcRequestError(`${method}: ${what ?? (error as Error).message}`);
      }
      const text = await response.text();
      if (!response.ok) throw new RpcRequestError(`${method}: HTTP ${response.status}`);
      let body: { result?: unknown; error?: { message?: string; code?: number } };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new RpcRequestError(`${method}: the answer is not JSON`);
      }
      if (body.error !== undefined) {
        throw new RpcRequestError(`${method}: ${body.error.message ?? "error"} (${body.error.code ?? "no code"})`);
      }
      if (!("result" in body)) throw new RpcRequestError(`${method}: the answer has no result`);
      return body.result;
    },
  };
}

/** A client over an EIP-1193 provider (Hardhat's, a browser wallet's, a light client's). */
export function eip1193RpcClient(
  shown: string,
  provider: { request(args: { method: string; params?: unknown[] }): Promise<unknown> },
): RpcClient {
  return {
    shown,
    async request(method, params) {
      try {
        return await provider.request({ method, params: [...params] });
      } catch (error) {
        throw new RpcRequestError(
          `${method}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`,
        );
      }
    },
  };
}

/** `0x`-quantity → number, refusing what is not a safe non-negative integer. */
export function quantityToNumber(value: unknown, what: string): number {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{1,16}$/.test(value)) {
    throw new RpcRequestError(`${what}: not a quantity (${JSON.stringify(value)?.slice(0, 80)})`);
  }
  const number = Number(BigInt(value));
  if (!Number.isSafeInteger(number)) throw new RpcRequestError(`${what}: ${value} is out of range`);
  return number;
}

/**
 * `eth_getLogs` of one endpoint, as a {@link LogSource}. Logs are not proven: the caller holds what it gets to proven
 * storage (lib/release.ts `readComposeUri`), and tries another endpoint when it does not match.
 */
export function rpcLogSource(client: RpcClient): LogSource {
  return {
    async getLogs(filter) {
      const answer = await client.request("eth_getLogs", [
        {
          address: filter.address,
          fromBlock: `0x${filter.fromBlock.toString(16)}`,
          toBlock: `0x${filter.toBlock.toString(16)}`,
          topics: filter.topics,
        },
      ]);
      if (!Array.isArray(answer)) throw new RpcRequestError(`${client.shown} answered eth_getLogs with no list`);
      return answer.map((entry: unknown): RawLog => {
        const log = (entry ?? {}) as Record<string, unknown>;
        const topics = Array.isArray(log["topics"]) ? log["topics"].map(String) : [];
        return {
          address: String(log["address"]),
          blockNumber: quantityToNumber(log["blockNumber"], "a log's blockNumber"),
          index: quantityToNumber(log["logIndex"], "a log's logIndex"),
          topics,
          data: typeof log["data"] === "string" ? log["data"] : "0x",
        };
      });
    },
  };
}
