import type { NetworkHooks } from "hardhat/types/hooks";

import { RpcEndpointError } from "../plugin-errors.js";
import { classifyTransportFailure, describeTransportFailure, endpointOf } from "../rpc.js";

/**
 * Every request to an HTTP network passes here: a transport failure (DNS, refused, timeout, an HTTP error, an answer
 * that is not JSON-RPC, the wrong chain) becomes one {@link RpcEndpointError} line naming the network and the setting
 * to check, for our tasks and Hardhat's own alike. JSON-RPC errors (reverts, bad parameters) pass unchanged.
 */
export default async (): Promise<Partial<NetworkHooks>> => ({
  async onRequest(context, connection, request, next) {
    if (connection.networkConfig.type !== "http") return await next(context, connection, request);
    try {
      return await next(context, connection, request);
    } catch (error) {
      if (error instanceof RpcEndpointError) throw error;
      const failure = classifyTransportFailure(error);
      if (failure === undefined) throw error;
      const endpoint = await endpointOf(connection.networkName, connection.networkConfig);
      if (endpoint === undefined) throw error;
      throw new RpcEndpointError(
        describeTransportFailure(failure, endpoint),
        error instanceof Error ? error : undefined,
      );
    }
  },
});
