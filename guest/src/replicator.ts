/**
 * The replicator: the node side of the app's ReplicationRegistry, a second {@link Loop} beside the reconciler.
 *
 * As a new node it registers, waits to be onboarded and stores the app's shared secret; as a member it verifies the
 * nodes that register after it and hands each one the secret, and it keeps its own attestation fresh. Every step
 * reuses `lib/replication` (registration building, the one evidence verification, ECIES, the registry's ABI and
 * files); this file decides what to do when, attestation.ts holds the evidence decisions.
 *
 * Each pass reads the registry at the confirmed block (`latest - confirmations`) and compares it with what this node
 * holds, like the reconciler (level-triggered: a missed event or a restart loses nothing). Like the reconciler, it
 * believes no single RPC endpoint: the block's header is one a quorum vouches for, every status, record, genesis
 * member and policy verdict it acts on is storage proven against it (lib/verified), and logs are hints used only where
 * the proven state vouches for them (guest/README.md, "What the agent trusts"):
 *
 * - **not registered** → derive the node's keys through the dstack guest API (`GetKey`, with dstack's signature chain
 *   for the Ethereum key), quote them (`GetQuote`, `report_data` binds both), take the boot info from what the quote
 *   and event log measure, run the members' checks on it, sign the registration with the in-TEE key, then submit it
 *   through the submitter account (`--submitter-key-file`), or write it for the host (`--registration-out`, the
 *   `register-node --file` format), or both;
 * - **registered** → wait for a member (or the app's owner, for the genesis member);
 * - **member without the secret** → the genesis member (set by the owner with `set-genesis`) creates it: 32 random
 *   bytes from the TEE's CSPRNG, only while the registry records no onboarding at all (once the secret was handed on,
 *   a new one would split the app); any other member first checks its sponsor, and the sponsors before it back to the
 *   genesis member, each showing evidence that verifies, then decrypts the ciphertext of its `NodeOnboarded` event
 *   with its in-TEE encryption key. The secret is written atomically, mode 0600, at `--secret-path`. It never comes
 *   from the developer, nor from any file or option.
 * - **registered or member, attestation older than 7 days** → refresh it: a fresh quote verified with fresh collateral,
 *   the same measured boot, the TCB status and advisories Intel gives it now, signed and submitted (or written to
 *   `refresh.json` for the host). If the app's policy would not accept the refreshed boot info, the member onboards
 *   nobody from then on (and the registry, recording it, lets anyone evict it).
 * - **member with the secret** → read the `NodeRegistered` events of new confirmed blocks (a cursor in the state file,
 *   advanced only after a block range is fully taken in), and decide on each pending node: its latest evidence
 *   verifies (lib/replication/node-evidence.ts: DCAP with collateral from the PCCS, `report_data`, measured boot,
 *   key provider, key chain to the registry's KMS root for this app, TCB), and the registry says the app's policy
 *   allows it; then encrypt the secret to its key, sign the onboarding with this member's in-TEE key, and submit it or
 *   write it for the host (the `onboard-node --onboarding` format). A failed check of the evidence refuses the node
 *   for good; a policy that does not allow it now, or a PCCS that does not answer, leaves it pending and it is checked
 *   again every pass. A member whose own attestation expired, or whose platform the policy no longer accepts,
 *   onboards nobody.
 *
 * Never twice: a node's status is checked before anything is signed for it and again before anything is sent; every
 * decision and every transaction is written to `replicator.json` (atomically) before the next step; a transaction is
 * signed once, recorded, then broadcast, and after a restart the same signed bytes are broadcast again (same nonce)
 * instead of a new transaction. One line is logged per registration, per onboarding and per refusal, with its reason.
 */
