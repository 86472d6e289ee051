/**
 * The agent's options: one table says each option's flag, environment variable, default and meaning; it drives the
 * command-line parser, the environment reader, `--help` and the README's table. Values are validated once, at start,
 * with zod, and every missing or bad value is reported on its own line, naming both the flag and the variable.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";

import { Wallet } from "ethers";
import { z } from "zod";

import { UserError } from "../../lib/errors.js";
import { DEFAULT_PCCS_URL } from "../../lib/replication/collateral.js";
import { parseAddress, parseMilliseconds } from "../../lib/validate.js";

interface OptionSpec {
  flag: string;
  env: string;
  /** Shown in `--help` and the README; undefined means required (or optional when `optional` is set). */
  default?: string;
  optional?: true;
  /** May be given several times (flag) or comma-separated (flag or variable). */
  multiple?: true;
  description: string;
}

/** Where the dstack SDK looks when nothing else is said; `DSTACK_SIMULATOR_ENDPOINT` wins, as in the SDK. */
export const DEFAULT_DSTACK_ENDPOINT = "/var/run/dstack.sock";

export const OPTION_SPECS = {
  rpcUrls: {
    flag: "rpc-url",
    env: "DEVPROOF_RPC_URLS",
    multiple: true,
    description:
      "JSON-RPC URLs of the chain, of independent providers (3 recommended): a block header is believed when --rpc-quorum of them report it, a value only with a proof against such a header (http or https; comma-separated or repeated)",
  },
  rpcQuorum: {
    flag: "rpc-quorum",
    env: "DEVPROOF_RPC_QUORUM",
    default: "majority",
    description:
      "how many RPC URLs must report the same block header: a number from 2, `majority` (more than half, at least 2), or `none` to believe one endpoint's header (an opt-out the DevProof report warns about)",
  },
  chainId: {
    flag: "chain-id",
    env: "DEVPROOF_CHAIN_ID",
    optional: true,
    description:
      "expected chain id; every RPC must report it (default: the one a quorum of the URLs reports; for the replicator, the first that answers)",
  },
  appAuth: { flag: "app-auth", env: "DEVPROOF_APP_AUTH", description: "address of the app's TimelockedAppAuth" },
  confirmations: {
    flag: "confirmations",
    env: "DEVPROOF_CONFIRMATIONS",
    default: "3",
    description: "blocks a state must be buried under before the agent acts on it (reads at latest - N)",
  },
  pollInterval: {
    flag: "poll-interval",
    env: "DEVPROOF_POLL_INTERVAL",
    default: "5s",
    description: "time between two passes of each loop (reconciler, replicator)",
  },
  rpcTimeout: {
    flag: "rpc-timeout",
    env: "DEVPROOF_RPC_TIMEOUT",
    default: "10s",
    description: "timeout of one RPC request",
  },
  project: {
    flag: "project",
    env: "DEVPROOF_COMPOSE_PROJECT",
    default: "app",
    description: "docker compose project name of the app (`docker compose -p`)",
  },
  stateDir: {
    flag: "state-dir",
    env: "DEVPROOF_STATE_DIR",
    default: "/var/lib/devproof-agent",
    description: "work directory: state.json, verified releases, the compose project directory, replicator.json",
  },
  dstackEndpoint: {
    flag: "dstack-endpoint",
    env: "DEVPROOF_DSTACK_ENDPOINT",
    default: `$DSTACK_SIMULATOR_ENDPOINT or ${DEFAULT_DSTACK_ENDPOINT}`,
    description: "dstack guest API: unix socket path or http(s) URL of a simulator",
  },
  healthCheckCmd: {
    flag: "health-check-cmd",
    env: "DEVPROOF_HEALTH_CHECK_CMD",
    optional: true,
    description:
      'command that exits 0 once the app is healthy, run without a shell (JSON array, e.g. ["curl","-fsS","http://app:8080/health"], or words split on spaces)',
  },
  healthCheckUrl: {
    flag: "health-check-url",
    env: "DEVPROOF_HEALTH_CHECK_URL",
    optional: true,
    description: "URL that answers 2xx once the app is healthy (instead of --health-check-cmd)",
  },
  healthTimeout: {
    flag: "health-timeout",
    env: "DEVPROOF_HEALTH_TIMEOUT",
    default: "60s",
    description: "how long a new release may take to become healthy before it is rolled back",
  },
  docker: {
    flag: "docker",
    env: "DEVPROOF_DOCKER",
    default: "docker",
    description: "docker binary (name on PATH or path)",
  },
  dockerTimeout: {
    flag: "docker-timeout",
    env: "DEVPROOF_DOCKER_TIMEOUT",
    default: "5m",
    description: "timeout of one docker command (killed after it: SIGTERM, then SIGKILL 5 s later)",
  },
  fetchTimeout: {
    flag: "fetch-timeout",
    env: "DEVPROOF_FETCH_TIMEOUT",
    default: "30s",
    description: "timeout of fetching a compose file from its URI, and a quote's collateral from the PCCS",
  },
  maxComposeBytes: {
    flag: "max-compose-bytes",
    env: "DEVPROOF_MAX_COMPOSE_BYTES",
    default: "1048576",
    description: "largest compose file the agent fetches, in bytes",
  },
  retryInitial: {
    flag: "retry-initial",
    env: "DEVPROOF_RETRY_INITIAL",
    default: "10s",
    description: "wait before retrying a release that failed; doubles on every failure",
  },
  retryMax: { flag: "retry-max", env: "DEVPROOF_RETRY_MAX", default: "10m", description: "cap of that wait" },
  httpHost: {
    flag: "http-host",
    env: "DEVPROOF_HTTP_HOST",
    default: "0.0.0.0",
    description: "address of the status server",
  },
  httpPort: {
    flag: "http-port",
    env: "DEVPROOF_HTTP_PORT",
    default: "8090",
    description: "port of the status server (`/healthz`, `/status`); 0 picks a free port",
  },
  logLevel: {
    flag: "log-level",
    env: "DEVPROOF_LOG_LEVEL",
    default: "info",
    description: "trace, debug, info, warn, error or fatal",
  },
  registry: {
    flag: "registry",
    env: "DEVPROOF_REPLICATION_REGISTRY",
    optional: true,
    description:
      "address of the app's ReplicationRegistry: turns the replicator on (register this node, receive the shared secret, onboard the nodes that follow)",
  },
  secretPath: {
    flag: "secret-path",
    env: "DEVPROOF_SECRET_PATH",
    default: "<state-dir>/replication/secret",
    description:
      "where the replicator keeps the app's shared secret (mode 0600, written atomically); put it on the CVM's encrypted volume, shared with the app",
  },
  submitterKeyFile: {
    flag: "submitter-key-file",
    env: "DEVPROOF_SUBMITTER_KEY_FILE",
    optional: true,
    description:
      "file with the private key (0x + 64 hex digits) of a funded account that pays the gas of this node's registration and onboardings; it signs nothing else (the node's own key stays in the TEE)",
  },
  registrationOut: {
    flag: "registration-out",
    env: "DEVPROOF_REGISTRATION_OUT",
    optional: true,
    description:
      "file the replicator writes this node's signed registration to, for the host to submit (`npx hardhat register-node --file`)",
  },
  onboardingOut: {
    flag: "onboarding-out",
    env: "DEVPROOF_ONBOARDING_OUT",
    optional: true,
    description:
      "directory the replicator writes each signed onboarding to (onboarding-<node>.json), for the host to submit (`npx hardhat onboard-node --onboarding`)",
  },
  pccsUrl: {
    flag: "pccs-url",
    env: "DEVPROOF_PCCS_URL",
    default: DEFAULT_PCCS_URL,
    description:
      "PCCS the DCAP collateral of every quote is fetched from (this node's own, and each registering node's)",
  },
  registryFromBlock: {
    flag: "registry-from-block",
    env: "DEVPROOF_REGISTRY_FROM_BLOCK",
    default: "0",
    description: "first block searched for the registry's events: its deployment block",
  },
  logRange: {
    flag: "log-range",
    env: "DEVPROOF_LOG_RANGE",
    default: "2000",
    description: "most blocks one eth_getLogs request covers (public RPCs cap it)",
  },
  tlsDomains: {
    flag: "tls-domain",
    env: "DEVPROOF_TLS_DOMAINS",
    optional: true,
    multiple: true,
    description:
      "names the app's certificate is for (comma-separated or repeated): turns the TLS loop on (needs --registry: the key is derived from the replicated secret), which writes key.pem and fullchain.pem to --tls-dir and serves the quote binding the key at /attestation",
  },
  tlsDir: {
    flag: "tls-dir",
    env: "DEVPROOF_TLS_DIR",
    default: "<state-dir>/tls",
    description:
      "directory the TLS loop writes key.pem (0600), fullchain.pem and attestation.json to; put it on the CVM's encrypted volume and mount it read-only into the app's TLS server",
  },
  tlsInterval: {
    flag: "tls-interval",
    env: "DEVPROOF_TLS_INTERVAL",
    default: "1m",
    description: "time between two passes of the TLS loop (each checks whether the certificate needs renewing)",
  },
  acmeDirectory: {
    flag: "acme-directory",
    env: "DEVPROOF_ACME_DIRECTORY",
    optional: true,
    description:
      "ACME directory URL (e.g. https://acme-v02.api.letsencrypt.org/directory): get a CA certificate for the derived key, CSR made in the CVM, HTTP-01 answered at /.well-known/acme-challenge/ on the status server; without it the certificate is self-signed",
  },
  acmeEmail: {
    flag: "acme-email",
    env: "DEVPROOF_ACME_EMAIL",
    optional: true,
    description: "contact address given to the ACME CA for its notices",
  },
  acmeCaFile: {
    flag: "acme-ca-file",
    env: "DEVPROOF_ACME_CA_FILE",
    optional: true,
    description: "PEM file of extra roots to trust for the ACME directory's own HTTPS (a test CA such as pebble's)",
  },
  acmeChallenge: {
    flag: "acme-challenge",
    env: "DEVPROOF_ACME_CHALLENGE",
    default: "http-01",
    description:
      "the ACME challenge to answer: http-01 (on the status server) or dns-01 (through --acme-dns-hook, for names port 80 does not reach and wildcards)",
  },
  acmeDnsHook: {
    flag: "acme-dns-hook",
    env: "DEVPROOF_ACME_DNS_HOOK",
    optional: true,
    description:
      "executable for DNS-01, run as `<hook> present|cleanup _acme-challenge.<name>. <value>`; it exits 0 once the DNS provider serves (or has removed) the TXT record",
  },
} as const satisfies Record<string, OptionSpec>;

