/**
 * Let's Encrypt's ACME test server, pebble (Debian's package, installed by .ci/run), started for one test: its own
 * HTTPS listener certificate (made here, trusted through `ca`), no random validation sleeps or nonce rejections, and
 * HTTP-01 validation against `httpPort` on 127.0.0.1. Tests skip with one line when pebble is not installed; CI
 * installs it.
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { deriveTlsKey, selfSignedCertificate } from "../../lib/tls/index.js";

export const PEBBLE = process.env["PEBBLE_BIN"] ?? "/usr/bin/pebble";

export function pebbleInstalled(): boolean {
  return spawnSync(PEBBLE, ["-h"], { stdio: "ignore" }).error === undefined;
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Pebble {
  directoryUrl: string;
  /** The root of pebble's own HTTPS listener, to trust for the directory. */
  ca: string;
  stop(): Promise<void>;
}

/** Starts `command` and waits until it prints `ready`; throws with what it printed when it exits or takes > 10 s. */
async function startUntil(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: string,
): Promise<ChildProcess> {
  const child: ChildProcess = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not start within 10 s:\n${output}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}:\n${output}`));
    });
  });
  return child;
}

/**
 * pebble-challtestsrv (shipped in Debian's pebble package): a DNS server whose TXT records are set and cleared over
 * a management API (`POST /set-txt {host, value}`, `POST /clear-txt {host}`), answering A queries with 127.0.0.1.
 * pebble started with `dnsServer` resolves through it, so a DNS-01 hook can answer the CA.
 */
export interface ChallTestSrv {
  dnsServer: string;
  managementUrl: string;
  stop(): Promise<void>;
}

export async function startChallTestSrv(): Promise<ChallTestSrv> {
  const dnsPort = await freePort();
  const managementPort = await freePort();
  const child = await startUntil(
    PEBBLE.replace(/pebble$/, "pebble-challtestsrv"),
    [
      "-dns01",
      `127.0.0.1:${dnsPort}`,
      "-management",
      `127.0.0.1:${managementPort}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
    ],
    process.env,
    "Starting management server",
  );
  return {
    dnsServer: `127.0.0.1:${dnsPort}`,
    managementUrl: `http://127.0.0.1:${managementPort}`,
    stop: async () => void child.kill("SIGTERM"),
  };
}

export async function startPebble(httpPort: number, options: { dnsServer?: string } = {}): Promise<Pebble> {
  const dir = await mkdtemp(path.join(tmpdir(), "devproof-pebble-"));
  const listenerKey = deriveTlsKey(randomBytes(32));
  const cert = await selfSignedCertificate(listenerKey, ["localhost"]);
  await writeFile(path.join(dir, "cert.pem"), cert);
  await writeFile(path.join(dir, "key.pem"), listenerKey.privateKeyPem);
  const port = await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${await freePort()}`,
      certificate: path.join(dir, "cert.pem"),
      privateKey: path.join(dir, "key.pem"),
      httpPort,
      tlsPort: await freePort(),
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
    },
  };
  await writeFile(path.join(dir, "config.json"), JSON.stringify(config));
  const child = await startUntil(
    PEBBLE,
    [
      "-config",
      path.join(dir, "config.json"),
      ...(options.dnsServer === undefined ? [] : ["-dnsserver", options.dnsServer]),
    ],
    { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
    "Listening on",
  );
  return {
    directoryUrl: `https://localhost:${port}/dir`,
    ca: cert,
    stop: async () => {
      child.kill("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Writes a DNS-01 hook (lib/tls/acme.ts's protocol: `<hook> present|cleanup <record> <value>`) whose DNS provider is
 * pebble-challtestsrv, and which appends each call to `calls` (action, record, value length). challtestsrv can only
 * clear every value of a name, while a name and its wildcard are validated at once with two values on one record:
 * so the hook clears the record once no value it set there is still pending, as a provider's per-value removal would
 * leave it. With `exitCode`, it refuses every call, saying why on stderr.
 */
export async function writeChallTestSrvHook(
  dir: string,
  managementUrl: string,
  exitCode = 0,
): Promise<{ hook: string; calls: string }> {
  const hook = path.join(dir, "dns-hook.mjs");
  const calls = path.join(dir, "calls.log");
  const pending = path.join(dir, "pending.json");
  await writeFile(
    hook,
    // The Node running the tests runs the hook too, whichever node the PATH finds first.
    `#!${process.execPath}
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
const [action, host, value] = process.argv.slice(2);
appendFileSync(${JSON.stringify(calls)}, [action, host, value.length].join(" ") + "\\n");
if (${exitCode} !== 0) {
  console.error("the provider refused the token");
  process.exit(${exitCode});
}
const state = existsSync(${JSON.stringify(pending)}) ? JSON.parse(readFileSync(${JSON.stringify(pending)}, "utf8")) : {};
const values = new Set(state[host] ?? []);
if (action === "present") values.add(value);
else values.delete(value);
state[host] = [...values];
writeFileSync(${JSON.stringify(pending)}, JSON.stringify(state));
const call = action === "present" ? "/set-txt" : values.size === 0 ? "/clear-txt" : undefined;
if (call !== undefined) {
  const response = await fetch(${JSON.stringify(managementUrl)} + call, { method: "POST", body: JSON.stringify({ host, value }) });
  if (!response.ok) process.exit(2);
}
`,
  );
  await chmod(hook, 0o755);
  return { hook, calls };
}
