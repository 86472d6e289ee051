import { APP_AUTH_INTERFACE_ID } from "../lib/appAuth.js";
import { isDstackAppAuth } from "../lib/devproof-snapshot.js";
import { UserError } from "../lib/errors.js";
import { CertFeed, DEFAULT_MAX_CT_RESPONSE_BYTES } from "../lib/tls/index.js";
import { checkInteger, parseAddress, parseDuration, requireOption } from "../lib/validate.js";
import { buildStatusPage } from "../web/build.js";
import { serveJsonRpc, serveStatusPage, type LocalServer } from "../web/server.js";
import { defineAction } from "./shared/action.js";
import { certWatcher, followTlsKeys, parseCtSource, parseDomain } from "./shared/ct.js";
import { givenInt } from "./shared/options.js";
import { openNetwork } from "./shared/session.js";

export interface StatusPageArgs {
  app?: string | undefined;
  port: number;
  rpc?: string | undefined;
  registry?: string | undefined;
  domain?: string | undefined;
  ctSource?: string | undefined;
  ctLog?: string | undefined;
  ctLogKey?: string | undefined;
  ctFromIndex?: number | undefined;
  ctPoll?: string | undefined;
  fromBlock?: number | undefined;
}

export interface StatusPageResult {
  /** The page, with `?rpc=…&app=…`. */
  url: string;
  /** The JSON-RPC URL the browser reads from. */
  rpcUrl: string;
  /** The CT data the page shows (with --ct-log), as served at ct.json. */
  certFeed: CertFeed | undefined;
  /** Stops the servers (and the CT follower) this task started. */
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
  const fromBlock = checkInteger("from-block", args.fromBlock ?? 0, "a block number", { min: 0 });
  const ct =
    args.ctLog === undefined
      ? undefined
      : {
          domain: parseDomain("domain", requireOption("domain", args.domain, "the app's domain, to follow in CT data")),
          source: parseCtSource(
            { source: args.ctSource ?? "log", url: args.ctLog, logKey: args.ctLogKey },
            { source: "ct-source", url: "ct-log", logKey: "ct-log-key" },
          ),
          pollMs: Number(parseDuration("ct-poll", args.ctPoll ?? "1m")) * 1000,
          fromIndex: givenInt(args.ctFromIndex),
        };
  if (ct !== undefined && registry === undefined) {
    throw new UserError("--ct-log needs --registry: certificates are judged against the TLS key it publishes");
  }
  const session = await openNetwork(hre, undefined, false);
  if (!(await isDstackAppAuth(session.ethers.provider, app))) {
    throw new UserError(
      `no dstack AppAuth at ${app} on ${session.where} (supportsInterface(${APP_AUTH_INTERFACE_ID}) is not true, and ` +
        "isAppAllowed(bootInfo) does not answer): check --app and --network",
    );
  }

  const servers: LocalServer[] = [];
  const stopCt = new AbortController();
  let ctLoop: Promise<void> | undefined;
  const close = async () => {
    stopCt.abort();
    await ctLoop;
    await Promise.all(servers.splice(0).map((server) => server.close()));
  };
  let certFeed: CertFeed | undefined;
  if (ct !== undefined) {
    // The page cannot check a log's signatures and proofs itself (nor reach most CT sources across origins): this
    // process follows CT data with watch-certs' watcher and serves what it found as ct.json.
    const followed = await followTlsKeys(hre, {
      registry: registry!,
      pinned: undefined,
      confirmations: 1,
      fromBlock,
      say: (line) => console.log(line),
    });
    const feed = new CertFeed(
      { source: ct.source.source, url: ct.source.url, domain: ct.domain },
      { tlsKey: () => followed.keys.current, next: () => watcher.position },
    );
    const watcher = certWatcher(ct.source, {
      domain: ct.domain,
      keys: followed.keys,
      batch: 256,
      start: ct.fromIndex ?? (ct.source.source === "crtsh" ? 0 : "head"),
      limits: { maxBytes: DEFAULT_MAX_CT_RESPONSE_BYTES, timeoutMs: 10_000 },
      onEvent: async (event) => feed.record(event),
    });
    certFeed = feed;
    const pass = async () => {
      try {
        await followed.watcher.pass();
        feed.passed(await watcher.pass(), new Date());
      } catch (error) {
        feed.passed(error as Error, new Date());
      }
    };
    await pass();
    ctLoop = (async () => {
      while (!stopCt.signal.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ct.pollMs);
          stopCt.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
        });
        if (!stopCt.signal.aborted) await pass();
      }
    })();
    console.log(`Following ${ct.source.url} for ${ct.domain}; the page shows it (served as ct.json).`);
  }
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
    page = await serveStatusPage(
      await buildStatusPage(),
      port,
      certFeed === undefined ? {} : { "/ct.json": () => certFeed.snapshot() },
    );
  } catch (error) {
    await close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new UserError(`port ${port} on 127.0.0.1 is in use: pass --port <another>`);
    throw error;
  }
  servers.push(page);
  const query = new URLSearchParams({
    rpc: rpcUrl,
    app,
    ...(registry === undefined ? {} : { registry }),
    ...(fromBlock === 0 ? {} : { "from-block": String(fromBlock) }),
    ...(certFeed === undefined ? {} : { ct: "1" }),
  });
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
  return { url, rpcUrl, certFeed, close };
});
