import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

import { serveJsonRpc, type JsonRpcServer } from "../../lib/jsonRpcServer.js";

/** Hardhat's first test account: it has funds on the stand-in chain. */
export const FUNDED_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

export interface BaseStandIn extends JsonRpcServer {
  connection: NetworkConnection<"op">;
}

/**
 * A fresh in-process chain with Base's chain id (8453, OP Stack) served over HTTP on 127.0.0.1: what `BASE_RPC_URL`
 * points at when a test runs `--network base` through the CLI.
 */
export async function serveBaseStandIn(): Promise<BaseStandIn> {
  const connection = await network.create({ network: "default", chainType: "op", override: { chainId: 8453 } });
  return { ...(await serveJsonRpc(connection.provider)), connection };
}
