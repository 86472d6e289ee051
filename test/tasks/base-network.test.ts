/**
 * `--network base` as a user meets it, through the real CLI in a subprocess: `BASE_RPC_URL` points at local
 * stand-ins (a chain with Base's chain id served over HTTP, a closed port, a server that never answers, ...), no
 * terminal, no `.env`, and the user's own keystore out of reach (tests/helpers/cli.ts).
 */
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";

import { expect } from "chai";

import { serveJsonRpc } from "../../lib/jsonRpcServer.js";
import { FUNDED_KEY as DEPLOYER_KEY, serveBaseStandIn, type BaseStandIn } from "../helpers/base-stand-in.js";
import { runHardhat, tempDir, type CliRun } from "../helpers/cli.js";
import { writeProductionKeystore } from "../helpers/keystore.js";
import { connection as localChain, DEVICE_A, HASH_V1, HASH_V2, INITIAL_URI, NOTICE } from "./helpers.js";

describe("--network base without surprises (the real CLI against local stand-ins)", function () {
  // Each run starts a Hardhat process (a few seconds); the silent endpoint takes the configured 30 s timeout.
  this.timeout(300_000);

  let base: BaseStandIn;
  let app: string;

  before(async function () {
    base = await serveBaseStandIn();
    const [owner] = await base.connection.ethers.getSigners();
    const appAuth = await base.connection.ethers.deployContract("TimelockedAppAuth", [
      owner!.address,
      NOTICE,
      HASH_V1,
      INITIAL_URI,
      [DEVICE_A],
      false,
      true,
    ]);
    app = await appAuth.getAddress();
  });

  after(async function () {
    await base?.close();
  });

  const appStatus = (rpcUrl: string) =>
    runHardhat(["app-status", "--network", "base", "--app", app], { env: { BASE_RPC_URL: rpcUrl } });
  const watchOnce = (env: Record<string, string>, configHome?: string) =>
    runHardhat(["watch", "--network", "base", "--app", app, "--once", "--confirmations", "1"], {
      env,
      ...(configHome === undefined ? {} : { configHome }),
    });
  const proposeHash = (env: Record<string, string>, configHome: string) =>
    runHardhat(
      ["propose-hash", "--network", "base", "--app", app, "--hash", HASH_V2, "--uri", "https://example.org/v2.json"],
      { env, configHome },
    );

  function expectOneErrorLine(run: CliRun, line: string): void {
    expect(run.signal, `killed by the guard: ${run.stdout}\n${run.stderr}`).to.equal(null);
    expect(run.errorLines, run.stderr).to.deep.equal([`Error: ${line}`]);
    expect(run.code).to.equal(1);
  }

  describe("read-only tasks need no key", function () {
    it("app-status reads Base with DEPLOYER_PRIVATE_KEY unset", async function () {
      const run = await appStatus(base.url);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.include(`TimelockedAppAuth ${app} on network "base" (chain 8453)`);
      expect(run.stdout).to.include(`${HASH_V1}  [current release]`);
      expect(run.stderr).to.equal("");
    });

    it("devproof-report reads Base with DEPLOYER_PRIVATE_KEY unset", async function () {
      const run = await runHardhat(["devproof-report", "--network", "base", "--app", app], {
        env: { BASE_RPC_URL: base.url },
      });
      expect(run.signal).to.equal(null);
      expect(run.stdout, run.stderr).to.match(/Stage [012]/);
      expect(run.stderr).not.to.include("DEPLOYER_PRIVATE_KEY");
    });

    it("watch runs without a terminal while the keystore holds DEPLOYER_PRIVATE_KEY, never asking its password", async function () {
      const configHome = tempDir("keystore");
      await writeProductionKeystore(configHome, "correct horse battery", { DEPLOYER_PRIVATE_KEY: DEPLOYER_KEY });
      const run = await watchOnce({ BASE_RPC_URL: base.url }, configHome);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.include(`Watching TimelockedAppAuth ${app} on network "base" (chain 8453)`);
      expect(run.stdout).not.to.include("password");
    });

    it("a task that sends, in the same setup, says to put the key in the environment instead of waiting for a password", async function () {
      const configHome = tempDir("keystore");
      await writeProductionKeystore(configHome, "correct horse battery", { DEPLOYER_PRIVATE_KEY: DEPLOYER_KEY });
      const run = await proposeHash({ BASE_RPC_URL: base.url }, configHome);
      expectOneErrorLine(
        run,
        "reading DEPLOYER_PRIVATE_KEY from the Hardhat keystore needs its password, and there is no terminal to " +
          "type it (stdin is not a TTY): for a service, set DEPLOYER_PRIVATE_KEY in its environment instead " +
          "(Hardhat reads environment variables before the keystore)",
      );
    });

    it("a service whose BASE_RPC_URL is in the keystore is told to set it in its environment; set there, it runs", async function () {
      const configHome = tempDir("keystore");
      await writeProductionKeystore(configHome, "correct horse battery", { BASE_RPC_URL: base.url });
      expectOneErrorLine(
        await watchOnce({}, configHome),
        "reading BASE_RPC_URL from the Hardhat keystore needs its password, and there is no terminal to type it " +
          "(stdin is not a TTY): for a service, set BASE_RPC_URL in its environment instead (Hardhat reads " +
          "environment variables before the keystore)",
      );
      const run = await watchOnce({ BASE_RPC_URL: base.url }, configHome);
      expect(run.code, run.stderr).to.equal(0);
    });

    it("a task that sends without the key names the variable and where to set it, in one line", async function () {
      expectOneErrorLine(
        await proposeHash({ BASE_RPC_URL: base.url }, tempDir("config")),
        "the configuration variable DEPLOYER_PRIVATE_KEY is not set: set it in the environment, or store it with " +
          "`npx hardhat keystore set DEPLOYER_PRIVATE_KEY`",
      );
    });
  });

  describe("an RPC endpoint that cannot be used: one line naming the network and BASE_RPC_URL, exit code 1", function () {
    /** Stops what a test started; a server that never answers also has its open connections cut. */
    const stops: Array<() => Promise<void>> = [];
    const sockets = new Set<Socket>();
    after(async function () {
      for (const socket of sockets) socket.destroy();
      await Promise.all(stops.map((stop) => stop()));
    });

    /** Listens on a free port of 127.0.0.1; returns host:port and a function that stops listening. */
    async function listen(server: Server): Promise<{ host: string; close: () => Promise<void> }> {
      server.on("connection", (socket) => sockets.add(socket));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
      stops.push(close);
      return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, close };
    }

    it("a host name that does not resolve", async function () {
      const run = await appStatus("https://base-rpc.invalid/v2/SECRET-API-KEY");
      expectOneErrorLine(
        run,
        'cannot reach network "base": the host name base-rpc.invalid does not resolve (DNS ENOTFOUND); ' +
          "check BASE_RPC_URL, and that this machine is online",
      );
      // The URL's path often holds the provider's API key: messages name the host only.
      expect(run.stdout + run.stderr).not.to.include("SECRET-API-KEY");
    });

    it("a closed port", async function () {
      const { host, close } = await listen(createServer());
      await close();
      expectOneErrorLine(
        await appStatus(`http://${host}`),
        `cannot reach network "base": its RPC endpoint ${host} refused the connection; check BASE_RPC_URL ` +
          "(host and port), and that the node is running",
      );
    });

    it("a server that accepts the connection and never answers", async function () {
      const { host } = await listen(createServer(() => {}));
      expectOneErrorLine(
        await appStatus(`http://${host}`),
        `cannot reach network "base": its RPC endpoint ${host} did not answer within 30 s; check BASE_RPC_URL, ` +
          "or try another RPC provider",
      );
    });

    for (const [status, text, hint] of [
      [500, "Internal Server Error", ", or try another RPC provider"],
      [403, "Forbidden", " (its API key: missing, wrong, or not enabled for this chain)"],
    ] as const) {
      it(`an HTTP ${status}`, async function () {
        const server = await serveJsonRpc(localChain.provider, { intercept: () => ({ httpStatus: status }) });
        stops.push(server.close);
        expectOneErrorLine(
          await appStatus(server.url),
          `cannot use network "base": its RPC endpoint ${new URL(server.url).host} answered HTTP ${status} ${text}; ` +
            `check BASE_RPC_URL${hint}`,
        );
      });
    }

    it("an answer that is not JSON-RPC (a web page)", async function () {
      const page = "<html><body>Welcome to nginx!</body></html>";
      const server = await serveJsonRpc(localChain.provider, { intercept: () => ({ httpStatus: 200, body: page }) });
      stops.push(server.close);
      expectOneErrorLine(
        await appStatus(server.url),
        `cannot use network "base": its RPC endpoint ${new URL(server.url).host} answered something that is not ` +
          `JSON-RPC (${JSON.stringify(page)}); check BASE_RPC_URL: it must be a JSON-RPC endpoint of the chain`,
      );
    });

    it("a node of another chain", async function () {
      const server = await serveJsonRpc(localChain.provider);
      stops.push(server.close);
      expectOneErrorLine(
        await appStatus(server.url),
        `network "base" is chain 8453, but its RPC endpoint ${new URL(server.url).host} is chain 31337; ` +
          "check BASE_RPC_URL: it must point at the network's own chain",
      );
    });

    it("the same line for a task that sends, with its key set", async function () {
      expectOneErrorLine(
        await proposeHash(
          { BASE_RPC_URL: "https://base-rpc.invalid", DEPLOYER_PRIVATE_KEY: DEPLOYER_KEY },
          tempDir("c"),
        ),
        'cannot reach network "base": the host name base-rpc.invalid does not resolve (DNS ENOTFOUND); ' +
          "check BASE_RPC_URL, and that this machine is online",
      );
    });
  });
});
