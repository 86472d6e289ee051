/**
 * Harness for running replicators (guest/src/replicator.ts) in this process, for the tests, the demo and the
 * benchmark: a chain with an app's policy and its ReplicationRegistry served over JSON-RPC, and nodes that each have
 * a stand-in dstack guest API, a state directory, a logger whose lines are kept, and a Replicator reading the chain
 * through the same HTTP client the agent uses.
 *
 * Why in this process: the nodes are TEE stand-ins, whose quotes Intel never signed (a real quote with their keys
 * patched in). Only a verifier injected through the Replicator's constructor accepts them, and the agent's command
 * line has none to offer, so an agent process would (rightly) refuse every stand-in node.
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";

import { Wallet, parseEther } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import { pino } from "pino";

import { RpcEndpoints } from "../../guest/src/chain.js";
import { defaultQuorum, QuorumHeaderSource } from "../../lib/verified/headers.js";
import { VerifiedChainReader } from "../../lib/verified/reader.js";
import { httpRpcClient } from "../../lib/verified/rpc.js";
import { Replicator, type ReplicatorOptions } from "../../guest/src/replicator.js";
import { Service, type Loop } from "../../guest/src/service.js";
import { dstackGuestApi, parseRegistrationFile, registerArguments } from "../../lib/replication/index.js";
import type { QuoteVerification } from "../../lib/replication/index.js";
import { DstackGuestApiStandIn, type StandInCvm } from "./dstack-guest-api.js";
import { RpcEndpoint, tempDir, type LogLine } from "./guestAgent.js";
import { DEVICE_2, deployRegistry } from "./replication.js";
import { FIXTURE_DEVICE_ID, standInQuoteVerification } from "./tee-stand-in.js";

/** What a node needs of its chain: the app, its registry, an RPC URL, and gas money for its host. */
export interface ReplicationChain {
  readonly appId: string;
  readonly registryAddress: string;
  readonly deploymentBlock: number;
  readonly rpc: RpcEndpoint;
  /** Every endpoint a node is given (default: `rpc` alone); a node believes a header a majority of them reports. */
  readonly rpcs?: readonly RpcEndpoint[];
  fundedSubmitter(): Promise<Wallet>;
}

/**
 * A fresh chain with a policy (compose A and B allowed on the stand-in platform's device), a stand-in dstack KMS and a
 * registry bound to both, served over HTTP.
 */
export class ReplicationWorld implements ReplicationChain {
  private constructor(
    readonly connection: NetworkConnection,
    readonly deployed: Awaited<ReturnType<typeof deployRegistry>>,
    readonly registryAddress: string,
    readonly deploymentBlock: number,
    readonly rpc: RpcEndpoint,
    readonly rpcs: readonly RpcEndpoint[] = [rpc],
  ) {}

  /** `endpoints`: how many JSON-RPC endpoints serve the chain (each a proxy a test can make lie; default 1). */
  static async create(options: { connection?: NetworkConnection; endpoints?: number } = {}): Promise<ReplicationWorld> {
    const connection = options.connection ?? (await network.create());
    const deployed = await deployRegistry(connection.ethers, connection.networkHelpers, {
      // The stand-in platform, and another device a lying node may claim (the policy allows it, the quote does not).
      devices: [FIXTURE_DEVICE_ID, DEVICE_2],
    });
    const registryAddress = await deployed.registry.getAddress();
    const deploymentBlock = Number(
      (await deployed.registry.deploymentTransaction()?.wait())?.blockNumber ??
        (await connection.ethers.provider.getBlockNumber()),
    );
    // Bury the deployment, so a replicator reading a few blocks behind the head already finds the registry.
    await connection.networkHelpers.mine(3);
    const rpcs: RpcEndpoint[] = [];
    for (let i = 0; i < (options.endpoints ?? 1); i++) rpcs.push(await new RpcEndpoint(connection).start());
    return new ReplicationWorld(connection, deployed, registryAddress, deploymentBlock, rpcs[0]!, rpcs);
  }

  get appId(): string {
    return this.deployed.appId;
  }

  async mine(blocks = 1): Promise<void> {
    await this.connection.networkHelpers.mine(blocks);
  }

