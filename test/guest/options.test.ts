import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";

import {
  loadAcmeCa,
  loadSubmitterKey,
  OPTION_SPECS,
  OptionsError,
  parseAgentOptions,
  parseCommand,
  quorumOf,
  redactUrl,
} from "../../guest/src/options.js";

const APP = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

function problemsOf(argv: string[], env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseAgentOptions(argv, env);
  } catch (error) {
    if (error instanceof OptionsError) return error.problems;
    throw error;
  }
  return [];
}

describe("guest agent options", function () {
  it("takes every option from the environment, with the documented defaults", function () {
    const { options } = parseAgentOptions([], {
      DEVPROOF_RPC_URLS: "http://a.example, https://b.example/key",
      DEVPROOF_APP_AUTH: APP,
    });
    expect(options).to.deep.include({
      rpcUrls: ["http://a.example", "https://b.example/key"],
      appAuth: APP,
      confirmations: 3,
      pollInterval: 5_000,
      rpcTimeout: 10_000,
      project: "app",
      stateDir: "/var/lib/devproof-agent",
      dstackEndpoint: "/var/run/dstack.sock",
      docker: "docker",
      dockerTimeout: 300_000,
      healthTimeout: 60_000,
      fetchTimeout: 30_000,
      maxComposeBytes: 1_048_576,
      retryInitial: 10_000,
      retryMax: 600_000,
      httpHost: "0.0.0.0",
      httpPort: 8090,
      logLevel: "info",
    });
    expect(options?.registry).to.equal(undefined);
    expect(options?.healthCheckCmd).to.equal(undefined);
  });

  it("lets flags win over the environment, and reads repeated or comma-separated RPC URLs in order", function () {
    const { options } = parseAgentOptions(
      [
        "--rpc-url",
        "http://1.example",
        "--rpc-url",
        "http://2.example,http://3.example",
        "--confirmations",
        "0",
        "--poll-interval",
        "250ms",
      ],
      { DEVPROOF_RPC_URLS: "http://env.example", DEVPROOF_APP_AUTH: APP, DEVPROOF_CONFIRMATIONS: "9" },
    );
    expect(options?.rpcUrls).to.deep.equal(["http://1.example", "http://2.example", "http://3.example"]);
    expect(options?.confirmations).to.equal(0);
    expect(options?.pollInterval).to.equal(250);
  });

  it("asks a majority of the RPC URLs (at least 2) to agree by default; takes a number, or `none` to opt out", function () {
    const three = { DEVPROOF_RPC_URLS: "http://a.example,http://b.example,http://c.example", DEVPROOF_APP_AUTH: APP };
    const quorum = (env: NodeJS.ProcessEnv, argv: string[] = []) => quorumOf(parseAgentOptions(argv, env).options!);
    expect(parseAgentOptions([], three).options?.rpcQuorum).to.equal("majority");
    expect(quorum(three)).to.equal(2);
    expect(quorum({ ...three, DEVPROOF_RPC_URLS: "http://a.example,http://b.example" })).to.equal(2);
    expect(quorum({ ...three, DEVPROOF_RPC_URLS: "http://a,http://b,http://c,http://d,http://e" })).to.equal(3);
    expect(quorum(three, ["--rpc-quorum", "3"])).to.equal(3);
    expect(quorum({ ...three, DEVPROOF_RPC_QUORUM: "none" })).to.equal(1);
    expect(
      quorum({ DEVPROOF_RPC_URLS: "http://a.example", DEVPROOF_RPC_QUORUM: "none", DEVPROOF_APP_AUTH: APP }),
    ).to.equal(1);

    expect(problemsOf([], { DEVPROOF_RPC_URLS: "http://a.example", DEVPROOF_APP_AUTH: APP })).to.deep.equal([
      '--rpc-url / DEVPROOF_RPC_URLS: one URL cannot make a quorum: list two or more independent providers (three recommended), or opt out of the quorum with --rpc-quorum none (got ["http://a.example"])',
    ]);
    expect(problemsOf(["--rpc-quorum", "1"], three)).to.deep.equal([
      '--rpc-quorum / DEVPROOF_RPC_QUORUM: a quorum is at least 2 endpoints; `none` opts out of it (got "1")',
    ]);
    expect(problemsOf(["--rpc-quorum", "4"], three)).to.deep.equal([
      '--rpc-quorum / DEVPROOF_RPC_QUORUM: a quorum of 4 cannot be reached with 3 URL(s) (got "4")',
    ]);
    expect(problemsOf(["--rpc-quorum", "most"], three)).to.deep.equal([
      '--rpc-quorum / DEVPROOF_RPC_QUORUM: expected a number of endpoints, `majority` or `none` (got "most")',
    ]);
  });

  it("uses DSTACK_SIMULATOR_ENDPOINT as the dstack endpoint when none is given, as the SDK does", function () {
    const env = {
      DEVPROOF_RPC_URLS: "http://a.example",
      DEVPROOF_RPC_QUORUM: "none",
      DEVPROOF_APP_AUTH: APP,
      DSTACK_SIMULATOR_ENDPOINT: "http://127.0.0.1:8090",
    };
    expect(parseAgentOptions([], env).options?.dstackEndpoint).to.equal("http://127.0.0.1:8090");
    expect(parseAgentOptions(["--dstack-endpoint", "/run/dstack.sock"], env).options?.dstackEndpoint).to.equal(
      "/run/dstack.sock",
    );
  });

  it("reports every missing or bad value on its own line, naming the flag and the variable", function () {
    const problems = problemsOf(
      [
        "--rpc-url",
        "ws://x.example",
        "--confirmations=-1",
        "--poll-interval",
        "soon",
        "--project",
        "My App",
        "--http-port",
        "70000",
      ],
      { DEVPROOF_LOG_LEVEL: "loud", DEVPROOF_REPLICATION_REGISTRY: "0x12" },
    );
    expect(problems).to.deep.equal([
      '--rpc-url / DEVPROOF_RPC_URLS: expected an http:// or https:// URL (got "ws://x.example")',
      "--app-auth / DEVPROOF_APP_AUTH: required: an address",
      '--registry / DEVPROOF_REPLICATION_REGISTRY: expected an address: 0x followed by 40 hex digits (got "0x12")',
      '--confirmations / DEVPROOF_CONFIRMATIONS: expected a whole number (got "-1")',
      '--poll-interval / DEVPROOF_POLL_INTERVAL: expected a duration such as "500ms", "12s", "5m", "1h30m" or seconds ("30") (got "soon")',
      "--project / DEVPROOF_COMPOSE_PROJECT: expected a compose project name: lower-case letters, digits, '-' and '_', starting with a letter or digit (got \"My App\")",
      '--http-port / DEVPROOF_HTTP_PORT: expected a number from 0 to 65535 (got "70000")',
      '--log-level / DEVPROOF_LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal (got "loud")',
    ]);
    expect(problemsOf([], { DEVPROOF_APP_AUTH: APP })).to.deep.equal([
      "--rpc-url / DEVPROOF_RPC_URLS: required: the chain's JSON-RPC URL(s)",
    ]);
  });

  it("refuses a mistyped checksum, two health checks, and a backoff cap below its start", function () {
    const env = { DEVPROOF_RPC_URLS: "http://a.example", DEVPROOF_RPC_QUORUM: "none" };
    expect(problemsOf(["--app-auth", APP.replace("F", "f")], env)[0]).to.match(/checksum holds; this one fails it/);
    expect(
      problemsOf(["--app-auth", APP, "--health-check-cmd", "true", "--health-check-url", "http://app/health"], env),
    ).to.deep.equal([
      '--health-check-url / DEVPROOF_HEALTH_CHECK_URL: give --health-check-cmd or --health-check-url, not both (got "http://app/health")',
    ]);
    expect(problemsOf(["--app-auth", APP, "--retry-initial", "1m", "--retry-max", "10s"], env)).to.deep.equal([
      '--retry-max / DEVPROOF_RETRY_MAX: must not be shorter than --retry-initial (got "10s")',
    ]);
    expect(problemsOf(["--app-auth", APP, "--bogus", "1"], env)[0]).to.match(/Unknown option '--bogus'/);
  });

  it("splits a health-check command without a shell: a JSON array or words", function () {
    expect(parseCommand('["curl", "-fsS", "http://app:8080/a b"]')).to.deep.equal([
      "curl",
      "-fsS",
      "http://app:8080/a b",
    ]);
    expect(parseCommand("  wget -q -O- http://app:8080/health ")).to.deep.equal([
      "wget",
      "-q",
      "-O-",
      "http://app:8080/health",
    ]);
    expect(() => parseCommand('["curl", 3]')).to.throw(/JSON array of non-empty strings/);
    expect(() => parseCommand("[oops")).to.throw(/JSON array of strings/);
  });

  it("keeps RPC keys out of logs: only scheme and host of a URL are shown", function () {
    expect(redactUrl("https://user:pw@rpc.example.org/v2/SECRETKEY?x=1")).to.equal("https://rpc.example.org/…");
    expect(redactUrl("http://127.0.0.1:8545")).to.equal("http://127.0.0.1:8545");
  });

  describe("the replicator's options", function () {
    const REGISTRY = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0";
    const base = { DEVPROOF_RPC_URLS: "http://a.example", DEVPROOF_RPC_QUORUM: "none", DEVPROOF_APP_AUTH: APP };

    it("turns on with --registry and a way to submit, with the documented defaults", function () {
      const { options } = parseAgentOptions(
        ["--registry", REGISTRY, "--submitter-key-file", "/run/secrets/submitter", "--state-dir", "/data/agent"],
        base,
      );
      expect(options).to.deep.include({
        registry: REGISTRY,
        submitterKeyFile: "/run/secrets/submitter",
        secretPath: "/data/agent/replication/secret",
        pccsUrl: "https://pccs.phala.network",
        registryFromBlock: 0,
        logRange: 2000,
      });
      const files = parseAgentOptions(
        [
          "--registry",
          REGISTRY,
          "--registration-out",
          "/host/registration.json",
          "--onboarding-out",
          "/host/onboardings",
        ],
        { ...base, DEVPROOF_SECRET_PATH: "/secrets/app", DEVPROOF_REGISTRY_FROM_BLOCK: "123456" },
      ).options;
      expect(files).to.deep.include({
        registrationOut: "/host/registration.json",
        onboardingOut: "/host/onboardings",
        secretPath: "/secrets/app",
        registryFromBlock: 123456,
      });
      expect(files?.submitterKeyFile).to.equal(undefined);
    });

    it("needs a way to submit the registration and the onboardings, and refuses its options without --registry", function () {
      expect(problemsOf(["--registry", REGISTRY, "--registration-out", "/host/r.json"], base)).to.deep.equal([
        `--registry / DEVPROOF_REPLICATION_REGISTRY: needs a way to submit the onboardings this node signs as a member: --submitter-key-file or --onboarding-out (the host submits the files) (got "${REGISTRY}")`,
      ]);
      expect(problemsOf(["--registry", REGISTRY, "--onboarding-out", "/host"], base)).to.deep.equal([
        `--registry / DEVPROOF_REPLICATION_REGISTRY: needs a way to submit this node's registration: --submitter-key-file (a funded account pays the gas) or --registration-out (the host submits the file) (got "${REGISTRY}")`,
      ]);
      expect(problemsOf(["--submitter-key-file", "/k", "--pccs-url", "ftp://pccs"], base)).to.deep.equal([
        '--pccs-url / DEVPROOF_PCCS_URL: expected an http:// or https:// URL (got "ftp://pccs")',
        '--submitter-key-file / DEVPROOF_SUBMITTER_KEY_FILE: goes with --registry (the replicator) (got "/k")',
      ]);
    });

    it("reads the submitter's key from its file, and names the option when the file is wrong", async function () {
      const dir = await mkdtemp(path.join(tmpdir(), "submitter-"));
      try {
        const key = Wallet.createRandom().privateKey;
        await writeFile(path.join(dir, "key"), `${key.slice(2)}\n`);
        expect((await loadSubmitterKey(path.join(dir, "key"))).privateKey).to.equal(key);
        await writeFile(path.join(dir, "bad"), "not a key");
        const problems = async (file: string) =>
          loadSubmitterKey(file).then(
            () => [],
            (error: OptionsError) => error.problems,
          );
        expect(await problems(path.join(dir, "bad"))).to.deep.equal([
          `--submitter-key-file / DEVPROOF_SUBMITTER_KEY_FILE: ${path.join(dir, "bad")} does not hold a private key (0x + 64 hex digits)`,
        ]);
        expect(await problems(path.join(dir, "missing"))).to.deep.equal([
          `--submitter-key-file / DEVPROOF_SUBMITTER_KEY_FILE: cannot read ${path.join(dir, "missing")} (ENOENT)`,
        ]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe("the TLS loop's options", function () {
    const REGISTRY = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0";
    const base = {
      DEVPROOF_RPC_URLS: "http://a.example",
      DEVPROOF_RPC_QUORUM: "none",
      DEVPROOF_APP_AUTH: APP,
      DEVPROOF_REPLICATION_REGISTRY: REGISTRY,
      DEVPROOF_SUBMITTER_KEY_FILE: "/k",
    };

    it("turns on with --tls-domain, keeps its files under the state directory by default, and takes ACME", function () {
      const { options } = parseAgentOptions(
        ["--tls-domain", "App.example.com", "--tls-domain", "www.example.com", "--state-dir", "/data/agent"],
        base,
      );
      expect(options).to.deep.include({
        tlsDomains: ["app.example.com", "www.example.com"],
        tlsDir: "/data/agent/tls",
        tlsInterval: 60_000,
        acmeDirectory: undefined,
      });
      const acme = parseAgentOptions([], {
        ...base,
        DEVPROOF_TLS_DOMAINS: "app.example.com",
        DEVPROOF_TLS_DIR: "/tls",
        DEVPROOF_ACME_DIRECTORY: "https://acme.example/directory",
        DEVPROOF_ACME_EMAIL: "ops@example.com",
      }).options;
      expect(acme).to.deep.include({
        tlsDir: "/tls",
        acmeDirectory: "https://acme.example/directory",
        acmeEmail: "ops@example.com",
      });
    });

    it("needs --registry for the TLS loop, --tls-domain for ACME, and names that are DNS names", function () {
      const { DEVPROOF_REPLICATION_REGISTRY: _registry, DEVPROOF_SUBMITTER_KEY_FILE: _key, ...noRegistry } = base;
      expect(problemsOf(["--tls-domain", "app.example.com"], noRegistry)).to.deep.equal([
        '--tls-domain / DEVPROOF_TLS_DOMAINS: goes with --registry (the replicator) (got ["app.example.com"])',
      ]);
      expect(problemsOf(["--acme-directory", "https://acme.example/directory"], base)).to.deep.equal([
        '--acme-directory / DEVPROOF_ACME_DIRECTORY: goes with --tls-domain (the TLS loop) (got "https://acme.example/directory")',
      ]);
      expect(problemsOf(["--tls-domain", "app example"], base)).to.deep.equal([
        '--tls-domain / DEVPROOF_TLS_DOMAINS: expected a DNS name (got "app example")',
      ]);
    });

    it("takes DNS-01 with its hook, and refuses one without the other", function () {
      const tls = ["--tls-domain", "app.example.com", "--acme-directory", "https://acme.example/directory"];
      const { options } = parseAgentOptions(
        [...tls, "--acme-challenge", "dns-01", "--acme-dns-hook", "/hooks/dns"],
        base,
      );
      expect(options).to.deep.include({ acmeChallenge: "dns-01", acmeDnsHook: "/hooks/dns" });
      expect(parseAgentOptions(tls, base).options).to.deep.include({
        acmeChallenge: "http-01",
        acmeDnsHook: undefined,
      });
      expect(problemsOf([...tls, "--acme-challenge", "dns-01"], base)).to.deep.equal([
        "--acme-dns-hook / DEVPROOF_ACME_DNS_HOOK: --acme-challenge dns-01 needs it: the command that sets the TXT record",
      ]);
      expect(problemsOf([...tls, "--acme-dns-hook", "/hooks/dns"], base)).to.deep.equal([
        '--acme-dns-hook / DEVPROOF_ACME_DNS_HOOK: goes with --acme-challenge dns-01 (got "/hooks/dns")',
      ]);
      expect(problemsOf([...tls, "--acme-challenge", "tls-alpn-01"], base)).to.deep.equal([
        '--acme-challenge / DEVPROOF_ACME_CHALLENGE: expected http-01 or dns-01 (got "tls-alpn-01")',
      ]);
    });

    it("reads the ACME directory's extra roots from their file, and names the option when the file is wrong", async function () {
      const dir = await mkdtemp(path.join(tmpdir(), "acme-ca-"));
      try {
        const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        await writeFile(path.join(dir, "ca.pem"), pem);
        expect(await loadAcmeCa(path.join(dir, "ca.pem"))).to.equal(pem);
        await writeFile(path.join(dir, "bad"), "not a certificate");
        const problems = await loadAcmeCa(path.join(dir, "bad")).then(
          () => [],
          (error: OptionsError) => error.problems,
        );
        expect(problems).to.deep.equal([
          `--acme-ca-file / DEVPROOF_ACME_CA_FILE: ${path.join(dir, "bad")} holds no PEM certificate`,
        ]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  it("gives every option a distinct flag and a DEVPROOF_ variable", function () {
    const specs = Object.values(OPTION_SPECS);
    expect(new Set(specs.map((spec) => spec.flag)).size).to.equal(specs.length);
    expect(specs.every((spec) => spec.env.startsWith("DEVPROOF_"))).to.equal(true);
  });
});