type OptionName = keyof typeof OPTION_SPECS;

// ---------------------------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------------------------

/** Wraps one of lib/validate's parsers (which throw a UserError) as a zod transform. */
function via<T>(parse: (value: string) => T) {
  return (value: string, ctx: z.RefinementCtx): T => {
    try {
      return parse(value);
    } catch (error) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: messageOf(error) });
      return z.NEVER;
    }
  };
}

function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // lib/validate says `--option "value" is not valid: expected …`; the flag and value are added by formatIssues.
  return message.replace(/^--\S+ ".*?" is not valid: /, "");
}

const required = (what: string) =>
  z
    .string({ required_error: `required: ${what}` })
    .trim()
    .min(1, `required: ${what}`);
const ms = (option: string, allowZero = false) =>
  required("a duration").transform(via((v) => parseMilliseconds(option, v, { allowZero })));
const integer = (min: number, max: number) =>
  required("a number")
    .regex(/^\d+$/, "expected a whole number")
    .transform(Number)
    .refine((n) => n >= min && n <= max, `expected a number from ${min} to ${max}`);
const address = (option: string) => required("an address").transform(via((v) => parseAddress(option, v)));

const httpUrl = z
  .string()
  .trim()
  .refine((value) => {
    try {
      return ["http:", "https:"].includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, "expected an http:// or https:// URL");

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;

const schema = z
  .object({
    rpcUrls: z
      .array(httpUrl, { required_error: "required: the chain's JSON-RPC URL(s)" })
      .min(1, "required: the chain's JSON-RPC URL(s)"),
    rpcQuorum: required("a quorum").regex(
      /^(\d+|majority|none)$/,
      "expected a number of endpoints, `majority` or `none`",
    ),
    chainId: integer(1, Number.MAX_SAFE_INTEGER).optional(),
    appAuth: address("app-auth"),
    registry: address("registry").optional(),
    secretPath: required("a file path"),
    submitterKeyFile: required("a file path").optional(),
    registrationOut: required("a file path").optional(),
    onboardingOut: required("a directory").optional(),
    pccsUrl: httpUrl,
    registryFromBlock: integer(0, Number.MAX_SAFE_INTEGER),
    logRange: integer(1, 1_000_000),
    tlsDomains: z
      .array(
        z
          .string()
          .trim()
          .toLowerCase()
          .regex(
            /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
            "expected a DNS name",
          ),
      )
      .optional(),
    tlsDir: required("a directory"),
    tlsInterval: ms("tls-interval"),
    acmeDirectory: httpUrl.optional(),
    acmeEmail: required("an email address").optional(),
    acmeCaFile: required("a file path").optional(),
    acmeChallenge: z.enum(["http-01", "dns-01"], { errorMap: () => ({ message: "expected http-01 or dns-01" }) }),
    acmeDnsHook: required("a file path").optional(),
    confirmations: integer(0, 1_000),
    pollInterval: ms("poll-interval"),
    rpcTimeout: ms("rpc-timeout"),
    project: required("a compose project name").regex(
      /^[a-z0-9][a-z0-9_-]*$/,
      "expected a compose project name: lower-case letters, digits, '-' and '_', starting with a letter or digit",
    ),
    stateDir: required("a directory"),
    dstackEndpoint: required("a socket path or URL"),
    healthCheckCmd: required("a command").transform(via(parseCommand)).optional(),
    healthCheckUrl: httpUrl.optional(),
    healthTimeout: ms("health-timeout"),
    docker: required("a program"),
    dockerTimeout: ms("docker-timeout"),
    fetchTimeout: ms("fetch-timeout"),
    maxComposeBytes: integer(1, 64 * 1024 * 1024),
    retryInitial: ms("retry-initial"),
    retryMax: ms("retry-max"),
    httpHost: required("an address to listen on"),
    httpPort: integer(0, 65_535),
    logLevel: z.enum(LOG_LEVELS, { errorMap: () => ({ message: `expected one of ${LOG_LEVELS.join(", ")}` }) }),
  })
  .superRefine((options, ctx) => {
    if (options.healthCheckCmd !== undefined && options.healthCheckUrl !== undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["healthCheckUrl"],
        message: `give --${OPTION_SPECS.healthCheckCmd.flag} or --${OPTION_SPECS.healthCheckUrl.flag}, not both`,
      });
    }
    const replicatorOnly = ["submitterKeyFile", "registrationOut", "onboardingOut", "tlsDomains"] as const;
    if (options.registry === undefined) {
      for (const name of replicatorOnly) {
        if (options[name] !== undefined) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [name],
            message: `goes with --${OPTION_SPECS.registry.flag} (the replicator)`,
          });
        }
      }
    } else {
      const submitter = `--${OPTION_SPECS.submitterKeyFile.flag}`;
      if (options.submitterKeyFile === undefined && options.registrationOut === undefined) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["registry"],
          message:
            `needs a way to submit this node's registration: ${submitter} (a funded account pays the gas) or ` +
            `--${OPTION_SPECS.registrationOut.flag} (the host submits the file)`,
        });
      }
      if (options.submitterKeyFile === undefined && options.onboardingOut === undefined) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["registry"],
          message:
            `needs a way to submit the onboardings this node signs as a member: ${submitter} or ` +
            `--${OPTION_SPECS.onboardingOut.flag} (the host submits the files)`,
        });
      }
    }
    if (options.tlsDomains === undefined || options.tlsDomains.length === 0) {
      for (const name of ["acmeDirectory", "acmeEmail", "acmeCaFile", "acmeDnsHook"] as const) {
        if (options[name] !== undefined) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [name],
            message: `goes with --${OPTION_SPECS.tlsDomains.flag} (the TLS loop)`,
          });
        }
      }
    }
    if ((options.acmeChallenge === "dns-01") !== (options.acmeDnsHook !== undefined)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["acmeDnsHook"],
        message:
          options.acmeDnsHook === undefined
            ? `--${OPTION_SPECS.acmeChallenge.flag} dns-01 needs it: the command that sets the TXT record`
            : `goes with --${OPTION_SPECS.acmeChallenge.flag} dns-01`,
      });
    }
    const quorum = options.rpcQuorum;
    const urls = options.rpcUrls.length;
    if (quorum === "majority" && urls < 2) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["rpcUrls"],
        message:
          `one URL cannot make a quorum: list two or more independent providers (three recommended), ` +
          `or opt out of the quorum with --${OPTION_SPECS.rpcQuorum.flag} none`,
      });
    } else if (/^\d+$/.test(quorum) && (Number(quorum) < 2 || Number(quorum) > urls)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["rpcQuorum"],
        message:
          Number(quorum) < 2
            ? "a quorum is at least 2 endpoints; `none` opts out of it"
            : `a quorum of ${quorum} cannot be reached with ${urls} URL(s)`,
      });
    }
    if (options.retryMax < options.retryInitial) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["retryMax"],
        message: "must not be shorter than --retry-initial",
      });
    }
  });

