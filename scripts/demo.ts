// The demo, on Hardhat's embedded chain: deploy an app's TimelockedAppAuth with release v1, pin the OS its CVM runs
// (computed from the CVM's Info; another OS image is then refused), propose v2, show that
// nobody can activate it before the notice ends, let the notice pass, activate it as a stranger, show the status (v1
// is still allowed: the owner could roll back to it) and the DevProof report, and the report of a stock AppAuth for
// comparison. Every step runs the same task a user runs from the command line. Beside it runs the guest agent, as a
// separate process reading the chain over JSON-RPC (the embedded chain served on a local port, as three "providers"):
// it starts v1, and once v2 is activated and confirmed it runs v2 — while one of the three providers lies about the
// chain and is outvoted by the two others. No container engine runs here, so a fake `docker` prints what it would run.
// Then the replication demo, the TLS demo (scripts/demo-tls.ts), and the oracle example (examples/oracle/demo.ts): a market that refuses to settle while
// a new oracle release is proposed.
// DEVPROOF_DEMO_V1 and DEVPROOF_DEMO_V2 name other compose files for the two releases (e.g. your own app's).
// Any failure stops the demo with one line and exit code 1, after the agent, the RPC port and the stand-ins are closed.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { styleText } from "node:util";

import hre from "hardhat";

import TimelockedAppAuthModule, { RECOMMENDED_NOTICE_SECONDS } from "../ignition/modules/TimelockedAppAuth.js";
import { composeHashOfFile } from "../lib/composeHash.js";
import { demoReplication } from "./demo-replication.js";
import { demoTls } from "./demo-tls.js";
import { demoOracle } from "../examples/oracle/demo.js";
import { DstackGuestApiStandIn } from "../test/helpers/dstack-guest-api.js";
import { FIXTURE_DEVICE_ID } from "../test/helpers/tee-stand-in.js";
import {
  AgentProcess,
  cleanUp,
  FakeDocker,
  RpcEndpoint,
  tempDir,
  waitFor,
  type DockerCall,
  type LogLine,
} from "../test/helpers/guestAgent.js";

const V1 = path.resolve(process.env["DEVPROOF_DEMO_V1"] ?? "examples/app-compose.v1.json");
const V2 = path.resolve(process.env["DEVPROOF_DEMO_V2"] ?? "examples/app-compose.v2.json");
/** The one TDX platform allowed: the one the stand-in CVMs run on (sha256 of its PCK certificate's PPID). */
const DEVICE = FIXTURE_DEVICE_ID;

function step(title: string): void {
  console.log(`\n━━ ${title}`);
}

/** Runs a task as the command line would, printing the command first; false when the task failed. */
async function runTask(name: string, args: Record<string, unknown>): Promise<boolean> {
  console.log(
    `$ npx hardhat ${name} ${Object.entries(args)
      .map(([key, value]) => `--${key} ${String(value)}`)
      .join(" ")}`,
  );
  const result = (await hre.tasks.getTask(name).run(args)) as { success?: boolean } | undefined;
  return result?.success !== false;
}

/** Runs a task that must succeed for the demo to go on. */
async function mustRun(name: string, args: Record<string, unknown>): Promise<void> {
  if (!(await runTask(name, args))) throw new Error(`the step "npx hardhat ${name}" failed (its error is above)`);
}

/** What the demo started and must stop, whatever happens: closed last-in, first-out. */
const started: Array<() => Promise<unknown>> = [];

