/**
 * devproof-agent: runs, inside the CVM, the release that the app's TimelockedAppAuth names, and nothing else; with
 * `--registry`, also replicates the app's shared secret through its ReplicationRegistry.
 *
 *   node agent.mjs --rpc-url https://a…,https://b…,https://c… [--rpc-quorum majority] --app-auth 0x… [--confirmations 3] …
 *                                                                                         (or DEVPROOF_* variables)
 *   node agent.mjs … --registry 0x… (--submitter-key-file key | --registration-out f --onboarding-out dir) [--pccs-url …]
 *
 * Exit codes: 0 after SIGTERM/SIGINT (the current step finished), 2 for invalid options, 1 for anything unexpected.
 */
import type { Wallet } from "ethers";
import { pino } from "pino";

import { dstackGuestApi, quoteVerificationFrom } from "../../lib/replication/index.js";
import { QuorumHeaderSource } from "../../lib/verified/headers.js";
import { VerifiedChainReader } from "../../lib/verified/reader.js";
import { httpRpcClient } from "../../lib/verified/rpc.js";
import { RpcEndpoints } from "./chain.js";
import { Compose } from "./docker.js";
import { readDstackIdentity, type DstackIdentity } from "./dstack.js";
import type { HealthCheck } from "./health.js";
import {
  describeOptions,
  helpText,
  loadAcmeCa,
  loadSubmitterKey,
  OptionsError,
  parseAgentOptions,
  quorumOf,
  redactUrl,
  type AgentOptions,
} from "./options.js";
import { Reconciler } from "./reconciler.js";
import { MAX_DECISIONS_PER_PASS, MAX_LOG_RANGES_PER_PASS, Replicator } from "./replicator.js";
import { errorMessage, RepeatFilter, Service, type Loop } from "./service.js";
import { Store } from "./store.js";
import { appComposeFromInfo, secretFromFile, TlsLoop } from "./tls.js";
import { VerifiedChain } from "./verifiedChain.js";

export const AGENT_VERSION = "0.1.0";

async function readOptions(): Promise<{
  options: AgentOptions;
  submitter: Wallet | undefined;
  acmeCa: string | undefined;
}> {
  try {
    const { help, options } = parseAgentOptions(process.argv.slice(2), process.env);
    if (help || options === undefined) {
      console.log(helpText());
      process.exit(0);
    }
    const submitter =
      options.submitterKeyFile === undefined ? undefined : await loadSubmitterKey(options.submitterKeyFile);
    const acmeCa = options.acmeCaFile === undefined ? undefined : await loadAcmeCa(options.acmeCaFile);
    return { options, submitter, acmeCa };
  } catch (error) {
    if (error instanceof OptionsError) {
      console.error(`devproof-agent: ${error.message}\nRun with --help for every option.`);
      process.exit(2);
    }
    throw error;
  }
}