export type AgentOptions = z.output<typeof schema>;

/** How many endpoints must agree on a header, from `--rpc-quorum` (validated) and the number of URLs. */
export function quorumOf(options: Pick<AgentOptions, "rpcQuorum" | "rpcUrls">): number {
  if (options.rpcQuorum === "none") return 1;
  if (options.rpcQuorum === "majority") return Math.max(2, Math.floor(options.rpcUrls.length / 2) + 1);
  return Number(options.rpcQuorum);
}

/** Splits a health-check command: a JSON array of strings, or words separated by spaces. Never run by a shell. */
export function parseCommand(value: string): string[] {
  const text = value.trim();
  let argv: unknown;
  if (text.startsWith("[")) {
    try {
      argv = JSON.parse(text);
    } catch {
      throw new UserError("expected a JSON array of strings");
    }
  } else {
    argv = text.split(/\s+/);
  }
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((word) => typeof word === "string" && word !== "")) {
    throw new UserError("expected a JSON array of non-empty strings");
  }
  return argv as string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Reading flags and environment
// ---------------------------------------------------------------------------------------------------------------

/** Options that could not be used, one message per problem. */
export class OptionsError extends UserError {
  override name = "OptionsError";

  constructor(readonly problems: string[]) {
    super(`invalid options:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
}

export interface ParsedCommandLine {
  help: boolean;
  options: AgentOptions | undefined;
}

/**
 * Reads the options from the command line (which wins) and the environment, applies the defaults and validates
 * everything. Throws an {@link OptionsError} listing every problem.
 */
export function parseAgentOptions(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  const parseOptions: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    help: { type: "boolean" },
  };
  for (const spec of Object.values(OPTION_SPECS) as OptionSpec[]) {
    parseOptions[spec.flag] = spec.multiple ? { type: "string", multiple: true } : { type: "string" };
  }
  let values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: parseOptions, allowPositionals: false, strict: true }));
  } catch (error) {
    throw new OptionsError([error instanceof Error ? error.message : String(error)]);
  }
  if (values["help"] === true) return { help: true, options: undefined };

  const raw: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(OPTION_SPECS) as Array<[OptionName, OptionSpec]>) {
    const fromFlag = values[spec.flag];
    const fromEnv = env[spec.env];
    let value: string | string[] | undefined;
    if (spec.multiple) {
      const given = Array.isArray(fromFlag)
        ? fromFlag.map(String)
        : fromEnv !== undefined && fromEnv.trim() !== ""
          ? [fromEnv]
          : undefined;
      value = given
        ?.flatMap((item) => item.split(","))
        .map((item) => item.trim())
        .filter((item) => item !== "");
    } else {
      value =
        typeof fromFlag === "string" ? fromFlag : fromEnv !== undefined && fromEnv.trim() !== "" ? fromEnv : undefined;
      if (value === undefined) value = defaultOf(name, spec, env);
    }
    raw[name] = value;
  }

  if (raw["secretPath"] === undefined && typeof raw["stateDir"] === "string") {
    raw["secretPath"] = path.join(raw["stateDir"], "replication", "secret");
  }
  if (raw["tlsDir"] === undefined && typeof raw["stateDir"] === "string") {
    raw["tlsDir"] = path.join(raw["stateDir"], "tls");
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw new OptionsError(formatIssues(result.error, raw));
  return { help: false, options: result.data };
}

function defaultOf(name: OptionName, spec: OptionSpec, env: NodeJS.ProcessEnv): string | undefined {
  if (name === "secretPath" || name === "tlsDir") return undefined; // from the state directory, once that is known
  if (name === "dstackEndpoint") {
    const simulator = env["DSTACK_SIMULATOR_ENDPOINT"];
    return simulator !== undefined && simulator.trim() !== "" ? simulator : DEFAULT_DSTACK_ENDPOINT;
  }
  return spec.default;
}

function formatIssues(error: z.ZodError, raw: Record<string, unknown>): string[] {
  return error.issues.map((issue) => {
    const name = issue.path[0] as OptionName | undefined;
    const spec: OptionSpec | undefined = name === undefined ? undefined : OPTION_SPECS[name];
    if (spec === undefined) return issue.message;
    const value = raw[name!];
    const shown =
      value === undefined
        ? ""
        : ` (got ${JSON.stringify(Array.isArray(value) && issue.path.length > 1 ? value[issue.path[1] as number] : value)})`;
    return `--${spec.flag} / ${spec.env}: ${issue.message}${shown}`;
  });
}

/**
 * The submitter's key from `--submitter-key-file`: a private key (0x + 64 hex digits, surrounding whitespace ignored).
 * Throws an {@link OptionsError} naming the option, never showing the file's content.
 */
export async function loadSubmitterKey(file: string): Promise<Wallet> {
  const spec = OPTION_SPECS.submitterKeyFile;
  const where = `--${spec.flag} / ${spec.env}`;
  let text: string;
  try {
    text = (await readFile(file, "utf8")).trim();
  } catch (error) {
    throw new OptionsError([
      `${where}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    ]);
  }
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(text)) {
    throw new OptionsError([`${where}: ${file} does not hold a private key (0x + 64 hex digits)`]);
  }
  return new Wallet(text.startsWith("0x") ? text : `0x${text}`);
}

