/**
 * Serves an EIP-1193 provider (e.g. Hardhat's in-process chain) as a JSON-RPC endpoint over HTTP on this machine,
 * so a separate process — the guest agent in the tests, the demo and the benchmark — can read the chain that a
 * script drives. `intercept` sees every request first and may answer it instead of the chain, which is how tests
 * play a failing, lagging or reorged RPC node.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
}

export interface JsonRpcRequest {
  jsonrpc: "2.0";
  id: number | string | null;
  method: string;
  params?: unknown[];
}

/** What an interceptor may do with a request: answer it, fail it as a node would, or let the chain answer. */
export type Interception =
  | { result: unknown }
  | { error: { code: number; message: string } }
  | { httpStatus: number; body?: string }
  | undefined;

export interface JsonRpcServerOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  intercept?: (request: JsonRpcRequest) => Interception | Promise<Interception>;
}

export interface JsonRpcServer {
  url: string;
  port: number;
  /** Stops listening and cuts open connections (clients then see "connection refused"). */
  close(): Promise<void>;
}

export async function serveJsonRpc(
  provider: Eip1193Provider,
  options: JsonRpcServerOptions = {},
): Promise<JsonRpcServer> {
  const host = options.host ?? "127.0.0.1";
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      let payload: unknown;
      try {
        payload = JSON.parse(await readBody(req));
      } catch {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } }));
        return;
      }
      const requests = (Array.isArray(payload) ? payload : [payload]) as JsonRpcRequest[];
      const responses: unknown[] = [];
      for (const request of requests) {
        const interception = await options.intercept?.(request);
        if (interception !== undefined && "httpStatus" in interception) {
          res.writeHead(interception.httpStatus, { "content-type": "text/plain" });
          res.end(interception.body ?? "");
          return;
        }
        responses.push(await answer(provider, request, interception));
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(Array.isArray(payload) ? responses : responses[0]));
    })().catch((error: unknown) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error));
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function answer(
  provider: Eip1193Provider,
  request: JsonRpcRequest,
  interception: Interception,
): Promise<unknown> {
  const id = request.id ?? null;
  if (interception !== undefined && "result" in interception)
    return { jsonrpc: "2.0", id, result: interception.result };
  if (interception !== undefined && "error" in interception) return { jsonrpc: "2.0", id, error: interception.error };
  try {
    const result = await provider.request({ method: request.method, params: request.params ?? [] });
    return { jsonrpc: "2.0", id, result };
  } catch (error) {
    const { code, message, data } = error as { code?: unknown; message?: unknown; data?: unknown };
    return {
      jsonrpc: "2.0",
      id,
      error: { code: typeof code === "number" ? code : -32603, message: String(message ?? error), data },
    };
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
