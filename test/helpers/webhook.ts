/** A local webhook endpoint for `watch --webhook` tests: it records what it takes and answers as told. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface WebhookReceiver<Body = unknown> {
  url: string;
  /** The parsed JSON bodies of the requests it took (answered 2xx), in order. */
  received: Body[];
  /** How many requests came, taken or not. */
  requests(): number;
  close(): Promise<void>;
}

/**
 * Starts an endpoint on 127.0.0.1. `status(n)` answers the n-th request (1-based); a status of 300 or more refuses
 * it. With `closed`, nothing listens at the URL any more: clients get "connection refused".
 */
export async function startWebhookReceiver<Body = unknown>(
  status: (request: number) => number = () => 204,
  { closed = false }: { closed?: boolean } = {},
): Promise<WebhookReceiver<Body>> {
  const received: Body[] = [];
  let requests = 0;
  const server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      requests += 1;
      response.statusCode = status(requests);
      if (response.statusCode < 300) received.push(JSON.parse(body) as Body);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/devproof`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  if (closed) await close();
  return { url, received, requests: () => requests, close };
}