async function demo(): Promise<void> {
  const connection = await hre.network.getOrCreate();
  const [, stranger] = await connection.ethers.getSigners();
  const v1 = await composeHashOfFile(V1);

  step("1. Deploy the app's TimelockedAppAuth: release v1 allowed, one device, 7-day notice");
  const { appAuth } = await connection.ignition.deploy(TimelockedAppAuthModule, {
    parameters: {
      TimelockedAppAuth: {
        noticePeriod: RECOMMENDED_NOTICE_SECONDS,
        initialComposeHash: v1.bytesHash,
        initialComposeUri: pathToFileURL(V1).href,
        initialDevices: [DEVICE],
      },
    },
  });
  const app = await appAuth.getAddress();
  console.log(`TimelockedAppAuth deployed at ${app}`);

  step(
    "1b. The guest agent starts in the CVM: it reads the contract one block behind the head, through three RPC " +
      "providers of which two must agree, and runs release v1",
  );
  const providers: RpcEndpoint[] = [];
  for (let i = 0; i < 3; i++) {
    const provider = await new RpcEndpoint(connection).start();
    started.push(() => provider.down());
    providers.push(provider);
  }
  const rpcUrls = providers.map((provider) => provider.url);
  const dstack = await DstackGuestApiStandIn.start({ appName: "devproof-demo" });
  started.push(() => dstack.close());
  const docker = await FakeDocker.create();
  const agent = await AgentProcess.start({
    rpcUrls,
    appAuth: app,
    stateDir: await tempDir("demo-state"),
    docker,
    dstackSocket: dstack.endpoint,
    confirmations: 1,
    pollInterval: "200ms",
    flags: { project: "demo", "log-level": "info" },
  });
  started.push(() => agent.stop("SIGKILL"));
  console.log(
    `$ node agent.mjs --rpc-url ${rpcUrls.join(",")} --app-auth ${app} --confirmations 1 --poll-interval 200ms …` +
      "   (--rpc-quorum: a majority, 2 of 3)",
  );
  const showAgent = (line: LogLine | undefined) => console.log(`agent: ${String(line?.msg)}`);
  const showDocker = (call: DockerCall) => {
    const image = /image: (\S+)/.exec(call.compose ?? "")?.[1] ?? "";
    console.log(`fake docker: docker ${call.args.join(" ")}\n             compose file runs ${image}`);
  };
  showAgent(agent.find((line) => line.event === "dstack"));
  await connection.networkHelpers.mine(1); // one confirmation for the deployment
  showAgent(await agent.waitForLog("v1 running", (line) => line.event === "reload"));
  showDocker((await docker.ups())[0]!);

  step(
    "1c. The developer pins the OS the CVM runs: computed from the CVM's Info, pinned at once (it narrows); from now " +
      "on an OS image that dstack's KMS owner allows does not boot this app until it waits the app's notice",
  );
  const infoFile = path.join(await tempDir("demo-info"), "info.json");
  await writeFile(infoFile, JSON.stringify(dstack.info));
  const os = (await hre.tasks.getTask("os-measurements").run({ info: infoFile })) as {
    success?: boolean;
    value?: { osImageHash?: string };
  };
  const osImageHash = os.value?.osImageHash;
  if (os.success === false || osImageHash === undefined) throw new Error("os-measurements found no OS image hash");
  await mustRun("pin-os", { app, field: "os-image", value: osImageHash });
  const v1Hash = v1.bytesHash;
  await mustRun("check-boot", { app, composeHash: v1Hash, device: DEVICE, osImage: osImageHash });
  if (await runTask("check-boot", { app, composeHash: v1Hash, device: DEVICE, osImage: `0x${"05".repeat(32)}` })) {
    throw new Error("the app booted an OS image it did not pin");
  }

  step("2. The developer hashes release v2 exactly as the CVM will measure it");
  await mustRun("compose-hash", { file: V2 });

  step("3. The developer proposes v2: it is public now, and waits the notice");
  await mustRun("propose-hash", { app, file: V2, uri: pathToFileURL(V2).href });

  step("4. Nobody can activate it early — not even the owner");
  if (await runTask("activate-hash", { app, file: V2 })) {
    throw new Error("activation before the notice ended was accepted");
  }

  step("5. Seven days pass (on the embedded chain, instantly)");
  await connection.networkHelpers.time.increase(RECOMMENDED_NOTICE_SECONDS);
  console.log(`Chain time is now ${new Date((await connection.networkHelpers.time.latest()) * 1000).toISOString()}`);

  step("5b. One of the three RPC providers starts lying: it shows the agent another chain (another state root)");
  const liar = providers[2]!;
  liar.fault = { kind: "header", stateRoot: `0x${"5e".repeat(32)}` };
  console.log(`${liar.url} now answers every block header with state root 0x5e5e…5e and the hash that goes with it`);

  step("6. Anyone — here a stranger, not the owner — activates v2");
  await mustRun("activate-hash", { app, file: V2, from: stranger!.address });

  step(
    "6b. One block later the activation is confirmed: the two honest providers outvote the liar, and the agent " +
      "fetches v2, checks its hash and runs it",
  );
  const from = agent.lines.length;
  await connection.networkHelpers.mine(1);
  showAgent(
    await agent.waitForLog(
      "the outvoted provider",
      (line) => line.event === "verification" && line.state === "outvoted",
      10_000,
    ),
  );
  showAgent(await agent.waitForLog("v2 running", (line) => line.event === "reload", 10_000, from));
  showDocker(await waitFor("the v2 up call", async () => (await docker.ups())[1]));
  const status = await agent.reconcilerStatus();
  console.log(
    `agent /status: running ${(status["running"] as { composeHash: string }).composeHash} (block ${(status["lastBlock"] as { block: number }).block})`,
  );

  step("7. The status an auditor sees: the current release, what is allowed, and the whole history");
  await mustRun("app-status", { app });

  step("8. The agent stops cleanly on SIGTERM");
  const exit = await agent.stop("SIGTERM");
  console.log(`agent exited with code ${exit.code}`);
  if (exit.code !== 0) throw new Error(`the agent exited with code ${exit.code} on SIGTERM\n${agent.tail()}`);
  for (const provider of providers) await provider.down();
  await dstack.close();

  step("9. The DevProof report: Stage 1 (7-day notice), with a WARN for the single-key owner");
  await mustRun("devproof-report", { app, compose: V2 });

  step("10. The same report on a stock, instantly upgradeable AppAuth (dstack's DstackApp behaves so): Stage 0");
  const [owner] = await connection.ethers.getSigners();
  const stock = await connection.ethers.deployContract("StockAppAuth", [owner!.address, false, DEVICE, v1.bytesHash]);
  if (await runTask("devproof-report", { app: await stock.getAddress(), compose: V1 })) {
    throw new Error("the report passed a stock AppAuth");
  }

  const replicated = await demoReplication(connection, app, V1);
  await demoTls(connection, app, V2, replicated);

  // The oracle example (examples/oracle/): a market that settles only while its oracle app is Stage 1.
  await demoOracle(connection, { step, runTask });
}

try {
  await demo();
} catch (error) {
  console.error(styleText("red", `demo failed: ${error instanceof Error ? error.message : String(error)}`));
  process.exitCode = 1;
} finally {
  for (const stop of started.reverse()) await stop().catch(() => undefined);
  await cleanUp();
}
// Whatever a failed step left open (a socket, a timer) must not keep the demo alive.
if (process.exitCode === 1) process.exit(1);