const { options, submitter, acmeCa } = await readOptions();
// Synchronous writes: a daemon that logs a few lines a minute can afford them, and no line is lost when the process
// exits or is killed right after a reload.
const logger = pino(
  {
    level: options.logLevel,
    base: { service: "devproof-agent" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  pino.destination({ dest: 1, sync: true }),
);

process.on("unhandledRejection", (reason) => {
  logger.fatal({ event: "crash", err: errorMessage(reason) }, `unexpected error: ${errorMessage(reason)}`);
  process.exit(1);
});

logger.info(
  { event: "start", version: AGENT_VERSION, options: describeOptions(options) },
  `devproof-agent ${AGENT_VERSION} starting`,
);

let identity: DstackIdentity | undefined;
try {
  identity = await readDstackIdentity(options.dstackEndpoint);
  logger.info(
    { event: "dstack", ...identity },
    `dstack: app ${identity.appId}, instance ${identity.instanceId}, booted with compose hash ${identity.composeHash}`,
  );
} catch (error) {
  logger.warn(
    { event: "dstack-unavailable", endpoint: options.dstackEndpoint, err: errorMessage(error) },
    `dstack guest API at ${options.dstackEndpoint} is not available (${errorMessage(error)}): running without the CVM's identity`,
  );
}

const store = new Store(options.stateDir);
const compose = new Compose({
  docker: options.docker,
  project: options.project,
  projectDir: store.projectDir,
  timeoutMs: options.dockerTimeout,
});
try {
  const { stdout } = await compose.version();
  logger.info({ event: "docker", version: stdout.trim() }, `docker: ${stdout.trim()}`);
} catch (error) {
  logger.error(
    { event: "docker-unavailable", err: errorMessage(error) },
    `docker compose is not usable: ${errorMessage(error)}`,
  );
}

const fallbackRepeats = new Map<string, RepeatFilter>();
const endpoints = new RpcEndpoints(
  { rpcUrls: options.rpcUrls, rpcTimeoutMs: options.rpcTimeout, chainId: options.chainId },
  (endpoint, error) => {
    const filter = fallbackRepeats.get(endpoint) ?? new RepeatFilter();
    fallbackRepeats.set(endpoint, filter);
    logger[filter.isRepeat(error) ? "debug" : "warn"](
      { event: "rpc-fallback", endpoint, err: error },
      `RPC ${endpoint} failed (${error}); trying the next one`,
    );
  },
);
// Every read either loop acts on: headers vouched for by a quorum of the URLs, values proven against them. The
// replicator also uses `endpoints` above, for hints only (logs, transactions by hash) and to send transactions.
const quorum = quorumOf(options);
const rpcClients = options.rpcUrls.map((url) => httpRpcClient(url, { timeoutMs: options.rpcTimeout }));
const headers = new QuorumHeaderSource(rpcClients, {
  quorum,
  chainId: options.chainId === undefined ? undefined : BigInt(options.chainId),
});
const proofRepeats = new Map<string, RepeatFilter>();
const reader = new VerifiedChainReader(headers, rpcClients, {
  onRefusedProof: (endpoint, problem) => {
    chain.noteRefusedProof(endpoint, problem);
    replicator?.noteRefusedProof(endpoint, problem);
    const filter = proofRepeats.get(endpoint) ?? new RepeatFilter();
    proofRepeats.set(endpoint, filter);
    logger[filter.isRepeat(problem.replace(/\d+|0x[0-9a-fA-F]+/g, "…")) ? "debug" : "warn"](
      { event: "proof-refused", endpoint, err: problem },
      `RPC ${endpoint}: ${problem}; asking the next endpoint`,
    );
  },
});
const chain = new VerifiedChain(reader, { appAuth: options.appAuth, confirmations: options.confirmations });
if (quorum === 1) {
  logger.warn(
    { event: "no-quorum", rpcUrls: options.rpcUrls.map(redactUrl) },
    `--rpc-quorum none: a block header is believed from ${options.rpcUrls.length === 1 ? "a single endpoint" : "any endpoint when all that answer agree"}; ` +
      "values are still proven against it, but an endpoint that lies about the header itself is not caught",
  );
}

const health: HealthCheck =
  options.healthCheckCmd !== undefined
    ? { kind: "command", argv: options.healthCheckCmd, timeoutMs: options.healthTimeout }
    : options.healthCheckUrl !== undefined
      ? { kind: "url", url: options.healthCheckUrl, timeoutMs: options.healthTimeout }
      : { kind: "none" };

const reconciler = new Reconciler(
  chain,
  store,
  compose,
  {
    pollIntervalMs: options.pollInterval,
    retryInitialMs: options.retryInitial,
    retryMaxMs: options.retryMax,
    fetchLimits: { timeoutMs: options.fetchTimeout, maxBytes: options.maxComposeBytes },
    health,
    // A pass's reads: the chain ids, the heads and the headers (each a parallel round), then up to three proofs and
    // the code, each possibly tried on every URL.
    maxPassMs:
      options.rpcTimeout * (3 + 4 * options.rpcUrls.length) +
      options.fetchTimeout +
      3 * options.dockerTimeout +
      options.healthTimeout +
      10_000,
  },
  logger.child({ loop: "reconciler" }),
);

const loops: Loop[] = [reconciler];
let replicator: Replicator | undefined;
if (options.registry !== undefined) {
  loops.push(
    (replicator = new Replicator(
      {
        registry: options.registry,
        appAuth: options.appAuth,
        confirmations: options.confirmations,
        pollIntervalMs: options.pollInterval,
        // Every RPC call a pass can make (log ranges; per decided node its status, policy, gas estimate and broadcast;
        // the transactions in flight), each tried on every URL; a PCCS fetch per decided node; the dstack calls.
        maxPassMs:
          (2 * MAX_LOG_RANGES_PER_PASS + 10 * MAX_DECISIONS_PER_PASS + 20) *
            options.rpcTimeout *
            options.rpcUrls.length +
          MAX_DECISIONS_PER_PASS * options.fetchTimeout +
          60_000,
        registryFromBlock: options.registryFromBlock,
        logRange: options.logRange,
        stateDir: options.stateDir,
        secretPath: options.secretPath,
        registrationOut: options.registrationOut,
        onboardingOut: options.onboardingOut,
        submitter,
      },
      {
        reader,
        endpoints,
        guest: dstackGuestApi(options.dstackEndpoint),
        // Intel DCAP with collateral from the PCCS: the only verifier the agent has.
        verifyQuote: quoteVerificationFrom({ pccsUrl: options.pccsUrl }, { timeoutMs: options.fetchTimeout }),
        logger: logger.child({ loop: "replicator" }),
      },
    )),
  );
}

let tls: TlsLoop | undefined;
if (options.tlsDomains !== undefined && options.tlsDomains.length > 0) {
  // The app's TLS key, derived from the secret the replicator stores (once this node holds it); see docs/tls.md.
  const guest = dstackGuestApi(options.dstackEndpoint);
  tls = new TlsLoop(
    {
      dir: options.tlsDir,
      domains: options.tlsDomains,
      intervalMs: options.tlsInterval,
      acme:
        options.acmeDirectory === undefined
          ? undefined
          : {
              directoryUrl: options.acmeDirectory,
              domains: options.tlsDomains,
              email: options.acmeEmail,
              directoryCa: acmeCa,
              challenge: options.acmeChallenge,
              dnsHook: options.acmeDnsHook,
            },
    },
    {
      secret: secretFromFile(options.secretPath),
      guest: { getQuote: (reportData) => guest.getQuote(reportData), appCompose: appComposeFromInfo(guest) },
      logger: logger.child({ loop: "tls" }),
    },
  );
  loops.push(tls);
}

const service = new Service(
  loops,
  {
    httpHost: options.httpHost,
    httpPort: options.httpPort,
    describe: () => ({
      agent: {
        version: AGENT_VERSION,
        appAuth: options.appAuth,
        registry: options.registry ?? null,
        rpcUrls: options.rpcUrls.map(redactUrl),
        headers: headers.description,
        confirmations: options.confirmations,
        tls: tls === undefined ? null : { dir: options.tlsDir, domains: options.tlsDomains },
      },
      dstack: identity ?? null,
    }),
  },
  logger,
);
const code = await service.run();
endpoints.destroy();
process.exit(code);