  /** A fresh account with 100 ETH, to pay a node's gas. */
  async fundedSubmitter(): Promise<Wallet> {
    const wallet = Wallet.createRandom();
    await this.connection.networkHelpers.setBalance(wallet.address, parseEther("100"));
    return new Wallet(wallet.privateKey);
  }

  /** The host's part: submits a registration file a node wrote (any account pays). */
  async submitRegistrationFile(file: string): Promise<void> {
    const signed = parseRegistrationFile(await readFile(file, "utf8"), file);
    const { registry, relayer } = this.deployed;
    await (await registry.connect(relayer).register(...registerArguments(signed))).wait();
  }

  async statusOf(node: string): Promise<bigint> {
    return this.deployed.registry.nodeStatus(node);
  }

  async onboardingsOf(node: string) {
    const { registry } = this.deployed;
    return registry.queryFilter(registry.filters.NodeOnboarded(node));
  }

  async close(options: { keepConnection?: boolean } = {}): Promise<void> {
    for (const rpc of this.rpcs) await rpc.down();
    if (options.keepConnection !== true) await this.connection.close();
  }
}

export interface NodeSettings {
  /** A label for logs. */
  name: string;
  /** What the CVM booted (app id: the world's policy). */
  cvm?: Partial<StandInCvm>;
  /** How it submits: a funded account, files for the host, or both. */
  mode: "submitter" | "files" | "both";
  confirmations?: number;
  pollIntervalMs?: number;
  /** The quote verification; default the stand-in's (tests and the demo only). */
  verifyQuote?: QuoteVerification;
  /** Where each log line goes besides {@link ReplicatorNode.lines} (the demo prints them). */
  print?: (line: LogLine) => void;
  rebroadcastMs?: number;
  /** Another registry address than the world's (to test a wrong one). */
  registry?: string;
}

/** One TEE stand-in node running a replicator in this process. */
export class ReplicatorNode {
  readonly lines: LogLine[] = [];
  replicator: Replicator;
  private endpoints: RpcEndpoints;
  private reader: VerifiedChainReader;

  private constructor(
    readonly world: ReplicationChain,
    readonly settings: NodeSettings,
    readonly cvm: DstackGuestApiStandIn,
    readonly dir: string,
    readonly submitter: Wallet | undefined,
    private readonly verifyQuote: QuoteVerification,
  ) {
    this.endpoints = this.makeEndpoints();
    this.reader = this.makeReader();
    this.replicator = this.makeReplicator();
  }

  static async start(world: ReplicationChain, settings: NodeSettings): Promise<ReplicatorNode> {
    const cvm = await DstackGuestApiStandIn.start({
      appId: world.appId,
      instanceId: Wallet.createRandom().address,
      appName: settings.name,
      ...settings.cvm,
    });
    const dir = await tempDir(`replicator-${settings.name}`);
    await mkdir(path.join(dir, "out"), { recursive: true });
    const submitter = settings.mode === "files" ? undefined : await world.fundedSubmitter();
    const node = new ReplicatorNode(
      world,
      settings,
      cvm,
      dir,
      submitter,
      settings.verifyQuote ?? (await standInQuoteVerification()),
    );
    try {
      await node.replicator.init();
    } catch (error) {
      await node.close();
      throw error;
    }
    return node;
  }

  get stateDir(): string {
    return path.join(this.dir, "state");
  }

  get secretPath(): string {
    return path.join(this.dir, "secret", "shared-secret");
  }

  get registrationFile(): string {
    return path.join(this.dir, "out", "registration.json");
  }

  get onboardingDir(): string {
    return path.join(this.dir, "out", "onboardings");
  }

  get address(): string {
    const node = this.replicator.node;
    if (node === undefined) throw new Error(`${this.settings.name} is not initialized`);
    return node;
  }

  /** One pass, as the service runs it. */
  async pass(): Promise<void> {
    await this.replicator.pass(new AbortController().signal);
  }

