/**
 * Two small local servers for `npx hardhat status-page`, both on 127.0.0.1: the page's static files, and, for
 * Hardhat's in-process chain (which has no URL a browser could reach), a JSON-RPC endpoint that forwards to it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import type { StaticFiles } from "./build.js";

export interface LocalServer {
  url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

async function listen(server: Server, port: number): Promise<LocalServer> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Serves the page's files (GET only; `/` is index.html), and `feeds`: JSON documents made by this process at each
 * request (`/ct.json`: the certificate-transparency data the status-page task follows for the page).
 */
export function serveStatusPage(
  files: StaticFiles,
  port: number,
  feeds: Record<string, () => unknown> = {},
): Promise<LocalServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    const feed = Object.hasOwn(feeds, pathname) ? feeds[pathname] : undefined;
    if (req.method === "GET" && feed !== undefined) {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(feed()));
      return;
    }
    const name = pathname === "/" ? "/index.html" : pathname;
    const body = files.get(name);
    if (req.method !== "GET" || body === undefined) {
      res.writeHead(req.method !== "GET" ? 405 : 404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, {
      "content-type": CONTENT_TYPES[name.slice(name.lastIndexOf("."))] ?? "application/octet-stream",
      "cache-control": "no-store",
      // The page talks to the RPC URL it is given and to nothing else.
      "content-security-policy": "default-src 'self'; connect-src *; img-src 'self' data:; style-src 'self'",
    });
    res.end(body);
  });
  return listen(server, port);
}

/** Anything that answers EIP-1193 requests: Hardhat's network provider. */
export interface RequestProvider {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

/** A JSON-RPC endpoint over `provider`, with the CORS headers a page on another port needs. */
export function serveJsonRpc(provider: RequestProvider, port: number): Promise<LocalServer> {
  const answer = async (request: { id?: unknown; method?: unknown; params?: unknown }) => {
    try {
      const result = await provider.request({
        method: String(request.method),
        params: Array.isArray(request.params) ? request.params : [],
      });
      return { jsonrpc: "2.0", id: request.id ?? null, result };
    } catch (error) {
      const { code, message, data } = error as { code?: unknown; message?: unknown; data?: unknown };
      return {
        jsonrpc: "2.0",
        id: request.id ?? null,
        error: { code: typeof code === "number" ? code : -32603, message: String(message ?? error), data },
      };
    }
  };
  const server = createServer((req, res) => {
    res.setHeader("access-control-allow-origin", "*");
    res.setHeader("access-control-allow-headers", "*");
    res.setHeader("access-control-allow-methods", "POST, OPTIONS");
    if (req.method === "OPTIONS") return void res.writeHead(204).end();
    if (req.method !== "POST") return void res.writeHead(405).end();
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    req.on("end", () => {
      void (async () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          res.writeHead(400, { "content-type": "application/json" });
          res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } }));
          return;
        }
        const reply = Array.isArray(parsed) ? await Promise.all(parsed.map(answer)) : await answer(parsed as object);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify(reply, (_key, value: unknown) =>
            typeof value === "bigint" ? `0x${value.toString(16)}` : value,
          ),
        );
      })();
    });
  });
  return listen(server, port);
}