/** The extra roots of `--acme-ca-file` (PEM). Throws an {@link OptionsError} naming the option. */
export async function loadAcmeCa(file: string): Promise<string> {
  const spec = OPTION_SPECS.acmeCaFile;
  const where = `--${spec.flag} / ${spec.env}`;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new OptionsError([
      `${where}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    ]);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new OptionsError([`${where}: ${file} holds no PEM certificate`]);
  }
  return text;
}

/** The `--help` text: every option with its variable and default. */
export function helpText(): string {
  const lines = [
    "devproof-agent: runs the release that the app's TimelockedAppAuth names, and nothing else.",
    "",
    "Every option can be given as a flag or an environment variable (the flag wins).",
    "",
  ];
  for (const spec of Object.values(OPTION_SPECS) as OptionSpec[]) {
    const when = spec.default !== undefined ? `default ${spec.default}` : spec.optional ? "optional" : "required";
    lines.push(`  --${spec.flag} <value>   ${spec.env}   (${when})`, `      ${spec.description}`);
  }
  return lines.join("\n");
}

/** The options with secrets left out, for logs and `/status` (RPC URLs often carry an API key in the path). */
export function describeOptions(options: AgentOptions): Record<string, unknown> {
  return {
    ...options,
    rpcUrls: options.rpcUrls.map(redactUrl),
    healthCheckUrl: options.healthCheckUrl === undefined ? undefined : redactUrl(options.healthCheckUrl),
    pccsUrl: redactUrl(options.pccsUrl),
    acmeDirectory: options.acmeDirectory === undefined ? undefined : redactUrl(options.acmeDirectory),
  };
}

/** `https://host/…`: scheme and host only, because paths and queries of RPC URLs often hold API keys. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const rest = parsed.pathname !== "/" || parsed.search !== "" ? "/…" : "";
    return `${parsed.protocol}//${parsed.host}${rest}`;
  } catch {
    return "<invalid URL>";
  }
}