  /**
   * Runs the replicator as the agent's service does (a pass, a pause, a pass…, and its status server on a free port)
   * until `stop()` is awaited.
   */
  run(): { stop: () => Promise<void>; url: Promise<string> } {
    // Already initialized by start() or restart(): the service only runs the passes.
    const replicator = this.replicator;
    const loop: Loop = {
      name: replicator.name,
      intervalMs: replicator.intervalMs,
      maxPassMs: replicator.maxPassMs,
      init: async () => {},
      pass: (stopping) => replicator.pass(stopping),
      status: () => replicator.status(),
      serve: (urlPath) => replicator.serve(urlPath),
    };
    let listening: (url: string) => void = () => {};
    const url = new Promise<string>((resolve) => (listening = resolve));
    const logger = pino(
      { level: "info" },
      {
        write(text: string) {
          const line = JSON.parse(text) as LogLine;
          if (line.event === "listening") listening(`http://127.0.0.1:${String(line["port"])}`);
          else if (line["level"] !== undefined && Number(line["level"]) >= 40) process.stderr.write(text);
        },
      },
    );
    const service = new Service([loop], { httpHost: "127.0.0.1", httpPort: 0, describe: () => ({}) }, logger);
    const running = service.run();
    return {
      url,
      stop: async () => {
        service.stop("stopped by the harness");
        await running;
      },
    };
  }

  /** The agent restarted: a new Replicator on the same state, secret and CVM; the in-memory state is gone. */
  async restart(overrides: { verifyQuote?: QuoteVerification } = {}): Promise<void> {
    this.endpoints.destroy();
    this.endpoints = this.makeEndpoints();
    this.reader = this.makeReader();
    this.replicator = this.makeReplicator(overrides.verifyQuote);
    await this.replicator.init();
  }

  /** The stored secret, or undefined. */
  async secret(): Promise<Buffer | undefined> {
    try {
      return await readFile(this.secretPath);
    } catch {
      return undefined;
    }
  }

  async secretMode(): Promise<number> {
    return (await stat(this.secretPath)).mode & 0o777;
  }

  events(event: string): LogLine[] {
    return this.lines.filter((line) => line.event === event);
  }

  async close(): Promise<void> {
    this.endpoints.destroy();
    await this.cvm.close();
  }

  private get urls(): string[] {
    return (this.world.rpcs ?? [this.world.rpc]).map((rpc) => rpc.url);
  }

  private makeEndpoints(): RpcEndpoints {
    return new RpcEndpoints({ rpcUrls: this.urls, rpcTimeoutMs: 2_000, chainId: undefined }, () => {});
  }

  /** The agent's verified reader: headers a majority of the endpoints report (one endpoint: itself), proofs checked. */
  private makeReader(): VerifiedChainReader {
    const clients = this.urls.map((url) => httpRpcClient(url, { timeoutMs: 2_000, shown: url }));
    const quorum = clients.length === 1 ? 1 : defaultQuorum(clients.length);
    return new VerifiedChainReader(new QuorumHeaderSource(clients, { quorum }), clients, {
      onRefusedProof: (endpoint, problem) => {
        this.replicator.noteRefusedProof(endpoint, problem);
        this.lines.push({ level: "warn", event: "proof-refused", endpoint, msg: `RPC ${endpoint}: ${problem}` });
      },
    });
  }

  private makeReplicator(verifyQuote = this.verifyQuote): Replicator {
    const { settings } = this;
    const files = settings.mode !== "submitter";
    const options: ReplicatorOptions = {
      registry: settings.registry ?? this.world.registryAddress,
      appAuth: this.world.appId,
      confirmations: settings.confirmations ?? 1,
      pollIntervalMs: settings.pollIntervalMs ?? 100,
      maxPassMs: 30_000,
      registryFromBlock: this.world.deploymentBlock,
      logRange: 50,
      stateDir: this.stateDir,
      secretPath: this.secretPath,
      registrationOut: files ? this.registrationFile : undefined,
      onboardingOut: files ? this.onboardingDir : undefined,
      submitter: this.submitter,
      ...(settings.rebroadcastMs === undefined ? {} : { rebroadcastMs: settings.rebroadcastMs }),
    };
    const lines = this.lines;
    const print = settings.print;
    const logger = pino(
      { level: "debug", base: { node: settings.name }, formatters: { level: (label) => ({ level: label }) } },
      {
        write(text: string) {
          const line = JSON.parse(text) as LogLine;
          lines.push(line);
          print?.(line);
        },
      },
    );
    return new Replicator(options, {
      reader: this.reader,
      endpoints: this.endpoints,
      guest: dstackGuestApi(this.cvm.endpoint),
      verifyQuote,
      logger,
    });
  }
}