import { randomBytes } from "node:crypto";
import { access, mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";

import { Interface, ZeroAddress, getAddress, hexlify, keccak256, recoverAddress } from "ethers";
import type { Wallet } from "ethers";
import type { Logger } from "pino";

import {
  REGISTRY_AGENT_ABI,
  ReplicationVerificationError,
  bootFactsFromInfo,
  buildNodeRegistration,
  buildRefresh,
  checkRegistry,
  connectRegistryView,
  decryptSecret,
  deriveNodeKeys,
  describeRefusedEvent,
  describeVerificationFailure,
  encodeOnboardingFile,
  encodeRefreshFile,
  encodeRegistrationFile,
  nodeStatusOf,
  onboardingDigest,
  prepareOnboarding,
  quoteHash,
  readOnboardings,
  readRegistrations,
  readTlsKey,
  refreshArguments,
  registerArguments,
  registryDomain,
  signTlsKey,
} from "../../lib/replication/index.js";
import type {
  DstackGuestApi,
  NodeKeys,
  NodeStatus,
  OnboardingRecord,
  QuoteVerification,
  RecordSource,
  RefusedEvent,
  RegistryView,
} from "../../lib/replication/index.js";
import { APP_AUTH_ABI } from "../../lib/kms.js";
import { deriveTlsKey } from "../../lib/tls/key.js";
import type { AppBootInfo } from "../../lib/bootInfo.js";
import { isAppAllowedLocally, readProvenPolicy } from "../../lib/verified/appAuthPolicy.js";
import type { VerifiedHeader } from "../../lib/verified/header.js";
import { describeReports, type EndpointReport } from "../../lib/verified/headers.js";
import { unverifiedStateOf, type Verification, type VerifiedChainReader } from "../../lib/verified/reader.js";
import {
  ATTESTATION_PERIOD_SECONDS,
  isReadable,
  readProvenRegistry,
  type ProvenNodeRecord,
  type UnreadableRecord,
} from "../../lib/verified/replicationRegistry.js";
import { EvidenceChecks, refreshDue, REFRESH_AFTER_SECONDS } from "./attestation.js";
import type { EvidenceVerdict } from "./attestation.js";
import type { ConfirmedBlock, ConnectedEndpoint, RpcEndpoints } from "./chain.js";
import { shortMessage } from "./chain.js";
import { errorMessage, RepeatFilter, StopRequested, type Loop } from "./service.js";
import { removeTemporaryFiles, writeFileAtomic } from "./store.js";

/** Length of the shared secret the genesis member creates. */
export const SECRET_BYTES = 32;
/** Block ranges of `eth_getLogs` read per pass at most, so a pass stays short while a new member catches up. */
export const MAX_LOG_RANGES_PER_PASS = 20;
/** Pending nodes decided per pass at most (each may need a PCCS fetch). */
export const MAX_DECISIONS_PER_PASS = 10;
/** How many recent onboardings and refusals `/status` lists. */
const RECENT = 10;

export interface ReplicatorOptions {
  /** The ReplicationRegistry. */
  registry: string;
  /** The app's TimelockedAppAuth: the registry must be bound to it. */
  appAuth: string;
  confirmations: number;
  pollIntervalMs: number;
  /** Longest a healthy pass can take, for `/healthz`. */
  maxPassMs: number;
  /** The registry's deployment block: where reading its events starts. */
  registryFromBlock: number;
  /** Most blocks per `eth_getLogs`. */
  logRange: number;
  stateDir: string;
  secretPath: string;
  registrationOut: string | undefined;
  onboardingOut: string | undefined;
  /** The funded account that submits (its key only pays gas); undefined: the host submits the files. */
  submitter: Wallet | undefined;
  /** Time after which a transaction not yet mined is broadcast again (default: 30 s, or 3 polls if longer). */
  rebroadcastMs?: number;
}

export interface ReplicatorDependencies {
  /**
   * Where every value the replicator acts on is read: headers a quorum of endpoints (or a light client) vouches for,
   * storage proven against them (lib/verified). `endpoints` below only serve hints (logs, transactions by hash) and
   * send transactions.
   */
  reader: VerifiedChainReader;
  endpoints: RpcEndpoints;
  /** The dstack guest API (`Info`, `GetKey`, `GetQuote`). */
  guest: DstackGuestApi;
  /**
   * DCAP verification of a quote: collateral from the PCCS, then Intel's chain (`quoteVerificationFrom` of
   * lib/replication). Only tests, whose TEE stand-ins make quotes Intel never signed, pass anything else; the agent's
   * command line has no way to.
   */
  verifyQuote: QuoteVerification;
  logger: Logger;
}

/** What this node did to register. */
interface RegistrationRecordState {
  at: string;
  /** The registration transaction, once mined, and its block. */
  txHash?: string;
  block?: number;
  /** Where the signed registration was written for the host. */
  file?: string;
}

/** A final decision about another node. */
interface Decision {
  outcome: "onboarded" | "written" | "refused" | "member" | "evicted";
  at: string;
  /** The confirmed block the decision was made at. */
  block: number;
  reason?: string;
  txHash?: string;
  file?: string;
  sponsor?: string;
}

interface Pending {
  /** Block of its NodeRegistered event. */
  registeredAt: number;
  transactionHash: string;
  /** Why it is not onboarded yet (the policy does not allow it now, the PCCS did not answer). */
  lastReason?: string;
}

/** A transaction signed once and broadcast until it is mined. */
interface InflightTx {
  purpose: "register" | "onboard" | "refresh" | "tls-key";
  node: string;
  hash: string;
  raw: string;
  nonce: number;
  from: string;
  signedAt: string;
}

interface ReplicatorState {
  version: 1;
  chainId: string;
  registry: string;
  /** This node's address: the state belongs to it (a new release derives a new address, and starts afresh). */
  node: string;
  /** The last block whose NodeRegistered events are all taken in (pending or decided). */
  cursor: number;
  /** The newest confirmed block seen when the state was last written; a view older than it is not acted on. */
  lastBlock: number;
  registration: RegistrationRecordState | null;
  /** This node's last attestation refresh: its nonce, and how it went out (a transaction, or a file for the host). */
  refresh?: { nonce: string; at: string; txHash?: string; block?: number; file?: string } | null;
  secret: { at: string; source: "genesis" | "onboarding"; block: number; sponsor?: string } | null;
  /** The genesis member's last publication of the app's TLS key: its nonce, and how it went out. */
  tlsKey?: { spkiSha256: string; nonce: string; at: string; txHash?: string; block?: number; file?: string } | null;
  pending: Record<string, Pending>;
  decided: Record<string, Decision>;
  /** Keyed by "register", "refresh" or the onboarded node's address. */
  inflight: Record<string, InflightTx>;
}

const registryInterface = new Interface(REGISTRY_AGENT_ABI);

/** The confirmed block a pass acts at: its header verified (a quorum, or a light client), with who vouched for it. */
interface VerifiedView extends ConfirmedBlock {
  header: VerifiedHeader;
  reports: EndpointReport[];
}

/** Whether the last pass read verified chain state, and who disagreed or was refused (for logs, `/status`, `/healthz`). */
/** The name of an onboarding file: nothing else in `--onboarding-out` is served. */
const ONBOARDING_FILE = /^onboarding-0x[0-9a-fA-F]{40}\.json$/;

export class Replicator implements Loop {
  readonly name = "replicator";
  readonly intervalMs: number;
  readonly maxPassMs: number;

  private readonly stateFile: string;
  private readonly logger: Logger;
  private state: ReplicatorState | undefined;
  private keys: NodeKeys | undefined;
  private chainId: bigint | undefined;
  private secret: Uint8Array | undefined;
  private view: VerifiedView | undefined;
  /** The records proven at the current view's header (a pass reads each node once). */
  private provenRecords = new Map<string, ProvenNodeRecord | UnreadableRecord>();
  private provenRegistry: { block: number; genesis: string | undefined; memberCount: bigint } | undefined;
  private refusedProofs: Array<{ endpoint: string; problem: string }> = [];
  private verification: Verification | undefined;
  private status_: NodeStatus | undefined;
  private isGenesis = false;
  /** The app's TLS key as the registry publishes it, and whether it is the one this node derives. */
  private tlsKeyStatus: { published: string | null; derived: string | null; matches: boolean } | undefined;
  private deployedAtConfirmedBlock = false;
  /** What the verification of pending nodes found for their last quote (so the PCCS is asked once per attestation). */
  private readonly verified = new Map<string, { quoteHash: string; verdict: EvidenceVerdict }>();
  private readonly checks: EvidenceChecks;
  /** Why this node's own evidence or TCB keeps it from onboarding anyone, found at its last refresh; undefined: none. */
  private ownProblem: string | undefined;
  private readonly lastChecked = new Map<string, number>();
  private readonly lastBroadcast = new Map<string, number>();
  private readonly reported = new Map<string, string>();
  private readonly backwardsRepeats = new RepeatFilter();
  private readonly recentOnboardings: Array<Record<string, unknown>> = [];
  private readonly recentRefusals: Array<Record<string, unknown>> = [];
  private lastError: { at: string; message: string } | undefined;

  constructor(
    private readonly options: ReplicatorOptions,
    private readonly deps: ReplicatorDependencies,
  ) {
    this.intervalMs = options.pollIntervalMs;
    this.maxPassMs = options.maxPassMs;
    this.stateFile = path.join(options.stateDir, "replicator.json");
    this.logger = deps.logger;
    this.checks = new EvidenceChecks(deps.verifyQuote, options.logRange);
  }

  /** This node's address (its in-TEE Ethereum key), once initialized. */
  get node(): string | undefined {
    return this.keys?.address;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Loop
  // -------------------------------------------------------------------------------------------------------------

  async init(): Promise<void> {
    const { options } = this;
    await mkdir(options.stateDir, { recursive: true });
    await mkdir(path.dirname(options.secretPath), { recursive: true, mode: 0o700 });
    if (options.onboardingOut !== undefined) await mkdir(options.onboardingOut, { recursive: true });
    const dirs = [options.stateDir, path.dirname(options.secretPath), options.onboardingOut];
    if (options.registrationOut !== undefined) dirs.push(path.dirname(options.registrationOut));
    const removed: string[] = [];
    for (const dir of new Set(dirs)) if (dir !== undefined) removed.push(...(await removeTemporaryFiles(dir)));
    if (removed.length > 0) {
      this.logger.warn(
        { event: "cleanup", removed },
        `removed ${removed.length} temporary file(s) left by an interrupted write`,
      );
    }

    // Who this node is: its keys come from the dstack guest API, derived for this registry, instance and release.
    const boot = bootFactsFromInfo(await this.deps.guest.info());
    if (getAddress(boot.appId) !== getAddress(options.appAuth)) {
      throw new Error(
        `this CVM runs app ${boot.appId}, but --app-auth is ${options.appAuth}: the app id of a dstack app is its ` +
          "auth contract's address",
      );
    }
    const keys = await deriveNodeKeys(this.deps.guest, options.registry, boot);

    // The registry, checked on the first endpoint that answers: its EIP-712 domain, and bound to this app's policy.
    await this.registryCall(async () => undefined);
    const chainId = this.deps.endpoints.chainId;
    if (chainId === undefined) throw new Error("the chain id is unknown after connecting");

    let state = await this.loadState();
    const expected = { chainId: chainId.toString(), registry: getAddress(options.registry), node: keys.address };
    if (
      state !== undefined &&
      (state.chainId !== expected.chainId || state.registry !== expected.registry || state.node !== expected.node)
    ) {
      this.logger.warn(
        {
          event: "state-reset",
          was: { chainId: state.chainId, registry: state.registry, node: state.node },
          now: expected,
        },
        `${this.stateFile} belongs to node ${state.node} of registry ${state.registry} on chain ${state.chainId}; ` +
          `this is node ${expected.node} (a new release derives a new address): starting afresh`,
      );
      state = undefined;
    }
    state ??= {
      version: 1,
      ...expected,
      cursor: options.registryFromBlock - 1,
      lastBlock: -1,
      registration: null,
      secret: null,
      pending: {},
      decided: {},
      inflight: {},
    };
    state.cursor = Math.max(state.cursor, options.registryFromBlock - 1);
    this.keys = keys;
    this.chainId = chainId;
    this.state = state;
    this.secret = await this.readSecret();

    let submitter = "none: the host submits the files";
    if (options.submitter !== undefined) {
      const address = options.submitter.address;
      const balance = await this.deps.endpoints.first((endpoint) => endpoint.provider.getBalance(address));
      submitter = `${address} (balance ${balance} wei)`;
      if (balance === 0n) {
        this.logger.warn(
          { event: "submitter-unfunded", submitter: address },
          `the submitter account ${address} has no funds: it cannot pay for a registration or an onboarding`,
        );
      }
    }
    this.logger.info(
      {
        event: "replicator",
        node: keys.address,
        keyPath: keys.paths.ethereum,
        registry: expected.registry,
        chainId: expected.chainId,
        secretStored: this.secret !== undefined,
        submitter: options.submitter?.address ?? null,
        registrationOut: options.registrationOut ?? null,
        onboardingOut: options.onboardingOut ?? null,
        cursor: state.cursor,
      },
      `replicator: node ${keys.address} (keys from GetKey ${keys.paths.ethereum.replace(/ethereum$/, "…")}) of registry ` +
        `${expected.registry} on chain ${expected.chainId}; shared secret ${this.secret === undefined ? "not held yet" : `held at ${options.secretPath}`}; ` +
        `submitter ${submitter}`,
    );
  }

  async pass(stopping: AbortSignal): Promise<void> {
    const checkpoint = () => {
      if (stopping.aborted) throw new StopRequested();
    };
    const state = this.requireState();
    this.refusedProofs = [];
    let view: VerifiedView;
    try {
      const evidence = await this.deps.reader.confirmedHeader(this.options.confirmations);
      view = {
        endpoint: evidence.how,
        head: evidence.head,
        block: evidence.header.number,
        blockHash: evidence.header.hash,
        timestamp: evidence.header.timestamp,
        header: evidence.header,
        reports: evidence.reports,
      };
    } catch (error) {
      this.noteError(error);
      this.noteUnverified(error);
      throw error;
    }
    const seen = Math.max(state.lastBlock, this.view?.block ?? -1);
    if (view.block < seen) {
      const message =
        `${view.endpoint} reports confirmed block ${view.block} (head ${view.head}), older than block ` +
        `${seen} already seen: a lagging or reorged view, not acted on`;
      this.noteError(new Error(message));
      this.logger[this.backwardsRepeats.isRepeat(view.endpoint) ? "debug" : "warn"](
        { event: "block-backwards", block: view.block, lastBlock: seen, endpoint: view.endpoint },
        message,
      );
      return;
    }
    this.view = view;
    this.provenRecords = new Map();
    this.provenRegistry = undefined;
    try {
      if (!this.deployedAtConfirmedBlock) {
        // The registry's code, proven: it carries the app's policy address (its immutable `_appAuth`).
        const code = await this.deps.reader.readCode(this.registry, view.header);
        if (code !== "0x" && !code.toLowerCase().includes(this.options.appAuth.toLowerCase().slice(2))) {
          throw new Error(
            `the proven code at ${this.registry} does not carry the address of --app-auth ${this.options.appAuth}: ` +
              "it is not a ReplicationRegistry bound to this app",
          );
        }
        if (code === "0x") {
          this.report(
            "self",
            "not-deployed-yet",
            "info",
            `the registry has no code at the confirmed block ${view.block} yet (deployed less than ` +
              `${this.options.confirmations} block(s) ago): waiting`,
            { event: "registry-not-confirmed" },
          );
          return;
        }
        this.deployedAtConfirmedBlock = true;
      }
      await this.settleInflight();
      checkpoint();
      const status = (await this.provenAny(this.me)).status;
      this.status_ = status;
      switch (status) {
        case "None":
          await this.register(view);
          break;
        case "Registered":
          await this.maybeRefresh(view);
          this.report(
            "self",
            "registered",
            "info",
            `node ${this.me} is registered; waiting for a member to onboard it (or, for the first node, for the ` +
              `app's owner to make it the genesis member: npx hardhat set-genesis --registry ${this.registry} --node ${this.me})`,
            { event: "waiting" },
          );
          break;
        case "Member":
          await this.ensureSecret(view);
          checkpoint();
          await this.maybeRefresh(view);
          checkpoint();
          // Never in the way of onboarding: a registry that cannot answer `tlsKey()` (deployed before it had one, or
          // an endpoint failing) is reported, and the member goes on serving.
          await this.maybePublishTlsKey(view).catch((error: unknown) =>
            this.report(
              "tls-key",
              `failed:${errorMessage(error)}`,
              "warn",
              `cannot check or publish the app's TLS key in the registry: ${errorMessage(error)}; trying again every pass`,
              { event: "tls-key-failed", err: errorMessage(error) },
            ),
          );
          checkpoint();
          await this.serveAsMember(view, checkpoint);
          break;
        case "Evicted":
          this.report(
            "self",
            "evicted",
            "error",
            `node ${this.me} was evicted from the registry: it onboards nobody; a new release registers anew under a new address`,
            { event: "evicted" },
          );
          break;
      }
    } catch (error) {
      if (!(error instanceof StopRequested)) {
        this.noteError(error);
        this.noteUnverified(error);
      }
      throw error;
    }
    this.noteVerified(view);
  }

  /** Called by the verified reader for every proof it refused (wired in main.ts). */
  noteRefusedProof(endpoint: string, problem: string): void {
    this.refusedProofs.push({ endpoint, problem });
  }

  /** A quorum outvoted some endpoint (or a proof was refused): the loop works, and says so on `/healthz`. */
  degraded(): string | undefined {
    return this.verification?.state === "outvoted" ? this.verification.message : undefined;
  }

  status(): Record<string, unknown> {
    const state = this.state;
    return {
      registry: this.options.registry,
      node: this.keys?.address ?? null,
      nodeStatus: this.status_ ?? null,
      registered: this.status_ === undefined ? null : this.status_ !== "None",
      registration: state?.registration ?? null,
      refresh: state?.refresh ?? null,
      ownProblem: this.ownProblem ?? null,
      member: this.status_ === "Member",
      genesis: this.isGenesis,
      tlsKey: this.tlsKeyStatus ?? null,
      secret: {
        stored: this.secret !== undefined,
        path: this.options.secretPath,
        ...(state?.secret ?? {}),
      },
      submitter: this.options.submitter?.address ?? null,
      confirmedBlock:
        this.view === undefined
          ? null
          : {
              endpoint: this.view.endpoint,
              head: this.view.head,
              block: this.view.block,
              blockHash: this.view.blockHash,
              timestamp: this.view.timestamp,
            },
      verification:
        this.verification === undefined
          ? null
          : {
              state: this.verification.state,
              since: this.verification.since,
              message: this.verification.message,
              reports: this.verification.reports,
              refusedProofs: this.verification.refusedProofs,
            },
      cursor: state?.cursor ?? null,
      pending: Object.entries(state?.pending ?? {}).map(([node, pending]) => ({ node, ...pending })),
      inflight: Object.values(state?.inflight ?? {}).map(({ raw: _raw, ...tx }) => tx),
      lastOnboarded: this.recentOnboardings,
      lastRefused: this.recentRefusals,
      decided: Object.keys(state?.decided ?? {}).length,
      lastError: this.lastError ?? null,
    };
  }

  /**
   * The signed files for the host, on the status server: a CVM's disk is not the host's, so this is how a host gets
   * them (they are signed and hold nothing secret: the ciphertext is public on-chain once submitted).
   *
   *   GET /replication/registration.json             this node's signed registration (`register-node --file`)
   *   GET /replication/refresh.json                  its last signed attestation refresh (`refresh-node --file`)
   *   GET /replication/onboardings/                  the onboarding files written so far (a JSON list of names)
   *   GET /replication/onboardings/onboarding-0x….json   one signed onboarding (`onboard-node --onboarding`)
   */
  async serve(urlPath: string): Promise<{ contentType: string; body: string } | undefined> {
    const json = (body: string) => ({ contentType: "application/json", body });
    const { registrationOut, onboardingOut } = this.options;
    if (urlPath === "/replication/registration.json" && registrationOut !== undefined) {
      return readText(registrationOut).then((body) => (body === undefined ? undefined : json(body)));
    }
    if (urlPath === "/replication/refresh.json" && registrationOut !== undefined) {
      return readText(this.refreshFile).then((body) => (body === undefined ? undefined : json(body)));
    }
    if (urlPath === "/replication/tls-key.json" && registrationOut !== undefined) {
      return readText(this.tlsKeyFile).then((body) => (body === undefined ? undefined : json(body)));
    }
    if (onboardingOut === undefined) return undefined;
    if (urlPath === "/replication/onboardings/") {
      const names = (await readdir(onboardingOut)).filter((name) => ONBOARDING_FILE.test(name)).sort();
      return json(`${JSON.stringify(names)}\n`);
    }
    const name = urlPath.slice("/replication/onboardings/".length);
    if (!urlPath.startsWith("/replication/onboardings/") || !ONBOARDING_FILE.test(name)) return undefined;
    const body = await readText(path.join(onboardingOut, name));
    return body === undefined ? undefined : json(body);
  }

  // -------------------------------------------------------------------------------------------------------------
  // This node: registration and the secret
  // -------------------------------------------------------------------------------------------------------------

  private async register(view: ConfirmedBlock): Promise<void> {
    const state = this.requireState();
    if (state.inflight["register"] !== undefined) return; // broadcast and watched by settleInflight
    const recorded = state.registration;
    if (recorded?.block !== undefined) {
      if (recorded.block > view.block) return; // mined, not confirmed yet
      this.logger.warn(
        { event: "registration-lost", txHash: recorded.txHash, block: recorded.block },
        `this node's registration (tx ${recorded.txHash} in block ${recorded.block}) is not in the confirmed chain ` +
          `at block ${view.block} (a reorg): registering again`,
      );
    } else if (recorded?.file !== undefined && this.options.submitter === undefined) {
      if (await exists(recorded.file)) {
        this.report(
          "self",
          `waiting-host:${recorded.file}`,
          "info",
          `waiting for the host to submit this node's registration (${recorded.file}, served at ` +
            `/replication/registration.json): npx hardhat register-node --registry ${this.registry} --file ` +
            "registration.json --network <network>",
          { event: "waiting-host" },
        );
        return;
      }
    }

    const context = await this.registryCall((r) => this.checks.contextAt(r, view.block));
    const built = await buildNodeRegistration({
      guest: this.deps.guest,
      chainId: this.requireChainId(),
      registry: this.registry,
      verifyQuote: this.deps.verifyQuote,
      context: { appId: context.appId, kms: context.kms },
    }).catch((error: unknown) => {
      throw new Error(
        error instanceof ReplicationVerificationError
          ? `not registering this node: its registration would be refused by members: ${describeVerificationFailure(error)}`
          : `cannot build this node's registration: ${errorMessage(error)}`,
      );
    });
    const signed = built.signed;
    const r = signed.registration;
    if (getAddress(r.node) !== this.me) {
      throw new Error(`the dstack guest API derived another key (${r.node}) than at start (${this.me})`);
    }
    const facts =
      `measured compose hash ${r.bootInfo.composeHash}, device ${r.bootInfo.deviceId}, TCB ${r.bootInfo.tcbStatus}; ` +
      `key issued by KMS root ${context.kmsRoot.address} to app ${context.appId}`;
    const next: RegistrationRecordState = { at: new Date().toISOString() };
    let file: string | undefined;
    if (this.options.registrationOut !== undefined) {
      file = this.options.registrationOut;
      await writeFileAtomic(file, encodeRegistrationFile(signed));
      next.file = file;
    }
    await this.save({ registration: next });
    if (this.options.submitter !== undefined) {
      const sent = await this.send(
        "register",
        this.me,
        registryInterface.encodeFunctionData("register", [...registerArguments(signed)]),
      );
      if (sent === undefined) return;
      this.logger.info(
        { event: "registration", node: this.me, txHash: sent.hash, file: file ?? null, ...r.bootInfo },
        `registering node ${this.me} (${facts}), signed by its in-TEE key: sent tx ${sent.hash} from ${sent.from}` +
          (file === undefined ? "" : `; also wrote it to ${file}`),
      );
    } else {
      this.logger.info(
        { event: "registration", node: this.me, file, ...r.bootInfo },
        `signed the registration of node ${this.me} (${facts}) with its in-TEE key and wrote it to ${file} for the ` +
          `host to submit (the status server serves it at /replication/registration.json): npx hardhat ` +
          `register-node --registry ${this.registry} --file registration.json --network <network>`,
      );
    }
  }

  /**
   * Refreshes this node's attestation once it is {@link REFRESH_AFTER_SECONDS} old in chain time: a fresh quote over
   * the same keys, verified with fresh collateral, whose measured boot must be the one the registry stores, and the TCB
   * status and advisories Intel's collateral gives it now. When the app's policy would not accept the refreshed boot
   * info, or this node's own evidence no longer verifies, it stops onboarding; a refresh is sent all the same (the
   * registry records the truth, and anyone may then evict it).
   */
  private async maybeRefresh(view: ConfirmedBlock): Promise<void> {
    const state = this.requireState();
    if (state.inflight["refresh"] !== undefined) return; // broadcast and watched by settleInflight
    const record = await this.provenRecord(this.me);
    if (!refreshDue(record.attestedAt, view.timestamp)) return;
    const nonce = record.refreshes.toString();
    const done = state.refresh?.nonce === nonce ? state.refresh : undefined;
    if (done?.block !== undefined && done.block > view.block) return; // mined, not confirmed yet
    // Mined at or below the confirmed block and still due with the same nonce: a reorg dropped it; refreshed anew.
    if (done?.file !== undefined && this.options.submitter === undefined && (await exists(done.file))) {
      this.report(
        "refresh",
        `waiting-host:${nonce}`,
        "info",
        `waiting for the host to submit this node's attestation refresh (${done.file}, served at ` +
          `/replication/refresh.json): npx hardhat refresh-node --registry ${this.registry} --file refresh.json ` +
          "--network <network>",
        { event: "waiting-host" },
      );
      return;
    }

    let built;
    try {
      const context = await this.registryCall((r) => this.checks.contextAt(r, view.block));
      built = await buildRefresh({
        guest: this.deps.guest,
        chainId: this.requireChainId(),
        registry: this.registry,
        keys: this.requireKeys(),
        stored: record.bootInfo,
        nonce: record.refreshes,
        verifyQuote: this.deps.verifyQuote,
        context: { appId: context.appId, kms: context.kms },
      });
    } catch (error) {
      if (error instanceof ReplicationVerificationError) {
        const reason = describeVerificationFailure(error);
        this.ownProblem = `its own fresh attestation does not verify: ${reason}`;
        this.report(
          "refresh",
          `refused:${reason}`,
          "error",
          `cannot refresh node ${this.me}'s attestation: ${reason}; it onboards nobody until it can`,
          { event: "refresh-refused", check: error.code, reason },
        );
        return;
      }
      this.report(
        "refresh",
        `failed:${errorMessage(error)}`,
        "warn",
        `cannot refresh node ${this.me}'s attestation yet: ${errorMessage(error)}; trying again every pass`,
        { event: "refresh-failed", err: errorMessage(error) },
      );
      return;
    }
    const { bootInfo } = built;
    const [allowed, reason] = await this.isAllowed(bootInfo);
    const tcb = `TCB ${bootInfo.tcbStatus}${bootInfo.advisoryIds.length === 0 ? "" : `, advisories ${bootInfo.advisoryIds.join(", ")}`}`;
    this.ownProblem = allowed
      ? undefined
      : `the app's policy no longer accepts its platform as Intel's collateral judges it now (${tcb}): ${reason}`;
    if (!allowed) {
      this.logger.error(
        { event: "own-tcb", reason, tcbStatus: bootInfo.tcbStatus, advisoryIds: bootInfo.advisoryIds },
        `node ${this.me} onboards nobody from now on: ${this.ownProblem}; its refresh records this on-chain`,
      );
    }

    const next: NonNullable<ReplicatorState["refresh"]> = { nonce, at: now() };
    if (this.options.registrationOut !== undefined) {
      next.file = this.refreshFile;
      await writeFileAtomic(next.file, encodeRefreshFile(built.signed));
    }
    await this.save({ refresh: next });
    this.reported.delete("refresh");
    if (this.options.submitter !== undefined) {
      const sent = await this.send(
        "refresh",
        this.me,
        registryInterface.encodeFunctionData("refreshAttestation", [...refreshArguments(built.signed)]),
      );
      if (sent === undefined) return;
      this.logger.info(
        { event: "refresh", node: this.me, nonce, txHash: sent.hash, tcbStatus: bootInfo.tcbStatus, allowed },
        `refreshing node ${this.me}'s attestation (refresh #${record.refreshes + 1n}): fresh quote verified, same ` +
          `measured boot, ${tcb}; sent tx ${sent.hash} from ${sent.from}`,
      );
    } else {
      this.logger.info(
        { event: "refresh", node: this.me, nonce, file: next.file, tcbStatus: bootInfo.tcbStatus, allowed },
        `signed node ${this.me}'s attestation refresh (refresh #${record.refreshes + 1n}: fresh quote verified, same ` +
          `measured boot, ${tcb}) and wrote it to ${next.file} for the host to submit: npx hardhat refresh-node ` +
          `--registry ${this.registry} --file refresh.json --network <network>`,
      );
    }
  }

  /**
   * As the genesis member holding the secret, publishes the app's TLS key (the SPKI hash of the key every member
   * derives from the secret, lib/tls/key.ts) in the registry when it does not publish that key yet: signed with this
   * node's in-TEE key for the registry's nonce, then sent or written to `tls-key.json` for the host (`npx hardhat
   * set-tls-key --file`). Any member compares the published key with the one it derives and says so in `/status`.
   */
  private async maybePublishTlsKey(view: ConfirmedBlock): Promise<void> {
    if (this.secret === undefined) return;
    const derived = deriveTlsKey(this.secret).spkiSha256;
    const published = await this.registryCall((r) => readTlsKey(r, view.block));
    const matches = published.spkiSha256 === derived;
    this.tlsKeyStatus = { published: published.spkiSha256 ?? null, derived, matches };
    if (matches || !this.isGenesis) {
      if (!matches && published.spkiSha256 !== undefined) {
        this.report(
          "tls-key",
          `other:${published.spkiSha256}`,
          "error",
          `the registry publishes TLS key ${published.spkiSha256}, but the key this node derives from the shared ` +
            `secret is ${derived}: the secret it holds is not the genesis member's`,
          { event: "tls-key-mismatch", published: published.spkiSha256, derived },
        );
      }
      return;
    }
    const state = this.requireState();
    if (state.inflight["tls-key"] !== undefined) return; // broadcast and watched by settleInflight
    const nonce = published.nonce.toString();
    const done = state.tlsKey?.nonce === nonce && state.tlsKey.spkiSha256 === derived ? state.tlsKey : undefined;
    if (done?.block !== undefined && done.block > view.block) return; // mined, not confirmed yet
    if (done?.file !== undefined && this.options.submitter === undefined && (await exists(done.file))) {
      this.report(
        "tls-key",
        `waiting-host:${nonce}`,
        "info",
        `waiting for the host to publish the app's TLS key (${done.file}, served at /replication/tls-key.json): ` +
          `npx hardhat set-tls-key --registry ${this.registry} --file tls-key.json --network <network>`,
        { event: "waiting-host" },
      );
      return;
    }

    const signature = await signTlsKey(
      this.requireKeys().ethereum,
      registryDomain(this.requireChainId(), this.registry),
      { spkiSha256: derived, nonce: published.nonce },
    );
    const next: NonNullable<ReplicatorState["tlsKey"]> = { spkiSha256: derived, nonce, at: now() };
    if (this.options.registrationOut !== undefined) {
      next.file = this.tlsKeyFile;
      const file = {
        chainId: this.requireChainId().toString(),
        registry: this.registry,
        node: this.me,
        spkiSha256: derived,
        nonce,
        signature,
      };
      await writeFileAtomic(next.file, `${JSON.stringify(file, null, 2)}\n`);
    }
    await this.save({ tlsKey: next });
    this.reported.delete("tls-key");
    const what = `the app's TLS key ${derived} (derived from the shared secret${published.spkiSha256 === undefined ? "" : `; it replaces ${published.spkiSha256}`})`;
    if (this.options.submitter !== undefined) {
      const sent = await this.send(
        "tls-key",
        this.me,
        registryInterface.encodeFunctionData("setTlsKey", [derived, signature]),
      );
      if (sent === undefined) return;
      this.logger.info(
        { event: "tls-key-publish", spkiSha256: derived, nonce, txHash: sent.hash },
        `publishing ${what}, signed by the genesis member's in-TEE key: sent tx ${sent.hash} from ${sent.from}`,
      );
    } else {
      this.logger.info(
        { event: "tls-key-publish", spkiSha256: derived, nonce, file: next.file },
        `signed ${what} with the genesis member's in-TEE key and wrote it to ${next.file} for the host to submit: ` +
          `npx hardhat set-tls-key --registry ${this.registry} --file tls-key.json --network <network>`,
      );
    }
  }

  /** Where the TLS key publication is written for the host: next to the registration file. */
  private get tlsKeyFile(): string {
    return path.join(path.dirname(this.options.registrationOut ?? this.options.stateDir), "tls-key.json");
  }

  /** Where a refresh is written for the host: next to the registration file. */
  private get refreshFile(): string {
    return path.join(path.dirname(this.options.registrationOut ?? this.options.stateDir), "refresh.json");
  }

  /** A member holds the secret: the genesis member creates it once; any other decrypts its onboarding. */
  private async ensureSecret(view: ConfirmedBlock): Promise<void> {
    const registry = await this.provenState();
    this.isGenesis = registry.genesis === this.me;
    if (this.secret !== undefined) return;
    const state = this.requireState();
    if (this.isGenesis) {
      // That no onboarding happened cannot be proven from storage (the registry keeps no count of them), so every
      // endpoint is asked, and any one that shows an onboarding (or does not answer) is enough not to create one: a
      // lie can only delay the secret, never split the app. The member count is proven: more than one member means
      // the secret was handed on.
      if (registry.memberCount !== 1n) {
        throw new Error(
          `node ${this.me} is the genesis member but holds no secret at ${this.options.secretPath}, and the registry ` +
            `counts ${registry.memberCount} members at block ${view.block}: a new secret would split the app. ` +
            "Restore the file (or the encrypted volume it was on); nothing is created",
        );
      }
      const answers = await this.deps.endpoints.each(async (endpoint) => {
        const r = await this.registryOn(endpoint);
        let handedOn = 0;
        for (let from = this.options.registryFromBlock; from <= view.block; from += this.options.logRange) {
          const to = Math.min(view.block, from + this.options.logRange - 1);
          const read = await readOnboardings(r, from, to);
          // A refused onboarding log is an onboarding all the same: counted, so that no second secret is made.
          handedOn += read.records.length + read.refused.length;
        }
        return handedOn;
      });
      const silent = answers.filter((answer) => "error" in answer);
      if (silent.length > 0) {
        throw new Error(
          `node ${this.me} is the genesis member and holds no secret yet, but not every RPC endpoint could say whether ` +
            `an onboarding happened (${silent.map((a) => `${a.endpoint}: ${"error" in a ? a.error : ""}`).join("; ")}): ` +
            "no secret is created until all of them answer",
        );
      }
      const handedOn = Math.max(...answers.map((answer) => ("value" in answer ? answer.value : 0)));
      if (handedOn > 0) {
        throw new Error(
          `node ${this.me} is the genesis member but holds no secret at ${this.options.secretPath}, and the registry ` +
            `records ${handedOn} onboarding(s) made with the app's secret: a new one would split the app. ` +
            "Restore the file (or the encrypted volume it was on); nothing is created",
        );
      }
      const secret = new Uint8Array(randomBytes(SECRET_BYTES));
      await this.writeSecret(secret);
      await this.save({ secret: { at: new Date().toISOString(), source: "genesis", block: view.block } });
      this.logger.info(
        { event: "secret", source: "genesis", path: this.options.secretPath, block: view.block },
        `node ${this.me} is the genesis member (set by the app's owner): created the app's shared secret inside the ` +
          `TEE (${SECRET_BYTES} random bytes) and stored it at ${this.options.secretPath} (mode 0600)`,
      );
      return;
    }
    const from = state.registration?.block ?? this.options.registryFromBlock;
    // Its NodeOnboarded log is a hint, asked of every endpoint (one that hides it or invents one is not enough): each
    // one found is tried until one carries a ciphertext its proven sponsor signed for this node.
    const answers = await this.deps.endpoints.each(async (endpoint) => {
      const r = await this.registryOn(endpoint);
      const found: OnboardingRecord[] = [];
      const refused: RefusedEvent[] = [];
      for (let at = from; at <= view.block && found.length === 0; at += this.options.logRange) {
        const read = await readOnboardings(r, at, Math.min(view.block, at + this.options.logRange - 1), this.me);
        found.push(...read.records);
        refused.push(...read.refused);
      }
      return { found, refused };
    });
    const candidates = new Map<string, OnboardingRecord>();
    const refused: RefusedEvent[] = [];
    for (const answer of answers) {
      if (!("value" in answer)) continue;
      for (const record of answer.value.found) candidates.set(`${record.transactionHash}:${record.ciphertext}`, record);
      refused.push(...answer.value.refused);
    }
    const found = [...candidates.values()];
    let onboarding = found[0];
    if (onboarding === undefined && refused[0] !== undefined) {
      throw new Error(
        `node ${this.me} is a member, but its onboarding cannot be read: ${describeRefusedEvent(refused[0])}`,
      );
    }
    if (onboarding === undefined) {
      throw new Error(
        `node ${this.me} is a member at block ${view.block}, but no NodeOnboarded event for it was found from block ` +
          `${from}: is --registry-from-block after the registry's deployment?`,
      );
    }
    // Before storing anything: the sponsor, and its sponsors back to the genesis member, each showed evidence that
    // verifies. A secret that came from elsewhere (a genesis member set on junk evidence) is never stored.
    // The ciphertext comes from a log (a hint): it is used only when the member the registry's proven record names
    // as this node's sponsor signed it for this node (the onboarding transaction carries that signature).
    let authentic: { onboarding: OnboardingRecord; ciphertext: string } | undefined;
    const problems: string[] = [];
    for (const candidate of found) {
      try {
        authentic = { onboarding: candidate, ciphertext: await this.authenticatedCiphertext(candidate) };
        break;
      } catch (error) {
        problems.push(errorMessage(error));
      }
    }
    if (authentic === undefined) {
      throw new Error(
        `node ${this.me} is a member, but no onboarding log read carries an authentic ciphertext: ${problems.join("; ")}`,
      );
    }
    if (problems.length > 0) {
      this.logger.warn(
        { event: "onboarding-hint-refused", problems },
        `refused ${problems.length} onboarding log(s) an RPC endpoint showed for node ${this.me}: ${problems.join("; ")}`,
      );
    }
    const { ciphertext } = authentic;
    onboarding = authentic.onboarding;
    const sponsors = await this.registryCall((r) =>
      this.checks.sponsorChain(r, this.me, this.options.registryFromBlock, view.block, this.recordSource()),
    );
    if (sponsors.kind === "refused") {
      this.report(
        "sponsors",
        sponsors.reason,
        "error",
        `not storing the secret member ${onboarding.sponsor} sent in block ${onboarding.blockNumber}: ` +
          `${sponsors.reason}; checked again every pass`,
        { event: "sponsor-refused", sponsor: onboarding.sponsor, check: sponsors.code, reason: sponsors.reason },
      );
      return;
    }
    this.reported.delete("sponsors");
    let secret: Uint8Array;
    try {
      secret = decryptSecret(this.requireKeys().encryption.privateKey, ciphertext);
    } catch (error) {
      throw new Error(
        `cannot decrypt the secret member ${onboarding.sponsor} sent in block ${onboarding.blockNumber} ` +
          `(tx ${onboarding.transactionHash}): ${errorMessage(error)}; it was not encrypted to this node's key`,
      );
    }
    await this.writeSecret(secret);
    await this.save({
      secret: {
        at: new Date().toISOString(),
        source: "onboarding",
        block: onboarding.blockNumber,
        sponsor: onboarding.sponsor,
      },
    });
    this.logger.info(
      {
        event: "secret",
        source: "onboarding",
        sponsor: onboarding.sponsor,
        block: onboarding.blockNumber,
        txHash: onboarding.transactionHash,
        path: this.options.secretPath,
      },
      `node ${this.me} joined: its sponsors back to the genesis member (${sponsors.chain.map((sponsor) => sponsor.node).join(" ← ")}) ` +
        "each showed evidence that verifies; " +
        `decrypted the app's shared secret, onboarded by member ${onboarding.sponsor} in block ` +
        `${onboarding.blockNumber} (tx ${onboarding.transactionHash}), and stored it at ${this.options.secretPath} (mode 0600)`,
    );
  }

  private async readSecret(): Promise<Uint8Array | undefined> {
    try {
      const bytes = new Uint8Array(await readFile(this.options.secretPath));
      return bytes.length > 0 ? bytes : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  private async writeSecret(secret: Uint8Array): Promise<void> {
    await writeFileAtomic(this.options.secretPath, secret, { mode: 0o600 });
    this.secret = secret;
  }

  // -------------------------------------------------------------------------------------------------------------
  // As a member: verify and onboard the nodes that register
  // -------------------------------------------------------------------------------------------------------------

  private async serveAsMember(view: ConfirmedBlock, checkpoint: () => void): Promise<void> {
    if (this.secret === undefined) return;
    const own = await this.provenRecord(this.me);
    const [allowed, reason] = await this.isAllowed(own.bootInfo);
    if (!allowed) {
      this.report(
        "self",
        `not-allowed:${reason}`,
        "error",
        `the app's policy no longer allows node ${this.me} (${reason}): the registry refuses its onboardings, so it ` +
          "onboards nobody (and anyone may evict it)",
        { event: "member-not-allowed", reason },
      );
      return;
    }
    const expiresAt = own.attestedAt + ATTESTATION_PERIOD_SECONDS;
    if (BigInt(view.timestamp) >= expiresAt) {
      this.report(
        "self",
        `expired:${expiresAt}`,
        "error",
        `node ${this.me}'s last attestation expired at ${new Date(Number(expiresAt) * 1000).toISOString()}: the ` +
          "registry refuses its onboardings, so it onboards nobody (and anyone may evict it) until a refresh lands",
        { event: "member-attestation-expired", expiresAt: Number(expiresAt) },
      );
      return;
    }
    if (this.ownProblem !== undefined) {
      this.report("self", `own:${this.ownProblem}`, "error", `node ${this.me} onboards nobody: ${this.ownProblem}`, {
        event: "member-not-acceptable",
        reason: this.ownProblem,
      });
      return;
    }
    this.reported.delete("self");

    // 1. Take in the registrations of new confirmed blocks; the cursor moves only past a fully handled range.
    for (let ranges = 0; ranges < MAX_LOG_RANGES_PER_PASS; ranges++) {
      const state = this.requireState();
      if (state.cursor >= view.block) break;
      const from = state.cursor + 1;
      const to = Math.min(view.block, from + this.options.logRange - 1);
      const { records, refused } = await this.registryCall((r) => readRegistrations(r, from, to));
      const pending = { ...state.pending };
      const decided = { ...state.decided };
      for (const record of records) {
        const node = getAddress(record.evidence.node);
        if (node === this.me || decided[node] !== undefined || pending[node] !== undefined) continue;
        pending[node] = { registeredAt: record.blockNumber, transactionHash: record.transactionHash };
        this.logger.debug(
          { event: "registration-seen", node, block: record.blockNumber, txHash: record.transactionHash },
          `node ${node} registered in block ${record.blockNumber} (tx ${record.transactionHash}): verifying it`,
        );
      }
      // A log that does not decode (anyone can register, with strings that are not UTF-8) is refused on its own: the
      // cursor moves past it like past any other, and the node it names (one registration per address) is decided.
      for (const event of refused) {
        const node = event.node;
        if (node !== undefined && (node === this.me || decided[node] !== undefined)) continue;
        if (node !== undefined) {
          delete pending[node];
          decided[node] = { outcome: "refused", at: now(), block: view.block, reason: describeRefusedEvent(event) };
        }
        this.noteRefusedEvent(event);
      }
      await this.save({ pending, decided, cursor: to });
      checkpoint();
    }

    // 2. Decide on the pending nodes: the least recently checked first, then the oldest, so nodes that wait for the
    //    policy never keep newer ones from being decided.
    const checkedAt = (node: string) => this.lastChecked.get(node) ?? 0;
    const pending = Object.entries(this.requireState().pending)
      .sort(([n1, a], [n2, b]) => checkedAt(n1) - checkedAt(n2) || a.registeredAt - b.registeredAt)
      .slice(0, MAX_DECISIONS_PER_PASS);
    for (const [node, entry] of pending) {
      checkpoint();
      this.lastChecked.set(node, Date.now());
      await this.decide(node, entry, view);
    }
  }

  private async decide(node: string, entry: Pending, view: ConfirmedBlock): Promise<void> {
    const state = this.requireState();
    if (state.inflight[node] !== undefined) return; // an onboarding is on its way
    const proven = await this.provenAny(node);
    const status = proven.status;
    if (status === "Member" || status === "Evicted") {
      await this.decided(node, { outcome: status === "Member" ? "member" : "evicted", at: now(), block: view.block });
      this.logger.debug(
        { event: "already-decided", node, status },
        `node ${node} is ${status === "Member" ? "already a member" : "evicted"}: nothing to do`,
      );
      return;
    }
    if (status !== "Registered") return; // its registration is not confirmed at this block: a reorg; seen again later

    // The evidence: its last attestation (registration, or refresh), verified as every member, task and auditor does.
    // The events are hints: the evidence is read from them only where it matches the proven record (same key, the
    // quote whose hash the registry stores); a record the node made unreadable is refused on the proven record.
    const storedQuote = isReadable(proven) ? proven.quoteHash : `unreadable:${proven.unreadable}`;
    const cached = this.verified.get(node);
    let verdict = cached?.quoteHash === storedQuote ? cached.verdict : undefined;
    if (verdict === undefined) {
      verdict = await this.registryCall((r) =>
        this.checks.verifyPending(r, node, entry.registeredAt, view.block, this.recordSource()),
      );
      if (verdict.kind !== "retry") this.verified.set(node, { quoteHash: storedQuote, verdict });
    }
    if (verdict.kind === "retry") {
      await this.pendingReason(node, verdict.reason, "warn", "verify-failed");
      return;
    }
    if (verdict.kind === "refused") {
      const reason = verdict.reason;
      await this.decided(node, { outcome: "refused", at: now(), block: view.block, reason });
      if (verdict.event !== undefined) {
        // A log of its evidence that does not decode (its refresh, since a refused registration is decided when its
        // range is read): the node wrote it, and is refused on it like on any failed check.
        this.noteRefusedEvent(verdict.event);
        return;
      }
      this.remember(this.recentRefusals, { node, reason, final: true, at: now(), block: view.block });
      this.logger.error(
        { event: "refusal", node, check: verdict.code, reason, final: true },
        `refused node ${node}: ${reason}; it is never onboarded`,
      );
      return;
    }
    const evidence = verdict.read.evidence;
    // The policy, as the registry will check it: the node's boot info, now.
    const [allowed, policyReason] = await this.isAllowed((await this.provenRecord(node)).bootInfo);
    if (!allowed) {
      await this.pendingReason(node, `the app's policy does not allow it now: ${policyReason}`, "error", "refusal");
      return;
    }

    // Onboard: the secret encrypted to the node's key, signed by this member's in-TEE key.
    const keys = this.requireKeys();
    const prepared = await prepareOnboarding({
      member: keys.ethereum,
      domain: registryDomain(this.requireChainId(), this.registry),
      node,
      quote: evidence.quote,
      // The key the registry stores (proven), which the evidence was checked to carry.
      encryptionPublicKey: (await this.provenRecord(node)).encryptionPublicKey,
      secret: this.secret!,
    });
    const summary = `${verdict.summary}, the policy allows it`;
    let file: string | undefined;
    if (this.options.onboardingOut !== undefined) {
      file = path.join(this.options.onboardingOut, `onboarding-${node}.json`);
      await writeFileAtomic(
        file,
        encodeOnboardingFile({
          chainId: this.requireChainId(),
          registry: this.registry,
          member: this.me,
          onboarding: { node, quoteHash: quoteHash(evidence.quote), ciphertext: prepared.ciphertext },
          signature: prepared.signature,
        }),
      );
    }
    if (this.options.submitter === undefined) {
      await this.decided(node, { outcome: "written", at: now(), block: view.block, file });
      this.remember(this.recentOnboardings, { node, file, at: now(), block: view.block });
      this.logger.info(
        { event: "onboarding", node, member: this.me, file, block: view.block },
        `onboarding node ${node}: ${summary}; encrypted the secret to its key, signed as member ${this.me}, wrote ` +
          `${file} for the host to submit (the status server serves it at /replication/onboardings/${path.basename(file!)}): ` +
          `npx hardhat onboard-node --registry ${this.registry} --node ${node} --onboarding ${path.basename(file!)} ` +
          "--network <network>",
      );
      return;
    }
    // Last check before sending: the node is still waiting, at the head (another member may have been quicker).
    // Proven at the head a quorum vouches for: an endpoint that claims otherwise can neither stop nor cause a send.
    const head = await this.deps.reader.confirmedHeader(0);
    const latest = (await readProvenRegistry(this.deps.reader, this.registry, head.header, [node])).records.get(
      node,
    )!.status;
    if (latest !== "Registered") {
      this.logger.info(
        { event: "already-decided", node, status: latest },
        `node ${node} is ${latest} at the head already: not sending an onboarding`,
      );
      return;
    }
    const sent = await this.send(
      "onboard",
      node,
      registryInterface.encodeFunctionData("onboard", [node, prepared.ciphertext, prepared.signature]),
    );
    if (sent === undefined) return;
    this.remember(this.recentOnboardings, {
      node,
      txHash: sent.hash,
      file: file ?? null,
      at: now(),
      block: view.block,
    });
    this.logger.info(
      { event: "onboarding", node, member: this.me, txHash: sent.hash, file: file ?? null, block: view.block },
      `onboarding node ${node}: ${summary}; encrypted the secret to its key, signed as member ${this.me}, sent tx ` +
        `${sent.hash} from ${sent.from}`,
    );
  }

  // -------------------------------------------------------------------------------------------------------------
  // Proven reads: storage proven against the view's verified header
  // -------------------------------------------------------------------------------------------------------------

  /** The genesis member and the member count, proven at the view's header. */
  private async provenState(): Promise<{ genesis: string | undefined; memberCount: bigint }> {
    const view = this.requireView();
    if (this.provenRegistry?.block !== view.block) {
      const read = await readProvenRegistry(this.deps.reader, this.registry, view.header, []);
      this.provenRegistry = { block: view.block, genesis: read.genesis, memberCount: read.memberCount };
    }
    return this.provenRegistry;
  }

  /** `node`'s record, proven at the view's header; a record no reader takes in is returned as such. */
  private async provenAny(node: string): Promise<ProvenNodeRecord | UnreadableRecord> {
    const address = getAddress(node);
    let record = this.provenRecords.get(address);
    if (record === undefined) {
      const view = this.requireView();
      const read = await readProvenRegistry(this.deps.reader, this.registry, view.header, [address]);
      this.provenRegistry = { block: view.block, genesis: read.genesis, memberCount: read.memberCount };
      record = read.records.get(address)!;
      this.provenRecords.set(address, record);
    }
    return record;
  }

  /** `node`'s record, proven; throws `record-unreadable` for a record no reader takes in or that is not UTF-8. */
  private async provenRecord(node: string): Promise<ProvenNodeRecord> {
    const record = await this.provenLossy(node);
    if (record.problems.length > 0) {
      throw new ReplicationVerificationError(
        "record-unreadable",
        `the registry's record of ${getAddress(node)}: ${record.problems.join("; ")}`,
      );
    }
    return record;
  }

  /** `node`'s record, proven, its strings that are not UTF-8 in their lossy form and named in `problems`. */
  private async provenLossy(node: string): Promise<ProvenNodeRecord> {
    const record = await this.provenAny(node);
    if (!isReadable(record)) throw new ReplicationVerificationError("record-unreadable", record.unreadable);
    return record;
  }

  /** The proven records, for lib/replication's evidence readers (they then take only the logs that match them). */
  private recordSource(): RecordSource {
    return {
      record: async (node) => {
        const { problems, ...record } = await this.provenLossy(node);
        return { record, problems };
      },
      genesis: async () => (await this.provenState()).genesis ?? ZeroAddress,
    };
  }

  /** The app's policy on `bootInfo`, decided locally from TimelockedAppAuth's storage proven at the view's header. */
  private async isAllowed(bootInfo: AppBootInfo): Promise<[boolean, string]> {
    const policy = await readProvenPolicy(this.deps.reader, this.options.appAuth, this.requireView().header, [
      bootInfo,
    ]);
    return isAppAllowedLocally(policy, bootInfo);
  }

  /**
   * The ciphertext of this node's onboarding, authenticated: the log that carries it is a hint, so the transaction it
   * names must be the registry's `onboard` for this node with that ciphertext, signed (EIP-712, the registry's
   * domain) by the member this node's proven record names as its sponsor. A genuine member encrypts only the app's
   * secret; an endpoint that invents a ciphertext cannot sign for it.
   */
  private async authenticatedCiphertext(onboarding: OnboardingRecord): Promise<string> {
    const own = await this.provenRecord(this.me);
    if (own.sponsor === undefined) {
      throw new Error(
        `node ${this.me} is a member whose proven record names no sponsor: not the genesis member either`,
      );
    }
    // The transaction is asked of every endpoint: any one's copy will do, since only the sponsor's signature counts.
    const copies = await this.deps.endpoints.each((endpoint) =>
      endpoint.provider.getTransaction(onboarding.transactionHash),
    );
    const problems: string[] = [];
    for (const copy of copies) {
      const tx = "value" in copy ? copy.value : null;
      let args: { node: string; ciphertext: string; memberSignature: string } | undefined;
      if (tx !== null && tx.to !== null && getAddress(tx.to) === this.registry) {
        try {
          const parsed = registryInterface.parseTransaction({ data: tx.data });
          if (parsed?.name === "onboard") args = parsed.args as unknown as typeof args;
        } catch {
          // not a call of the registry's functions
        }
      }
      if (args === undefined) {
        problems.push(`${copy.endpoint}: not a direct onboard call to the registry`);
        continue;
      }
      const digest = onboardingDigest(registryDomain(this.requireChainId(), this.registry), {
        node: this.me,
        quoteHash: onboarding.quoteHash,
        ciphertext: args.ciphertext,
      });
      let signer: string;
      try {
        signer = recoverAddress(digest, args.memberSignature);
      } catch {
        signer = "none";
      }
      if (
        getAddress(args.node) === this.me &&
        hexlify(args.ciphertext) === hexlify(onboarding.ciphertext) &&
        signer === own.sponsor
      ) {
        return args.ciphertext;
      }
      problems.push(`${copy.endpoint}: not signed by the sponsor for this node and this ciphertext (signer ${signer})`);
    }
    throw new Error(
      `the onboarding log of ${this.me} naming tx ${onboarding.transactionHash} is not authenticated by its sponsor ` +
        `${own.sponsor} (the proven record's): ${problems.join("; ")}`,
    );
  }

  // -------------------------------------------------------------------------------------------------------------
  // Verification state: one loud line per change, `/status` and `/healthz`
  // -------------------------------------------------------------------------------------------------------------

  /** No verified view (or no proof that verifies): one error line when this changes; nothing is acted on. */
  private noteUnverified(error: unknown): void {
    const next = unverifiedStateOf(error);
    if (next === undefined) return;
    // Which endpoints answered and which did not, not what they said (hashes, block numbers and socket errors change
    // every pass): one line per change of state.
    const key = `${next.state}|${next.reports.map((r) => `${r.endpoint}:${r.hash === undefined ? "no header" : "header"}`).join(",")}|${next.refusedProofs
      .map((p) => p.endpoint)
      .join(",")}`;
    if (this.verification?.key === key) return;
    const message =
      `UNVERIFIED CHAIN STATE: ${errorMessage(error)}. No registration, onboarding or secret is acted on; ` +
      "trying again every pass";
    this.verification = { ...next, key, since: now(), message };
    this.logger.error(
      { event: "verification", state: next.state, reports: next.reports, refusedProofs: next.refusedProofs },
      message,
    );
  }

  /** A pass on verified state: a line when it follows an unverified one, or when who is outvoted or refused changes. */
  private noteVerified(view: VerifiedView): void {
    const dissent = view.reports.filter((report) => report.hash !== view.blockHash);
    const refused = this.refusedProofs;
    const state = dissent.length === 0 && refused.length === 0 ? "verified" : "outvoted";
    const key = `${state}|${dissent.map((r) => r.endpoint).join(",")}|${refused.map((p) => p.endpoint).join(",")}`;
    if (this.verification?.key === key) return;
    const before = this.verification?.state;
    const message =
      state === "verified"
        ? `registry and policy state verified at block ${view.block} (${view.blockHash}): ${view.endpoint}`
        : `RPC endpoint(s) outvoted or refused at block ${view.block}: ${view.endpoint} (${view.blockHash}); ` +
          `${[describeReports(dissent), refused.map((p) => `${p.endpoint}: ${p.problem}`).join("; ")]
            .filter((part) => part !== "")
            .join("; ")}. Acting on the verified state only`;
    this.verification = { state, key, since: now(), message, reports: view.reports, refusedProofs: [...refused] };
    if (state === "verified" && (before === undefined || before === "verified")) return;
    this.logger[state === "outvoted" ? "warn" : "info"](
      { event: "verification", state, block: view.block, reports: view.reports, refusedProofs: refused },
      before !== undefined && before !== "verified" && before !== "outvoted"
        ? `${message} (again, after ${before})`
        : message,
    );
  }

  /** Logs a refused registry log once (its range is read once: the cursor moves past it) and lists it in `/status`. */
  private noteRefusedEvent(event: RefusedEvent): void {
    const line = describeRefusedEvent(event);
    const node = event.node ?? null;
    this.remember(this.recentRefusals, { node, reason: line, final: true, at: now(), block: event.blockNumber });
    this.logger.error(
      {
        event: "refused-event",
        node,
        name: event.event,
        block: event.blockNumber,
        logIndex: event.logIndex,
        txHash: event.transactionHash,
        reason: event.reason,
        final: true,
      },
      node === null ? `${line}; moving on` : `${line}; node ${node} is never onboarded`,
    );
  }

  /** Keeps a node pending with a reason, logged once per reason. */
  private async pendingReason(node: string, reason: string, level: "warn" | "error", event: string): Promise<void> {
    const state = this.requireState();
    const entry = state.pending[node];
    if (entry === undefined) return;
    if (entry.lastReason !== reason)
      await this.save({ pending: { ...state.pending, [node]: { ...entry, lastReason: reason } } });
    if (this.reported.get(node) === reason) return;
    this.reported.set(node, reason);
    this.remember(this.recentRefusals, { node, reason, final: false, at: now() });
    this.logger[level](
      { event, node, reason, final: false },
      `not onboarding node ${node}: ${reason}; it stays pending and is checked again every pass`,
    );
  }

  private async decided(node: string, decision: Decision): Promise<void> {
    const state = this.requireState();
    const pending = { ...state.pending };
    delete pending[node];
    this.reported.delete(node);
    this.verified.delete(node);
    this.lastChecked.delete(node);
    await this.save({ pending, decided: { ...state.decided, [node]: decision } });
  }

  /**
   * The NodeOnboarded events up to `toBlock` (of `node` only, when given), read in ranges of `--log-range`; and the
   * logs that were refused (only a registry that is not the one we checked, or a lying endpoint, could give those).
   */
  private async scanOnboardings(toBlock: number, node?: string, fromBlock = this.options.registryFromBlock) {
    const found: OnboardingRecord[] = [];
    const refused: RefusedEvent[] = [];
    for (let from = fromBlock; from <= toBlock; from += this.options.logRange) {
      const to = Math.min(toBlock, from + this.options.logRange - 1);
      const read = await this.registryCall((r) => readOnboardings(r, from, to, node));
      found.push(...read.records);
      refused.push(...read.refused);
      if (node !== undefined && found.length > 0) break;
    }
    return { found, refused };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Transactions: signed once, recorded, broadcast until mined
  // -------------------------------------------------------------------------------------------------------------

  /**
   * Signs a transaction to the registry with the submitter's key, records it in the state file, then broadcasts it.
   * Returns undefined (and logs why) when the registry would revert it: the gas estimate simulates it first.
   */
  private async send(
    purpose: InflightTx["purpose"],
    node: string,
    data: string,
  ): Promise<{ hash: string; from: string } | undefined> {
    const submitter = this.options.submitter;
    if (submitter === undefined) throw new Error("no submitter account");
    type Prepared = { kind: "signed"; raw: string; nonce: number } | { kind: "revert"; revert: string };
    const prepared = await this.deps.endpoints.first(async (endpoint): Promise<Prepared> => {
      const wallet = submitter.connect(endpoint.provider);
      try {
        const request = await wallet.populateTransaction({ to: this.registry, data });
        return { kind: "signed", raw: await wallet.signTransaction(request), nonce: Number(request.nonce) };
      } catch (error) {
        const revert = decodeRevert(error);
        if (revert === undefined) throw error;
        return { kind: "revert", revert };
      }
    }, "prepared the transaction");
    if (prepared.kind === "revert") {
      this.report(
        `revert:${node}`,
        prepared.revert,
        "error",
        `not sending ${purposeText(purpose, node)}: the ` +
          `registry would revert it (${prepared.revert}); trying again every pass`,
        { event: "would-revert", purpose, node, revert: prepared.revert },
      );
      return undefined;
    }
    this.reported.delete(`revert:${node}`);
    const tx: InflightTx = {
      purpose,
      node,
      hash: keccak256(prepared.raw),
      raw: prepared.raw,
      nonce: prepared.nonce,
      from: submitter.address,
      signedAt: now(),
    };
    const key = purpose === "onboard" ? node : purpose;
    await this.save({ inflight: { ...this.requireState().inflight, [key]: tx } });
    await this.broadcast(tx);
    return { hash: tx.hash, from: tx.from };
  }

  private async broadcast(tx: InflightTx): Promise<void> {
    this.lastBroadcast.set(tx.hash, Date.now());
    try {
      await this.deps.endpoints.first(async (endpoint) => {
        try {
          await endpoint.provider.send("eth_sendRawTransaction", [tx.raw]);
        } catch (error) {
          // The same signed bytes again: already in the pool, or already mined (its nonce is used).
          if (
            !/already known|known transaction|already imported|nonce too low|nonce has already been used/i.test(
              rpcErrorText(error),
            )
          ) {
            throw error;
          }
        }
      }, "accepted the transaction");
    } catch (error) {
      // Recorded: the next pass broadcasts the same bytes again.
      this.noteError(error);
      this.logger.warn(
        { event: "broadcast-failed", txHash: tx.hash, err: errorMessage(error) },
        `could not broadcast tx ${tx.hash} (${tx.purpose} ${tx.node}): ${errorMessage(error)}; broadcasting it again later`,
      );
    }
  }

  /** Watches the recorded transactions: mined, reverted, or to be broadcast again (after a restart: at once). */
  private async settleInflight(): Promise<void> {
    const rebroadcastMs = this.options.rebroadcastMs ?? Math.max(30_000, 3 * this.options.pollIntervalMs);
    for (const [key, tx] of Object.entries(this.requireState().inflight)) {
      const receipt = await this.deps.endpoints.first((endpoint) => endpoint.provider.getTransactionReceipt(tx.hash));
      if (receipt === null) {
        const nonce = await this.deps.endpoints.first((endpoint) =>
          endpoint.provider.getTransactionCount(tx.from, "latest"),
        );
        if (nonce > tx.nonce) {
          // Our nonce went to another transaction of the submitter account, and ours can never be mined.
          await this.dropInflight(key);
          if (tx.purpose === "refresh") await this.save({ refresh: null });
          if (tx.purpose === "tls-key") await this.save({ tlsKey: null });
          this.logger.warn(
            { event: "tx-replaced", txHash: tx.hash, nonce: tx.nonce },
            `tx ${tx.hash} (${tx.purpose} ${tx.node}) will never be mined: nonce ${tx.nonce} of ${tx.from} was used ` +
              "by another transaction; deciding again from the chain",
          );
          continue;
        }
        if (Date.now() - (this.lastBroadcast.get(tx.hash) ?? 0) >= rebroadcastMs) await this.broadcast(tx);
        continue;
      }
      await this.dropInflight(key);
      if (receipt.status !== 1 && tx.purpose === "refresh") await this.save({ refresh: null });
      if (receipt.status !== 1 && tx.purpose === "tls-key") await this.save({ tlsKey: null });
      if (receipt.status !== 1) {
        this.noteError(new Error(`tx ${tx.hash} reverted in block ${receipt.blockNumber}`));
        this.logger.error(
          { event: "tx-reverted", txHash: tx.hash, purpose: tx.purpose, node: tx.node, block: receipt.blockNumber },
          `tx ${tx.hash} (${tx.purpose} ${tx.node}) reverted in block ${receipt.blockNumber}; deciding again from the chain`,
        );
        continue;
      }
      if (tx.purpose === "refresh") {
        const refresh = this.requireState().refresh;
        await this.save({
          refresh: { ...(refresh ?? { nonce: "", at: now() }), txHash: tx.hash, block: receipt.blockNumber },
        });
        this.logger.info(
          { event: "refreshed", node: tx.node, txHash: tx.hash, block: receipt.blockNumber },
          `node ${tx.node}'s attestation is refreshed (tx ${tx.hash} in block ${receipt.blockNumber})`,
        );
      } else if (tx.purpose === "tls-key") {
        const tlsKey = this.requireState().tlsKey;
        if (tlsKey != null) await this.save({ tlsKey: { ...tlsKey, txHash: tx.hash, block: receipt.blockNumber } });
        this.logger.info(
          { event: "tls-key-published", txHash: tx.hash, block: receipt.blockNumber, spkiSha256: tlsKey?.spkiSha256 },
          `the app's TLS key ${tlsKey?.spkiSha256 ?? ""} is published in the registry (tx ${tx.hash} in block ${receipt.blockNumber})`,
        );
      } else if (tx.purpose === "register") {
        await this.save({
          registration: {
            ...(this.requireState().registration ?? { at: now() }),
            txHash: tx.hash,
            block: receipt.blockNumber,
          },
        });
        this.logger.info(
          { event: "registered", node: tx.node, txHash: tx.hash, block: receipt.blockNumber },
          `node ${tx.node} is registered (tx ${tx.hash} in block ${receipt.blockNumber})`,
        );
      } else {
        await this.decided(tx.node, { outcome: "onboarded", at: now(), block: receipt.blockNumber, txHash: tx.hash });
        this.logger.info(
          { event: "onboarded", node: tx.node, txHash: tx.hash, block: receipt.blockNumber },
          `node ${tx.node} is onboarded (tx ${tx.hash} in block ${receipt.blockNumber})`,
        );
      }
    }
  }

  private async dropInflight(key: string): Promise<void> {
    const inflight = { ...this.requireState().inflight };
    const tx = inflight[key];
    delete inflight[key];
    if (tx !== undefined) this.lastBroadcast.delete(tx.hash);
    await this.save({ inflight });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Bookkeeping
  // -------------------------------------------------------------------------------------------------------------

  /** Runs `use` with the registry on the first endpoint that works, after checking it once per endpoint. */
  private async registryCall<T>(use: (registry: RegistryView, endpoint: ConnectedEndpoint) => Promise<T>): Promise<T> {
    return this.deps.endpoints.first(async (endpoint) => use(await this.registryOn(endpoint), endpoint), "answered");
  }

  private async registryOn(endpoint: ConnectedEndpoint): Promise<RegistryView> {
    const key = `registry:${this.options.registry}`;
    const known = endpoint.memo.get(key) as RegistryView | undefined;
    if (known !== undefined) return known;
    const registry = connectRegistryView(this.options.registry, endpoint.provider);
    const appAuth = await checkRegistry(registry, endpoint.shown, { networkOption: "--rpc-url" });
    if (appAuth !== getAddress(this.options.appAuth)) {
      throw new Error(
        `the ReplicationRegistry ${this.options.registry} is bound to app ${appAuth}, not to --app-auth ${this.options.appAuth}`,
      );
    }
    endpoint.memo.set(key, registry);
    return registry;
  }

  /** Logs a situation once until it changes (per subject: this node, or another node's address). */
  private report(
    subject: string,
    key: string,
    level: "info" | "warn" | "error",
    message: string,
    fields: Record<string, unknown>,
  ): void {
    if (this.reported.get(subject) === key) return;
    this.reported.set(subject, key);
    if (level !== "info") this.noteError(new Error(message));
    this.logger[level](fields, message);
  }

  private remember(list: Array<Record<string, unknown>>, entry: Record<string, unknown>): void {
    list.unshift(entry);
    list.splice(RECENT);
  }

  private noteError(error: unknown): void {
    this.lastError = { at: now(), message: errorMessage(error) };
  }

  private async loadState(): Promise<ReplicatorState | undefined> {
    let text: string;
    try {
      text = await readFile(this.stateFile, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    const parsed = JSON.parse(text) as ReplicatorState;
    if (parsed.version !== 1) throw new Error(`${this.stateFile} has version ${String(parsed.version)}, expected 1`);
    return parsed;
  }

  /** Writes the state with `change`; the newest confirmed block seen goes with every write (not every pass). */
  private async save(change: Partial<ReplicatorState>): Promise<void> {
    const next: ReplicatorState = { ...this.requireState(), ...change };
    next.lastBlock = Math.max(next.lastBlock, this.view?.block ?? -1);
    await writeFileAtomic(this.stateFile, `${JSON.stringify(next, null, 2)}\n`);
    this.state = next;
  }

  private get me(): string {
    return this.requireKeys().address;
  }

  private get registry(): string {
    return getAddress(this.options.registry);
  }

  private requireState(): ReplicatorState {
    if (this.state === undefined) throw new Error("the replicator was not initialized");
    return this.state;
  }

  private requireView(): VerifiedView {
    if (this.view === undefined) throw new Error("no verified view yet");
    return this.view;
  }

  private requireKeys(): NodeKeys {
    if (this.keys === undefined) throw new Error("the replicator was not initialized");
    return this.keys;
  }

  private requireChainId(): bigint {
    if (this.chainId === undefined) throw new Error("the replicator was not initialized");
    return this.chainId;
  }
}

function purposeText(purpose: InflightTx["purpose"], node: string): string {
  switch (purpose) {
    case "register":
      return "this node's registration";
    case "refresh":
      return "this node's attestation refresh";
    case "tls-key":
      return "the app's TLS key";
    case "onboard":
      return `the onboarding of ${node}`;
  }
}

/** The registry's custom error (or revert reason) in a failed gas estimate; undefined for any other failure. */
function decodeRevert(error: unknown): string | undefined {
  const e = error as { code?: string; data?: string; revert?: { name: string; args: unknown[] }; reason?: string };
  if (e?.code !== "CALL_EXCEPTION") return undefined;
  if (typeof e.data === "string" && e.data.length >= 10) {
    try {
      const parsed = registryInterface.parseError(e.data);
      if (parsed !== null) return `${parsed.name}(${parsed.args.map((arg) => String(arg)).join(", ")})`;
    } catch {
      // not one of the registry's errors
    }
  }
  return e.revert !== undefined
    ? `${e.revert.name}(${e.revert.args.map(String).join(", ")})`
    : (e.reason ?? "reverted");
}

/** Every message an ethers error carries, the node's own JSON-RPC error included (ethers may wrap it). */
function rpcErrorText(error: unknown): string {
  const e = error as { message?: string; error?: { message?: string }; info?: { error?: { message?: string } } };
  return [shortMessage(error), e?.message, e?.error?.message, e?.info?.error?.message].filter(Boolean).join(" | ");
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

function now(): string {
  return new Date().toISOString();
}
