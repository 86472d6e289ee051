import { expect } from "chai";

import { OPTION_SPECS, OptionsError, parseAgentOptions, parseCommand, redactUrl } from "../../guest/src/options.js";

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

  it("uses DSTACK_SIMULATOR_ENDPOINT as the dstack endpoint when none is given, as the SDK does", function () {
    const env = {
      DEVPROOF_RPC_URLS: "http://a.example",
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
    const env = { DEVPROOF_RPC_URLS: "http://a.example" };
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

  it("gives every option a distinct flag and a DEVPROOF_ variable", function () {
    const specs = Object.values(OPTION_SPECS);
    expect(new Set(specs.map((spec) => spec.flag)).size).to.equal(specs.length);
    expect(specs.every((spec) => spec.env.startsWith("DEVPROOF_"))).to.equal(true);
  });
});
