/**
 * The owner and auditor commands for a TimelockedAppAuth, the deployment commands, the users' commands (report,
 * watch, status page), and the node, member and auditor commands for its ReplicationRegistry. Definitions only: each action lives in its own file and is
 * loaded when its task runs, so `npx hardhat` stays fast and works before the contracts are compiled.
 */
import { task } from "hardhat/config";
import { ArgumentType } from "hardhat/types/arguments";

import { lazyAction } from "./shared/action.js";

/** A task on one app: `--app` and, for tasks that send, `--from`. */
function appTask(name: string, description: string) {
  return task(name, description)
    .addOption({
      name: "app",
      description: "Address of the app's TimelockedAppAuth (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "from",
      description: "Account to send from (default: the network's first account)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    });
}

/** A compose-hash task: the hash given directly, or as the app-compose.json whose exact bytes are hashed. */
function composeHashTask(name: string, description: string) {
  return appTask(name, description)
    .addOption({
      name: "hash",
      description: "Compose hash, 0x + 64 hex digits (or use --file)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "file",
      description: "app-compose.json; its exact bytes are hashed, as dstack measures them (or use --hash)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    });
}

function deviceTask(name: string, description: string) {
  return appTask(name, description).addOption({
    name: "device",
    description: "Device id, 0x + 64 hex digits (required)",
    type: ArgumentType.STRING_WITHOUT_DEFAULT,
    defaultValue: undefined,
  });
}

function noticeTask(name: string, description: string) {
  return appTask(name, description).addOption({
    name: "notice",
    description: 'Notice period: "7d", "36h", "1d12h", "90m" or seconds (required)',
    type: ArgumentType.STRING_WITHOUT_DEFAULT,
    defaultValue: undefined,
  });
}

/** A task on one app's ReplicationRegistry: `--registry` and, for tasks that send, `--from`. */
function registryTask(name: string, description: string, sends: boolean) {
  const base = task(name, description).addOption({
    name: "registry",
    description: "Address of the app's ReplicationRegistry (required)",
    type: ArgumentType.STRING_WITHOUT_DEFAULT,
    defaultValue: undefined,
  });
  return sends
    ? base.addOption({
        name: "from",
        description: "Account to send from, which pays the gas (default: the network's first account)",
        type: ArgumentType.STRING_WITHOUT_DEFAULT,
        defaultValue: undefined,
      })
    : base;
}

/** A registry task about one node. */
function nodeTask(name: string, description: string, sends: boolean) {
  return registryTask(name, description, sends).addOption({
    name: "node",
    description: "The node's address: its in-TEE Ethereum key (required)",
    type: ArgumentType.STRING_WITHOUT_DEFAULT,
    defaultValue: undefined,
  });
}

/** A node task that verifies the node's TDX quote: where its collateral comes from, and when it is checked. */
function verifyingNodeTask(name: string, description: string, sends: boolean) {
  return nodeTask(name, description, sends)
    .addOption({
      name: "collateral",
      description: "DCAP collateral as a JSON file, as a PCCS returns it (or use --pccs-url)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "pccsUrl",
      description: "PCCS to fetch the collateral from (default: Phala's public PCCS)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "at",
      description: "Verification time in unix seconds, for stored collateral (default: now)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "fromBlock",
      description: "First block searched for the node's events (default 0; public RPCs may need the deployment block)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    });
}

export const tasks = [
  task("compose-hash", "Print the compose hash of an app-compose.json (sha256 of its exact bytes)")
    .addOption({
      name: "file",
      description: "app-compose.json to hash (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./compose-hash.js")))
    .build(),

  // Compose hashes (new code)
  composeHashTask("propose-hash", "Propose a new compose hash; it can be activated after the notice period")
    .addOption({
      name: "uri",
      description: "Where guest agents and auditors can fetch the compose file (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./propose-hash.js")))
    .build(),
  composeHashTask("activate-hash", "Activate a ready compose-hash proposal; it becomes the current release (anyone)")
    .setAction(lazyAction(() => import("./activate-hash.js")))
    .build(),
  composeHashTask("cancel-hash", "Cancel an open compose-hash proposal (owner)")
    .setAction(lazyAction(() => import("./cancel-hash.js")))
    .build(),
  composeHashTask("remove-hash", "Stop allowing a compose hash, at once (owner)")
    .setAction(lazyAction(() => import("./remove-hash.js")))
    .build(),
  composeHashTask("roll-back", "Make an already-allowed compose hash the current release again, at once (owner)")
    .setAction(lazyAction(() => import("./roll-back.js")))
    .build(),

  // Devices
  deviceTask("propose-device", "Propose a new allowed device; it can be activated after the notice period")
    .setAction(lazyAction(() => import("./propose-device.js")))
    .build(),
  deviceTask("activate-device", "Activate a ready device proposal (anyone)")
    .setAction(lazyAction(() => import("./activate-device.js")))
    .build(),
  deviceTask("cancel-device", "Cancel an open device proposal (owner)")
    .setAction(lazyAction(() => import("./cancel-device.js")))
    .build(),
  deviceTask("remove-device", "Stop allowing a device, at once (owner)")
    .setAction(lazyAction(() => import("./remove-device.js")))
    .build(),

  // Allow any device
  appTask("propose-allow-any-device", "Propose allowing any device; it can be activated after the notice period")
    .setAction(lazyAction(() => import("./propose-allow-any-device.js")))
    .build(),
  appTask("activate-allow-any-device", "Activate a ready allow-any-device proposal (anyone)")
    .setAction(lazyAction(() => import("./activate-allow-any-device.js")))
    .build(),
  appTask("cancel-allow-any-device", "Cancel an open allow-any-device proposal (owner)")
    .setAction(lazyAction(() => import("./cancel-allow-any-device.js")))
    .build(),
  appTask("restrict-devices", "Allow only the listed devices again, at once (owner)")
    .setAction(lazyAction(() => import("./restrict-devices.js")))
    .build(),

  // TCB rule
  appTask("propose-allow-outdated-tcb", "Propose accepting an out-of-date TCB; it can be activated after the notice")
    .setAction(lazyAction(() => import("./propose-allow-outdated-tcb.js")))
    .build(),
  appTask("activate-allow-outdated-tcb", "Activate a ready allow-outdated-TCB proposal (anyone)")
    .setAction(lazyAction(() => import("./activate-allow-outdated-tcb.js")))
    .build(),
  appTask("cancel-allow-outdated-tcb", "Cancel an open allow-outdated-TCB proposal (owner)")
    .setAction(lazyAction(() => import("./cancel-allow-outdated-tcb.js")))
    .build(),
  appTask("require-up-to-date-tcb", 'Refuse CVMs whose TCB is not "UpToDate", at once (owner)')
    .setAction(lazyAction(() => import("./require-up-to-date-tcb.js")))
    .build(),

  // Notice period
  noticeTask("set-notice", "Lengthen the notice period (at once) or propose a shorter one (waits the notice) (owner)")
    .setAction(lazyAction(() => import("./set-notice.js")))
    .build(),
  noticeTask("activate-notice", "Activate a ready shorter-notice proposal (anyone)")
    .setAction(lazyAction(() => import("./activate-notice.js")))
    .build(),
  noticeTask("cancel-notice", "Cancel an open shorter-notice proposal (owner)")
    .setAction(lazyAction(() => import("./cancel-notice.js")))
    .build(),

  appTask("disable-upgrades", "Disable upgrades for good: one-way, voids open proposals (owner; needs --yes)")
    .addFlag({ name: "yes", description: "Confirm that you mean this one-way change" })
    .setAction(lazyAction(() => import("./disable-upgrades.js")))
    .build(),

  // Deployment and dstack's KMS
  task(
    "deploy-app",
    "Deploy an app's TimelockedAppAuth with Ignition; optionally register it with dstack's KMS and verify it",
  )
    .addOption({
      name: "parameters",
      description: "Ignition parameters file (default: ignition/parameters/<network>.json)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "deploymentId",
      description: "Ignition deployment id, one per app (default: chain-<chain id>)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "kms",
      description: "Register the app with the dstack KMS at this address (implies --register)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addFlag({
      name: "register",
      description: "Register the app with the KMS that config/kms.json lists for the chain",
    })
    .addFlag({ name: "verify", description: "Verify the source on Etherscan (Basescan) and Sourcify" })
    .addOption({
      name: "from",
      description: "Account to deploy from (default: the network's first account)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./deploy-app.js")))
    .build(),
  task("register-app", "Register an app's auth contract with dstack's KMS (anyone may; skipped if already registered)")
    .addOption({
      name: "app",
      description: "Address of the app's auth contract, which is its app id (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "kms",
      description: "Address of the dstack KMS (default: the one config/kms.json lists for the chain)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "from",
      description: "Account to send from (default: the network's first account)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./register-app.js")))
    .build(),
  task("check-boot", "Would a CVM with this boot info get its keys? Prints allowed, or denied with dstack's reason")
    .addOption({
      name: "app",
      description: "The app id: address of its auth contract (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "kms",
      description: "Ask this dstack KMS, as it does at boot (default: ask the app's contract directly)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "composeHash",
      description: "Compose hash the CVM reports, 0x + 64 hex digits (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "device",
      description: "Device id of the TDX machine, 0x + 64 hex digits (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "osImage",
      description: "OS image hash, 0x + 64 hex digits (required with --kms, which checks it)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "tcbStatus",
      description: 'TCB status from quote verification (default: "UpToDate")',
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "instance",
      description: "Instance id of the CVM, an address (default: zero)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./check-boot.js")))
    .build(),

  task("compare-bytecode", "Rebuild TimelockedAppAuth (production profile) and compare it with the code at --app")
    .addOption({
      name: "app",
      description: "Address of the deployed TimelockedAppAuth (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./compare-bytecode.js")))
    .build(),

  task("app-status", "Show an app's policy, open proposals with countdowns, and its history")
    .addOption({
      name: "app",
      description: "Address of the app's TimelockedAppAuth (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "fromBlock",
      description: "First block of the history (default 0; public RPCs may need the deployment block)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./app-status.js")))
    .build(),

  // Users and auditors: reports, following changes, a status page
  task("devproof-report", "Which ERC-733 stage an app meets, line by line (PASS/WARN/FAIL); exit code 1 below Stage 1")
    .addOption({
      name: "app",
      description: "Address of the app's auth contract: any dstack AppAuth (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "compose",
      description: "app-compose.json to check: its hash against the chain, images, operator variables, switches",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "kms",
      description: "dstack KMS to check the app is registered with",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addFlag({ name: "json", description: "Print one JSON object: stage, lines[{id, level, title, evidence}]" })
    .setAction(lazyAction(() => import("./devproof-report.js")))
    .build(),
  task("watch", "Follow an app (and its registry) and report every change as it happens, with the time left")
    .addOption({
      name: "app",
      description: "Address of the app's auth contract (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "registry",
      description: "Address of the app's ReplicationRegistry, to follow too",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "confirmations",
      description: "Report an event once its block has this many confirmations (default 3)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "poll",
      description: 'How often to ask the node: "5s", "1m", ... (default 5s)',
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addFlag({ name: "json", description: "One JSON object per event and line on stdout; messages on stderr" })
    .addOption({
      name: "webhook",
      description: "POST each event as JSON to this URL (queued, retried with backoff; never holds up the watch)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "cursorFile",
      description: "Remember what was reported here, and resume after it on restart",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "fromBlock",
      description: "Start at this block when there is no cursor (default: from the confirmed head on)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addFlag({ name: "once", description: "Report up to the confirmed head, then exit (for cron and tests)" })
    .setAction(lazyAction(() => import("./watch.js")))
    .build(),
  task("status-page", "Serve the status page (it reads the chain from the browser) on 127.0.0.1 and print its URL")
    .addOption({
      name: "app",
      description: "Address of the app's auth contract (required)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "port",
      description: "Port on 127.0.0.1 (default 8080; 0 picks a free one)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "rpc",
      description: "JSON-RPC URL the browser reads from (default: the network's; the in-process chain gets one)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "registry",
      description: "Address of the app's ReplicationRegistry, to show its events too",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./status-page.js")))
    .build(),

  // Replication registry: nodes, members, auditors
  registryTask("register-node", "Submit a node's signed registration, from a file or built in its CVM (anyone)", true)
    .addOption({
      name: "file",
      description: "Signed registration file (JSON; see README) (or use --from-dstack)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addFlag({
      name: "fromDstack",
      description: "Build and sign the registration here, inside the node's CVM, through the dstack guest API",
    })
    .addOption({
      name: "dstackEndpoint",
      description: "dstack guest API: unix socket or URL (default: /var/run/dstack.sock)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "out",
      description: "With --from-dstack: write the signed registration to this file instead of sending it",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "collateral",
      description: "With --from-dstack: DCAP collateral file for the node's own TCB status (or --pccs-url)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "pccsUrl",
      description: "With --from-dstack: PCCS to fetch the collateral from (default: Phala's public PCCS)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./register-node.js")))
    .build(),
  verifyingNodeTask(
    "onboard-node",
    "Verify a registered node and hand it the secret, signed by a member (anyone submits)",
    true,
  )
    .addOption({
      name: "secretFile",
      description: "The shared secret to encrypt to the node (the member's copy)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "memberKeyFile",
      description: "File holding the member's Ethereum private key, which signs (or use --member-from-dstack)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addFlag({
      name: "memberFromDstack",
      description: "Sign with the member's in-TEE key, derived here through the dstack guest API",
    })
    .addOption({
      name: "dstackEndpoint",
      description: "With --member-from-dstack: unix socket or URL (default: /var/run/dstack.sock)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "out",
      description: "Write the signed onboarding to this file instead of sending it",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .addOption({
      name: "onboarding",
      description: "Submit an onboarding a member signed elsewhere (a file written with --out)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./onboard-node.js")))
    .build(),
  verifyingNodeTask("set-genesis", "Make a registered, verified node the first member; once (owner)", true)
    .setAction(lazyAction(() => import("./set-genesis.js")))
    .build(),
  verifyingNodeTask(
    "verify-node",
    "Verify a node's registration evidence from the chain, and how it joined (auditors)",
    false,
  )
    .setAction(lazyAction(() => import("./verify-node.js")))
    .build(),
  nodeTask("evict-node", "Remove a member: itself, anyone once the policy denies it, or the owner", true)
    .addFlag({ name: "yes", description: "Confirm evicting the last member (no one can be onboarded after it)" })
    .setAction(lazyAction(() => import("./evict-node.js")))
    .build(),
  registryTask(
    "nodes",
    "Show a registry's members and pending registrations, and whether the policy allows each",
    false,
  )
    .addOption({
      name: "fromBlock",
      description: "First block searched for registrations (default 0; public RPCs may need the deployment block)",
      type: ArgumentType.STRING_WITHOUT_DEFAULT,
      defaultValue: undefined,
    })
    .setAction(lazyAction(() => import("./nodes.js")))
    .build(),
];
