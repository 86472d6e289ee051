/**
 * The owner and auditor commands for a TimelockedAppAuth, the deployment commands, the users' commands (report,
 * watch, status page), and the node, member and auditor commands for its ReplicationRegistry. Definitions only: each action lives in its own file and is
 * loaded when its task runs, so `npx hardhat` stays fast and works before the contracts are compiled.
 *
 * Options carry Hardhat's argument types, so `--help` shows each one's type and default and Hardhat refuses a
 * malformed number before the action runs. Hardhat options are always optional (only positional arguments can be
 * required), so an option without a default says in its description what applies without it: "(required)",
 * "(required unless …)", "(default: …)" or "(optional)"; the action checks required ones, and the domain checks
 * (addresses, hashes, durations, ranges) live in lib/validate.ts.
 */
import { task } from "hardhat/config";
import { ArgumentType } from "hardhat/types/arguments";

import { lazyAction } from "./shared/action.js";
import { UNSET } from "./shared/options.js";

/** A string option without a default. */
function stringOption<const Name extends string>(name: Name, description: string) {
  return { name, description, type: ArgumentType.STRING_WITHOUT_DEFAULT as const, defaultValue: undefined };
}

/** A string option with a default, which --help shows. */
function stringWithDefault<const Name extends string>(name: Name, description: string, defaultValue: string) {
  return { name, description, type: ArgumentType.STRING as const, defaultValue };
}

/** A file option without a default: a path, passed on as given. */
function fileOption<const Name extends string>(name: Name, description: string) {
  return { name, description, type: ArgumentType.FILE_WITHOUT_DEFAULT as const, defaultValue: undefined };
}

/** An integer option; Hardhat refuses anything but a non-negative integer on the command line. */
function intOption<const Name extends string>(name: Name, description: string, defaultValue: number) {
  return { name, description, type: ArgumentType.INT as const, defaultValue };
}

/** A task on one app: `--app` and, for tasks that send, `--from`. */
function appTask(name: string, description: string) {
  return task(name, description)
    .addOption(stringOption("app", "Address of the app's TimelockedAppAuth (required)"))
    .addOption(stringOption("from", "Account to send from (default: the network's first account)"));
}

/** A compose-hash task: the hash given directly, or as the app-compose.json whose exact bytes are hashed. */
function composeHashTask(name: string, description: string) {
  return appTask(name, description)
    .addOption(stringOption("hash", "Compose hash, 0x + 64 hex digits (required unless --file)"))
    .addOption(
      fileOption(
        "file",
        "app-compose.json; its exact bytes are hashed, as dstack measures them (required unless --hash)",
      ),
    );
}

function deviceTask(name: string, description: string) {
  return appTask(name, description).addOption(stringOption("device", "Device id, 0x + 64 hex digits (required)"));
}

/** An OS-pin task: `--field`, and `--value` for the tasks about one value. */
function osFieldTask(name: string, description: string) {
  return appTask(name, description).addOption(
    stringOption("field", "OS measurement: mr-system or os-image (required)"),
  );
}

function osValueTask(name: string, description: string) {
  return osFieldTask(name, description).addOption(
    stringOption("value", "The mrSystem or OS image hash, 0x + 64 hex digits; os-measurements computes it (required)"),
  );
}

function noticeTask(name: string, description: string) {
  return appTask(name, description).addOption(
    stringOption("notice", 'Notice period: "7d", "36h", "1d12h", "90m" or seconds (required)'),
  );
}

/** A task on one app's ReplicationRegistry: `--registry` and, for tasks that send, `--from`. */
function registryTask(name: string, description: string, sends: boolean) {
  const base = task(name, description).addOption(
    stringOption("registry", "Address of the app's ReplicationRegistry (required)"),
  );
  return sends
    ? base.addOption(
        stringOption("from", "Account to send from, which pays the gas (default: the network's first account)"),
      )
    : base;
}

/** A registry task about one node. */
function nodeTask(name: string, description: string, sends: boolean) {
  return registryTask(name, description, sends).addOption(
    stringOption("node", "The node's address: its in-TEE Ethereum key (required)"),
  );
}

