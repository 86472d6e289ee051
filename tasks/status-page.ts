import { APP_AUTH_INTERFACE_ID } from "../lib/appAuth.js";
import { isDstackAppAuth } from "../lib/devproof-snapshot.js";
import { UserError } from "../lib/errors.js";
import { checkInteger, parseAddress, requireOption } from "../lib/validate.js";
import { buildStatusPage } from "../web/build.js";
import { serveJsonRpc, serveStatusPage, type LocalServer } from "../web/server.js";
import { defineAction } from "./shared/action.js";
import { openNetwork } from "./shared/session.js";

export interface StatusPageArgs {
  app?: string | undefined;
  port: number;
  rpc?: string | undefined;
  registry?: string | undefined;
}

export interface StatusPageResult {
  /** The page, with `?rpc=…&app=…`. */
  url: string;
  /** The JSON-RPC URL the browser reads from. */
  rpcUrl: string;
  /** Stops the servers this task started. */
  close(): Promise<void>;
}

/**
 * Builds the status page and serves it on 127.0.0.1; prints its URL, which carries the RPC URL the browser reads
 * the chain from. The page keeps running until the process is stopped (Ctrl-C).
 */
export default defineAction(async (args: StatusPageArgs, hre): Promise<StatusPageResult> => {
  const app = parseAddress("app", requireOption("app", args.app, "the address of the app's auth contract"));
  const registry = args.registry === undefined ? undefined : parseAddress("registry", args.registry);
  const port = checkInteger("port", args.port, "a port number from 0 (any free port) to 65535", { max: 65535 });
  const session = await openNetwork(hre, undefined, false);
  if (!(await isDstackAppAuth(session.ethers.provider, app))) {
    throw new UserError(
      `no dstack AppAuth at ${app} on ${session.where} (supportsInterface(${APP_AUTH_INTERFACE_ID}) is not true, and ` +
        "isAppAllowed(bootInfo) does not answer): check --app and --network",
    );
  }

  const servers: LocalServer[] = [];
  const close = async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  };
  let rpcUrl: string;
  const networkConfig = session.connection.networkConfig;
  if (args.rpc !== undefined) {
    rpcUrl = args.rpc;
  } else if (networkConfig.type === "http") {
    rpcUrl = await networkConfig.url.getUrl();
  } else {
    // Hardhat's in-process chain has no URL: give the browser one, for as long as this process lives.
    const rpcServer = await serveJsonRpc(session.connection.provider, 0);
    servers.push(rpcServer);
    rpcUrl = rpcServer.url;
    console.log(`JSON-RPC for ${session.where} (in-process): ${rpcUrl}`);
  }

  let page: LocalServer;
  try {
    page = await serveStatusPage(await buildStatusPage(), port);
  } catch (error) {
    await close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new UserError(`port ${port} on 127.0.0.1 is in use: pass --port <another>`);
    throw error;
  }
  servers.push(page);
  const query = new URLSearchParams({ rpc: rpcUrl, app, ...(registry === undefined ? {} : { registry }) });
  const url = `${page.url}/?${query.toString()}`;
  console.log(`Status page for ${app} on ${session.where}:`);
  console.log(`  ${url}`);
  console.log(
    "The page reads the chain from your browser through that RPC URL; nothing else answers it. Ctrl-C stops.",
  );
  if (networkConfig.type === "http" && args.rpc === undefined) {
    console.log(
      "(The URL contains the network's RPC URL: if that holds an API key, pass --rpc <a public URL> instead.)",
    );
  }
  return { url, rpcUrl, close };
});