/** A node task that verifies the node's TDX quote: where its collateral comes from, and when it is checked. */
function verifyingNodeTask(name: string, description: string, sends: boolean) {
  return nodeTask(name, description, sends)
    .addOption(
      fileOption(
        "collateral",
        "DCAP collateral as a JSON file, as a PCCS returns it (default: fetched from the PCCS, see --pccs-url)",
      ),
    )
    .addOption(
      stringOption("pccsUrl", "PCCS to fetch the collateral from, without --collateral (default: Phala's public PCCS)"),
    )
    .addOption(intOption("at", `Verification time in unix seconds, for stored collateral; ${UNSET} is now`, UNSET))
    .addOption(
      intOption(
        "fromBlock",
        "First block searched for the node's events (public RPCs may need the deployment block)",
        0,
      ),
    );
}

export const tasks = [
  task("compose-hash", "Print the compose hash of an app-compose.json (sha256 of its exact bytes)")
    .addOption(fileOption("file", "app-compose.json to hash (required)"))
    .setAction(lazyAction(() => import("./compose-hash.js")))
    .build(),

  // Compose hashes (new code)
  composeHashTask("propose-hash", "Propose a new compose hash; it can be activated after the notice period")
    .addOption(stringOption("uri", "Where guest agents and auditors can fetch the compose file (required)"))
    .addFlag({
      name: "allowInvalidJson",
      description:
        "Propose a compose file that is not a valid app-compose.json anyway (not JSON, bad YAML), with a warning",
    })
    .setAction(lazyAction(() => import("./propose-hash.js")))
    .build(),
  composeHashTask("activate-hash", "Activate a ready compose-hash proposal; it becomes the current release (anyone)")
    .addFlag({
      name: "retireOthers",
      description: "Also stop allowing every older release, at once, in the same transaction (owner only)",
    })
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

  // OS pin
  osValueTask("pin-os", "Pin the app's OS to one mrSystem or OS image hash, at once; others are refused (owner)")
    .setAction(lazyAction(() => import("./pin-os.js")))
    .build(),
  osValueTask("propose-os", "Propose another allowed value of a pinned OS measurement; it waits the notice period")
    .setAction(lazyAction(() => import("./propose-os.js")))
    .build(),
  osValueTask("activate-os", "Activate a ready OS-measurement proposal (anyone)")
    .setAction(lazyAction(() => import("./activate-os.js")))
    .build(),
  osValueTask("cancel-os", "Cancel an open OS-measurement proposal (owner)")
    .setAction(lazyAction(() => import("./cancel-os.js")))
    .build(),
  osValueTask("remove-os", "Stop allowing one pinned OS value, at once; never the last one (owner)")
    .setAction(lazyAction(() => import("./remove-os.js")))
    .build(),
  osFieldTask("propose-unpin-os", "Propose unpinning an OS measurement (any value allowed); it waits the notice")
    .setAction(lazyAction(() => import("./propose-unpin-os.js")))
    .build(),
  osFieldTask("activate-unpin-os", "Activate a ready unpin proposal (anyone)")
    .setAction(lazyAction(() => import("./activate-unpin-os.js")))
    .build(),
  osFieldTask("cancel-unpin-os", "Cancel an open unpin proposal (owner)")
    .setAction(lazyAction(() => import("./cancel-unpin-os.js")))
    .build(),
  task("os-measurements", "Compute the mrSystem and OS image hash to pin, from a quote and event log or a CVM's Info")
    .addOption(fileOption("quote", "A TDX quote, raw or hex (required unless --info; goes with --event-log)"))
    .addOption(fileOption("eventLog", "The quote's event log, JSON, as GetQuote returns it (required with --quote)"))
    .addOption(fileOption("info", "A running CVM's Info, JSON, from its guest API (required unless --quote)"))
    .setAction(lazyAction(() => import("./os-measurements.js")))
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
    .addOption(fileOption("parameters", "Ignition parameters file (default: ignition/parameters/<network>.json)"))
    .addOption(stringOption("deploymentId", "Ignition deployment id, one per app (default: chain-<chain id>)"))
    .addOption(
      stringOption("kms", "Register the app with the dstack KMS at this address; implies --register (optional)"),
    )
    .addFlag({
      name: "register",
      description: "Register the app with the KMS that config/kms.json lists for the chain",
    })
    .addFlag({ name: "verify", description: "Verify the source on Etherscan (Basescan) and Sourcify" })
    .addOption(stringOption("from", "Account to deploy from (default: the network's first account)"))
    .setAction(lazyAction(() => import("./deploy-app.js")))
    .build(),
  task("register-app", "Register an app's auth contract with dstack's KMS (anyone may; skipped if already registered)")
    .addOption(stringOption("app", "Address of the app's auth contract, which is its app id (required)"))
    .addOption(stringOption("kms", "Address of the dstack KMS (default: the one config/kms.json lists for the chain)"))
    .addOption(stringOption("from", "Account to send from (default: the network's first account)"))
    .setAction(lazyAction(() => import("./register-app.js")))
    .build(),
  task("kms-info", "What a dstack KMS publishes about its keys, and the key_provider_id that pins it (read-only)")
    .addOption(stringOption("kms", "Address of the dstack KMS (default: the one config/kms.json lists for the chain)"))
    .setAction(lazyAction(() => import("./kms-info.js")))
    .build(),
  task(
    "verify-signature",
    "Was this signed by a key dstack's KMS issued to the app? Checks the signature and its chain up to the KMS root",
  )
    .addOption(stringOption("message", "The text that was signed, EIP-191 (required unless --file or --digest)"))
    .addOption(
      fileOption("file", "A file whose exact bytes were signed, EIP-191 (required unless --message or --digest)"),
    )
    .addOption(
      stringOption("digest", "The 32-byte digest signed directly, e.g. EIP-712 (required unless --message or --file)"),
    )
    .addOption(stringOption("signature", "The derived key's signature, 65 bytes r ‖ s ‖ v, v 27 or 28 (required)"))
    .addOption(stringOption("chain", "GetKey's signature_chain: sig0,kmsSig in hex (required)"))
    .addOption(stringOption("app", "The app id the key was issued to: its AppAuth address (required)"))
    .addOption(stringOption("purpose", "The purpose of the GetKey call (required)"))
    .addOption(stringOption("derivedKey", "The derived public key (default: the key that made --signature)"))
    .addOption(stringOption("appKey", "The app public key the chain names (optional: a precise verdict for sig0)"))
    .addOption(
      stringOption("kms", "The dstack KMS whose kmsInfo() gives the root (default: the one config/kms.json lists)"),
    )
    .addOption(stringOption("kmsRoot", "The KMS root public key itself, read from no chain (optional, offline)"))
    .setAction(lazyAction(() => import("./verify-signature.js")))
    .build(),
  task("check-boot", "Would a CVM with this boot info get its keys? Prints allowed, or denied with dstack's reason")
    .addOption(stringOption("app", "The app id: address of its auth contract (required)"))
    .addOption(
      stringOption("kms", "Ask this dstack KMS, as it does at boot (default: ask the app's contract directly)"),
    )
    .addOption(stringOption("composeHash", "Compose hash the CVM reports, 0x + 64 hex digits (required)"))
    .addOption(stringOption("device", "Device id of the TDX machine, 0x + 64 hex digits (required)"))
    .addOption(
      stringOption("osImage", "OS image hash, 0x + 64 hex digits (required with --kms, which checks it; else zero)"),
    )
    .addOption(stringWithDefault("tcbStatus", "TCB status from quote verification", "UpToDate"))
    .addOption(stringWithDefault("instance", "Instance id of the CVM, an address", `0x${"0".repeat(40)}`))
    .setAction(lazyAction(() => import("./check-boot.js")))
    .build(),

  task("compare-bytecode", "Rebuild TimelockedAppAuth (production profile) and compare it with the code at --app")
    .addOption(stringOption("app", "Address of the deployed TimelockedAppAuth (required)"))
    .setAction(lazyAction(() => import("./compare-bytecode.js")))
    .build(),

  task("app-status", "Show an app's policy, open proposals with countdowns, and its history")
    .addOption(stringOption("app", "Address of the app's TimelockedAppAuth (required)"))
    .addOption(intOption("fromBlock", "First block of the history (public RPCs may need the deployment block)", 0))
    .addOption(stringOption("kms", "dstack KMS to describe: its owner, proxy, OS-image control (optional)"))
    .setAction(lazyAction(() => import("./app-status.js")))
    .build(),

  // Users and auditors: reports, following changes, a status page
  task("devproof-report", "Which ERC-733 stage an app meets, line by line (PASS/WARN/FAIL); exit code 1 below Stage 1")
    .addOption(stringOption("app", "Address of the app's auth contract: any dstack AppAuth (required)"))
    .addOption(
      fileOption(
        "compose",
        "app-compose.json to check: its hash against the chain, images, operator variables, switches (optional)",
      ),
    )
    .addOption(stringOption("kms", "dstack KMS to check the app is registered with (optional)"))
    .addFlag({ name: "json", description: "Print one JSON object: stage, lines[{id, level, title, evidence}]" })
    .setAction(lazyAction(() => import("./devproof-report.js")))
    .build(),
  task(
    "verify-app",
    "Check a live app end to end: served TLS key, attested quote, compose hash on-chain, DevProof report",
  )
    .addOption(stringOption("url", "The app's https:// URL (required)"))
    .addOption(stringOption("app", "Address of the app's auth contract, its app id (required)"))
    .addOption(
      stringOption(
        "registry",
        "The app's ReplicationRegistry: the TLS key it publishes is the one expected (optional)",
      ),
    )
    .addOption(
      stringOption(
        "tlsKey",
        "The TLS key the app must serve: sha256 of its SPKI, 0x + 64 hex (optional; without --registry)",
      ),
    )
    .addOption(
      fileOption(
        "collateral",
        "DCAP collateral as a JSON file, as a PCCS returns it (default: fetched from the PCCS, see --pccs-url)",
      ),
    )
    .addOption(
      stringOption("pccsUrl", "PCCS to fetch the collateral from, without --collateral (default: Phala's public PCCS)"),
    )
    .addOption(intOption("at", `Verification time in unix seconds, for stored collateral; ${UNSET} is now`, UNSET))
    .addOption(
      stringWithDefault("attestationPath", "Path of the attestation document on the app's URL", "/attestation"),
    )
    .addOption(intOption("timeout", "Milliseconds to wait for the app and for the collateral", 10_000))
    .addFlag({
      name: "json",
      description: "Print one JSON object: verdict, lines[{id, level, title, evidence}], report",
    })
    .setAction(lazyAction(() => import("./verify-app.js")))
    .build(),
  task("watch", "Follow an app (and its registry) and report every change as it happens, with the time left")
    .addOption(stringOption("app", "Address of the app's auth contract (required)"))
    .addOption(stringOption("registry", "Address of the app's ReplicationRegistry, to follow too (optional)"))
    .addOption(intOption("confirmations", "Report an event once its block has this many confirmations (1-1000)", 3))
    .addOption(stringWithDefault("poll", 'How often to ask the node: "5s", "1m", "2m30s" or seconds', "5s"))
    .addFlag({ name: "json", description: "One JSON object per event and line on stdout; messages on stderr" })
    .addOption(
      stringOption(
        "webhook",
        "POST each event as JSON to this URL, in order, retried with backoff; the cursor never passes an undelivered one (optional)",
      ),
    )
    .addOption(fileOption("cursorFile", "Remember what was reported here, and resume after it on restart (optional)"))
    .addOption(
      intOption(
        "fromBlock",
        `Start at this block when there is no cursor; ${UNSET} starts at the confirmed head`,
        UNSET,
      ),
    )
    .addFlag({ name: "once", description: "Report up to the confirmed head, then exit (for cron and tests)" })
    .addOption(
      stringOption(
        "verifyRpc",
        "Comma-separated JSON-RPC URLs of independent providers: each pass, the open proposals and the current release are proven against a header a quorum of them report, and a proposal the network's provider did not report is URGENT (optional)",
      ),
    )
    .addOption(
      stringWithDefault(
        "verifyQuorum",
        'How many --verify-rpc URLs must report the same header: a number from 2, "majority", or "none" (one is believed)',
        "majority",
      ),
    )
    .setAction(lazyAction(() => import("./watch.js")))
    .build(),
  task("watch-certs", "Follow CT data for the app's domain; URGENT for a certificate whose key is not the app's")
    .addOption(
      stringOption("domain", "The app's domain; certificates for it and its subdomains are checked (required)"),
    )
    .addOption(
      stringOption(
        "tlsKey",
        "The app's TLS key: sha256 of its SPKI, 0x + 64 hex, as verify-app prints (required without --registry, which publishes it)",
      ),
    )
    .addOption(
      stringOption(
        "registry",
        "The app's ReplicationRegistry, which publishes the TLS key to watch for (optional with --tls-key)",
      ),
    )
    .addOption(
      stringWithDefault(
        "source",
        'What --log is: "log", an RFC 6962 log (its tree heads and proofs checked), or "crtsh", a crt.sh-style search API (a claim)',
        "log",
      ),
    )
    .addOption(
      stringOption(
        "log",
        "Base URL of the RFC 6962 log (before /ct/v1/), or of the search API with --source crtsh (required)",
      ),
    )
    .addOption(
      stringOption(
        "logKey",
        "The log's public key, base64 DER SubjectPublicKeyInfo as log lists publish it (required with --source log)",
      ),
    )
    .addOption(
      intOption("confirmations", "With --registry: follow its TlsKeySet events after this many confirmations", 3),
    )
    .addOption(
      intOption(
        "fromBlock",
        "With --registry: first block of its TlsKeySet history (public RPCs may need the deployment block)",
        0,
      ),
    )
    .addOption(
      intOption(
        "batch",
        "Entries per get-entries request (1-1000; halved when a response is too large), or certificates per pass from a search API",
        256,
      ),
    )
    .addOption(
      intOption("maxResponseBytes", "Largest response read from the log; an entry beyond it is refused", 4_000_000),
    )
    .addOption(intOption("timeout", "Milliseconds to wait for one response of the log", 10_000))
    .addOption(stringWithDefault("poll", 'How often to ask the log: "1m", "30s" or seconds', "1m"))
    .addFlag({ name: "json", description: "One JSON object per certificate and line on stdout; messages on stderr" })
    .addOption(
      stringOption(
        "webhook",
        "POST each event as JSON to this URL, in order, retried with backoff; the cursor never passes an undelivered one (optional)",
      ),
    )
    .addOption(fileOption("cursorFile", "Remember the next entry to read here, and resume there on restart (optional)"))
    .addOption(
      intOption("fromIndex", `Start at this entry when there is no cursor; ${UNSET} starts at the log's head`, UNSET),
    )
    .addFlag({ name: "once", description: "Read up to the log's signed tree size, then exit (for cron and tests)" })
    .setAction(lazyAction(() => import("./watch-certs.js")))
    .build(),
  task("status-page", "Serve the status page (it reads the chain from the browser) on 127.0.0.1 and print its URL")
    .addOption(stringOption("app", "Address of the app's auth contract (required)"))
    .addOption(intOption("port", "Port on 127.0.0.1; 0 picks a free one", 8080))
    .addOption(
      stringOption(
        "rpc",
        "JSON-RPC URL the browser reads from (default: the network's; the in-process chain gets one)",
      ),
    )
    .addOption(stringOption("registry", "Address of the app's ReplicationRegistry, to show its events too (optional)"))
    .addOption(
      stringOption(
        "domain",
        "The app's domain, whose certificates in CT data the page lists (required with --ct-log, which needs --registry)",
      ),
    )
    .addOption(stringWithDefault("ctSource", 'What --ct-log is: "log" (RFC 6962) or "crtsh" (a search API)', "log"))
    .addOption(
      stringOption(
        "ctLog",
        "Base URL of the CT log, or of the search API with --ct-source crtsh, for the page's CT section (optional)",
      ),
    )
    .addOption(stringOption("ctLogKey", "The CT log's public key, base64 DER (required with --ct-source log)"))
    .addOption(
      intOption(
        "ctFromIndex",
        `First CT entry (or crt.sh id) to read; ${UNSET}: a search API's whole list, a log's head`,
        UNSET,
      ),
    )
    .addOption(stringWithDefault("ctPoll", 'How often to read the CT source: "1m", "30s" or seconds', "1m"))
    .addOption(
      intOption(
        "fromBlock",
        "First block of the registry's TlsKeySet history (public RPCs may need the deployment block)",
        0,
      ),
    )
    .setAction(lazyAction(() => import("./status-page.js")))
    .build(),

  // Replication registry: nodes, members, auditors
  registryTask("register-node", "Submit a node's signed registration, from a file or built in its CVM (anyone)", true)
    .addOption(fileOption("file", "Signed registration file, JSON; see README (required unless --from-dstack)"))
    .addFlag({
      name: "fromDstack",
      description: "Build and sign the registration here, inside the node's CVM, through the dstack guest API",
    })
    .addOption(
      stringOption(
        "dstackEndpoint",
        "With --from-dstack: the dstack guest API, a unix socket or URL (default: /var/run/dstack.sock)",
      ),
    )
    .addOption(
      fileOption(
        "out",
        "With --from-dstack: write the signed registration to this file instead of sending it (optional)",
      ),
    )
    .addOption(
      fileOption(
        "collateral",
        "With --from-dstack: DCAP collateral file for the node's own TCB status (default: fetched from --pccs-url)",
      ),
    )
    .addOption(
      stringOption("pccsUrl", "With --from-dstack: PCCS to fetch the collateral from (default: Phala's public PCCS)"),
    )
    .setAction(lazyAction(() => import("./register-node.js")))
    .build(),
  registryTask(
    "refresh-node",
    "Submit a node's signed attestation refresh: a fresh quote and its TCB now (anyone)",
    true,
  )
    .addOption(fileOption("file", "Signed refresh file, JSON, as the node's agent writes it (required)"))
    .addOption(
      intOption(
        "fromBlock",
        "First block searched for the node's events (public RPCs may need the deployment block)",
        0,
      ),
    )
    .setAction(lazyAction(() => import("./refresh-node.js")))
    .build(),
  registryTask(
    "set-tls-key",
    "Submit the app's TLS key as the genesis member's agent signed it (tls-key.json; anyone)",
    true,
  )
    .addOption(fileOption("file", "Signed TLS key file, JSON, as the genesis member's agent writes it (required)"))
    .setAction(lazyAction(() => import("./set-tls-key.js")))
    .build(),
  verifyingNodeTask(
    "onboard-node",
    "Verify a registered node and hand it the secret, signed by a member (anyone submits)",
    true,
  )
    .addOption(
      fileOption(
        "secretFile",
        "The shared secret to encrypt to the node, the member's copy (required unless --onboarding)",
      ),
    )
    .addOption(
      fileOption(
        "memberKeyFile",
        "File holding the member's Ethereum private key, which signs (required unless --member-from-dstack or --onboarding)",
      ),
    )
    .addFlag({
      name: "memberFromDstack",
      description: "Sign with the member's in-TEE key, derived here through the dstack guest API",
    })
    .addOption(
      stringOption(
        "dstackEndpoint",
        "With --member-from-dstack: the dstack guest API, a unix socket or URL (default: /var/run/dstack.sock)",
      ),
    )
    .addOption(fileOption("out", "Write the signed onboarding to this file instead of sending it (optional)"))
    .addOption(
      fileOption("onboarding", "Submit an onboarding a member signed elsewhere, a file written with --out (optional)"),
    )
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
    .addOption(
      intOption("fromBlock", "First block searched for registrations (public RPCs may need the deployment block)", 0),
    )
    .setAction(lazyAction(() => import("./nodes.js")))
    .build(),
];
