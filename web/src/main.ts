/**
 * The status page: everything it shows is read by this browser straight from the JSON-RPC URL in `?rpc=`, through
 * the same library the command line uses (lib/devproof-snapshot.ts, lib/devproof-report.ts, lib/appAuth.ts,
 * lib/watch.ts). No backend sits in between that could lie. Countdowns run on the chain's clock: the offset between
 * the chain's latest block time and this machine's clock is measured at every refresh.
 */
import { isAddress, JsonRpcProvider } from "ethers";

import {
  describeChange,
  OS_FIELDS,
  otherAllowedReleases,
  readHistory,
  type AppStatus,
  type HistoryEntry,
} from "../../lib/appAuth.js";
import { buildReport, notAnAppAuth, type DevProofReport, type Level, type Stage } from "../../lib/devproof-report.js";
import { readDevProofSnapshot } from "../../lib/devproof-snapshot.js";
import {
  formatClock,
  formatCountdown,
  formatDate,
  formatDuration,
  formatNotice,
  formatRelative,
} from "../../lib/format.js";
import { Watcher, type WatchedEvent } from "../../lib/watch.js";
import { readAppTlsKey, registryAgentInterface } from "../../lib/replication/registry-view.js";
import { decodeEventLog, describeRefusedLog } from "../../lib/untrusted/decode.js";
import type { CertFeedSnapshot } from "../../lib/tls/ct-types.js";
import { TimelockedAppAuth__factory } from "../../types/ethers-contracts/index.js";
import { byId, h, handleCopyAndExpand, hexNode, richText, uriNode } from "./dom.js";

const params = new URLSearchParams(location.search);
const rpc = params.get("rpc") ?? "";
const app = params.get("app") ?? "";
const registry = params.get("registry") ?? undefined;
const fromBlock = Number(params.get("from-block") ?? "0");

/** Chain time minus this machine's time, in seconds, as of the last refresh. */
let chainOffset = 0;
const chainNow = () => Math.floor(Date.now() / 1000) + chainOffset;

function showBanner(text: string | undefined): void {
  const banner = byId("banner");
  banner.hidden = text === undefined;
  banner.textContent = text ?? "";
}

/** The badge's words, so the stage never rests on its colour alone (the full title is in the report below). */
const STAGE_BADGES: Record<Stage, { mark: string; text: string }> = {
  0: { mark: "✗", text: "Stage 0 · ruggable" },
  1: { mark: "✓", text: "Stage 1 · DevProof" },
  2: { mark: "✓✓", text: "Stage 2 style · DevProof" },
};
const LEVEL_MARKS: Record<Level, string> = { PASS: "✓", WARN: "!", FAIL: "✗", INFO: "i" };

function renderStage(report: DevProofReport): void {
  const stage = byId("stage");
  const badge = STAGE_BADGES[report.stage];
  stage.className = `badge stage-${report.stage}`;
  stage.dataset["stage"] = String(report.stage);
  stage.title = report.stageTitle;
  stage.replaceChildren(h("span", { class: "mark", "aria-hidden": "true" }, badge.mark), ` ${badge.text}`);
}

/**
 * The report's lines. A pending proposal's line points at the proposal's own live countdown instead of repeating the
 * time left as of the last refresh, which would stand still between events.
 */
function renderReport(report: DevProofReport, status: AppStatus | undefined): void {
  const open = new Map(openProposals(status).map((proposal) => [`proposal.${proposal.id.slice(0, 10)}`, proposal]));
  const lines = report.lines.map((line) => {
    const proposal = open.get(line.id);
    const evidence =
      proposal === undefined || status === undefined
        ? richText(line.evidence)
        : h(
            "span",
            {},
            richText(
              line.evidence.replace(
                ` (${formatCountdown(proposal.readyAt, proposal.expiresAt, status.timestamp)})`,
                "",
              ),
            ),
            " · ",
            h("a", { class: "nowrap", href: `#proposal-${proposal.id}` }, "time left"),
          );
    return h(
      "li",
      { class: line.level, "data-id": line.id, "data-level": line.level },
      h("span", { class: `level ${line.level}` }, `${LEVEL_MARKS[line.level]} ${line.level}`),
      richText(line.title),
      h("div", { class: "evidence" }, evidence),
    );
  });
  byId("report").replaceChildren(h("p", {}, h("strong", {}, report.stageTitle)), h("ul", {}, ...lines));
}

function openProposals(status: AppStatus | undefined) {
  return status?.proposals.filter((p) => p.state === "Waiting" || p.state === "Ready") ?? [];
}

function renderProposals(status: AppStatus | undefined): void {
  const container = byId("proposals");
  if (status === undefined) {
    container.replaceChildren(
      h("p", { class: "muted" }, "Not a TimelockedAppAuth: changes are not proposed, they happen at once."),
    );
    return;
  }
  const open = openProposals(status);
  if (open.length === 0) {
    container.replaceChildren(
      h("p", { class: "muted", id: "no-proposals" }, "None. Nothing can start running without a proposal here first."),
    );
    return;
  }
  container.replaceChildren(
    ...open.map((proposal) =>
      h(
        "div",
        {
          class: "proposal",
          id: `proposal-${proposal.id}`,
          "data-proposal": proposal.id,
          "data-ready-at": proposal.readyAt.toString(),
          "data-expires-at": proposal.expiresAt.toString(),
        },
        h("div", { class: "state" }, ""),
        h("div", { class: "what" }, richText(describeChange(proposal))),
        h("div", { class: "countdown", "data-countdown": "" }, ""),
        h(
          "div",
          { class: "muted" },
          richText(`can take effect at ${formatDate(proposal.readyAt)}; expires ${formatDate(proposal.expiresAt)}`),
        ),
        proposal.uri === "" ? null : h("div", {}, "compose file: ", uriNode(proposal.uri)),
      ),
    ),
  );
  tick();
}

/** Updates each proposal's one countdown from the chain's clock: to `readyAt` while it waits, then to its expiry. */
function tick(): void {
  const now = chainNow();
  for (const element of document.querySelectorAll<HTMLElement>(".proposal[data-ready-at]")) {
    const readyAt = Number(element.dataset["readyAt"]);
    const expiresAt = Number(element.dataset["expiresAt"]);
    const [state, countdown] =
      now < readyAt
        ? ["waiting", `ready in ${formatClock(readyAt - now)}`]
        : now < expiresAt
          ? ["READY: anyone may activate it now", `expires in ${formatClock(expiresAt - now)}`]
          : ["expired: must be proposed again", "expired"];
    const stateElement = element.querySelector(".state");
    if (stateElement !== null) stateElement.textContent = state;
    const countdownElement = element.querySelector("[data-countdown]");
    if (countdownElement !== null) countdownElement.textContent = countdown;
    element.classList.toggle("ready", now >= readyAt && now < expiresAt);
    element.classList.toggle("expired", now >= expiresAt);
  }
}

function renderRelease(status: AppStatus | undefined): void {
  const release = status?.currentRelease;
  byId("release").replaceChildren(
    release === undefined
      ? h("p", { class: "muted" }, status === undefined ? "Not recorded by this kind of AppAuth." : "No release yet.")
      : h(
          "div",
          {},
          h("div", {}, hexNode(release.composeHash, { id: "release-hash" })),
          h("div", {}, "compose file: ", uriNode(release.uri)),
          h("div", { class: "muted" }, richText(`since ${formatDate(release.setAt)}`)),
        ),
  );
}

function renderPolicy(status: AppStatus | undefined, owner: string | undefined): void {
  if (status === undefined) {
    byId("policy").replaceChildren(h("p", {}, "Owner: ", owner === undefined ? "unknown" : hexNode(owner)));
    return;
  }
  const row = (label: string, ...value: (Node | string)[]) => h("tr", {}, h("th", {}, label), h("td", {}, ...value));
  byId("policy").replaceChildren(
    h(
      "table",
      { class: "policy" },
      row("Notice", formatNotice(status.noticePeriod)),
      row("Upgrades", status.upgradesDisabled ? "disabled for good" : "enabled (each waits the notice)"),
      row(
        "Owner",
        hexNode(status.owner, { id: "owner" }),
        ...(status.pendingOwner ? [" → ", hexNode(status.pendingOwner), " (must accept)"] : []),
      ),
      row("TCB", status.requireTcbUpToDate ? '"UpToDate" required' : "out-of-date accepted"),
      row(
        `Allowed hashes (${status.composeHashes.length})`,
        ...status.composeHashes.map((entry) =>
          h(
            "div",
            {},
            hexNode(entry.composeHash),
            entry.isCurrentRelease ? h("strong", {}, " (current)") : null,
            h("span", { class: "muted" }, ` allowed ${formatRelative(entry.allowedAt, status.timestamp)}`),
          ),
        ),
      ),
      olderReleasesRow(status, row),
      row(
        status.allowAnyDevice ? "Devices" : `Devices (${status.devices.length})`,
        ...(status.allowAnyDevice
          ? ["any device"]
          : status.devices.length === 0
            ? ["none: no device may boot it"]
            : status.devices.map((device) => h("div", {}, hexNode(device)))),
      ),
      osRow(status, row),
    ),
  );
}

/** Whether the app pins its OS: with a pin, a new OS waits the notice; without, the KMS owner decides at once. */
function osRow(status: AppStatus, row: (label: string, ...value: (Node | string)[]) => Node): Node {
  const pinned = OS_FIELDS.map((field, i) => ({ field, ...status.os[i]! })).filter((pin) => pin.pinned);
  return h(
    "tbody",
    { id: "os-pin", "data-pinned": String(pinned.length > 0) },
    pinned.length === 0
      ? row("OS", "not pinned: any OS image the KMS owner allows boots at once")
      : row(
          "OS (pinned)",
          ...pinned.flatMap((pin) => pin.values.map((value) => h("div", {}, `${pin.field.label} `, hexNode(value)))),
        ),
  );
}

/** The downgrade surface: how many older releases the owner could roll back to at once, and since when. */
function olderReleasesRow(status: AppStatus, row: (label: string, ...value: (Node | string)[]) => Node): Node {
  const older = otherAllowedReleases(status);
  return h(
    "tbody",
    { id: "older-releases", "data-count": String(older.length) },
    older.length === 0
      ? row("Older releases", "none allowed: no downgrade possible")
      : row(
          `Older releases (${older.length})`,
          h("strong", {}, "the owner can roll back to any of these at once: "),
          ...older.map((entry) =>
            h(
              "div",
              {},
              hexNode(entry.composeHash),
              h("span", { class: "muted" }, ` allowed ${formatRelative(entry.allowedAt, status.timestamp)}`),
            ),
          ),
        ),
  );
}

function renderHistory(history: HistoryEntry[]): void {
  byId("history").replaceChildren(
    ...[...history].reverse().map((entry) =>
      h(
        "tr",
        {
          class: entry.event === "ChangeProposed" ? "urgent" : "",
          "data-event": entry.event,
          ...(entry.refused === undefined ? {} : { "data-refused": "" }),
        },
        h("td", { class: "time" }, richText(formatDate(entry.timestamp))),
        h("td", { class: "block" }, `#${entry.blockNumber}`),
        h("td", { class: "event" }, entry.event),
        h("td", { class: "details" }, richText(entry.description)),
      ),
    ),
  );
}

const TLS_KEY_SET = registryAgentInterface.getEvent("TlsKeySet")!;
const isZero = (hash: string) => /^0x0{64}$/.test(hash);

/**
 * The app's TLS key as the registry publishes it (`tlsKey()`), and every `TlsKeySet` event: the first publication,
 * then each change, flagged: every member derives one key from the shared secret, so a new key means a new secret.
 */
async function renderTlsKey(provider: JsonRpcProvider, toBlock: number): Promise<void> {
  if (registry === undefined) return;
  byId("tls-section").hidden = false;
  const published = await readAppTlsKey(registry, provider, app, rpc);
  const logs = await provider.getLogs({ address: registry, topics: [TLS_KEY_SET.topicHash], fromBlock, toBlock });
  const rows = logs.map((log) => {
    const decoded = decodeEventLog(TLS_KEY_SET, log);
    const refused = decoded.problems.length === 0 ? undefined : decoded.problems.join("; ");
    const previous = String(decoded.values["previous"]);
    const changed = refused === undefined && !isZero(previous);
    return h(
      "li",
      {
        class: changed ? "urgent" : "",
        "data-block": String(log.blockNumber),
        ...(changed ? { "data-changed": "" } : {}),
        ...(refused === undefined ? {} : { "data-refused": "" }),
      },
      `#${log.blockNumber} `,
      refused !== undefined
        ? richText(describeRefusedLog("TlsKeySet", log, refused))
        : changed
          ? h(
              "span",
              {},
              h("strong", {}, "CHANGED: "),
              hexNode(String(decoded.values["spkiSha256"])),
              " replaces ",
              hexNode(previous),
              " — a new key means a new shared secret: check it with verify-app before trusting the app's certificate",
            )
          : h("span", {}, "published ", hexNode(String(decoded.values["spkiSha256"]))),
      h("span", { class: "muted" }, " by the genesis member ", hexNode(String(decoded.values["node"]))),
    );
  });
  byId("tls").replaceChildren(
    published.spkiSha256 === undefined
      ? h("p", { class: "muted", id: "tls-key-none" }, "None published yet: the genesis member has no secret yet.")
      : h("div", {}, hexNode(published.spkiSha256, { id: "tls-key" })),
    h("ul", { id: "tls-history", class: "refused" }, ...rows),
  );
}

const showCt = params.get("ct") === "1";

/**
 * The certificates certificate-transparency data shows for the app's domain, as the status-page task found them
 * (ct.json, from this page's own origin): the page cannot check a log's signatures itself, so the task checks them
 * with the watcher `watch-certs` uses. A certificate whose key is not the app's is flagged; so is a log check that
 * failed. Every string in it came from CT data: it is shown as text, never as markup.
 */
async function renderCt(): Promise<void> {
  const response = await fetch("ct.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`ct.json: HTTP ${response.status}`);
  const feed = (await response.json()) as CertFeedSnapshot;
  byId("ct-section").hidden = false;
  const what =
    feed.source === "log" ? "the CT log" : "the search API (its list is a claim; the certificates are checked)";
  const summary = h(
    "p",
    { id: "ct-summary", class: feed.foreign > 0 ? "urgent" : "" },
    `${feed.certificates} certificate(s) for ${feed.domain} in ${what} ${feed.url}` +
      (feed.foreign > 0 ? `; ${feed.foreign} with a FOREIGN key` : "; none with a foreign key") +
      `. Read to ${feed.source === "log" ? "entry" : "id"} ${feed.next ?? "?"}` +
      (feed.lastPass === undefined ? "." : ` (${feed.lastPass.at.replace(/\.\d+Z$/, "Z")}).`),
  );
  const problem =
    feed.lastPass?.problem === undefined
      ? undefined
      : h("p", { class: "banner", id: "ct-problem" }, `The last read failed: ${feed.lastPass.problem}`);
  const items = feed.events.map((event) => {
    const cert = event.certificate;
    const label =
      event.severity === "urgent"
        ? event.check === undefined
          ? "FOREIGN KEY"
          : "LOG MISBEHAVED"
        : event.severity === "warn"
          ? "NOT EVIDENCE"
          : event.severity === "refused"
            ? "refused"
            : "the app's key";
    return h(
      "li",
      { class: event.severity, "data-severity": event.severity, "data-index": String(event.index) },
      h("strong", {}, `${label} `),
      h("span", { class: "muted" }, `#${event.index} `),
      ...(cert === undefined
        ? []
        : [
            h("span", { class: "names" }, `${cert.kind} for ${cert.dnsNames.join(", ")} `),
            hexNode(cert.spkiSha256),
            h(
              "span",
              { class: "muted" },
              ` ${cert.issuer === undefined ? "" : `issued by ${cert.issuer}, `}valid ${cert.notBefore.slice(0, 10)} – ${cert.notAfter.slice(0, 10)}`,
            ),
          ]),
      h("div", { class: "muted" }, event.reason),
    );
  });
  byId("ct").replaceChildren(
    summary,
    ...(problem === undefined ? [] : [problem]),
    h("ul", { id: "ct-list", class: "refused" }, ...items),
  );
}

/** Refused events seen by the watcher since the page opened, newest first, at most this many. */
const MAX_REFUSED_SHOWN = 20;

/**
 * Lists a log the watcher refused (anyone can register with the registry, with strings that are not UTF-8): one line
 * with why, as text. The page goes on following the chain; nothing else is taken from the log.
 */
function noteRefused(event: WatchedEvent): void {
  const list = byId("refused");
  list.prepend(
    h(
      "li",
      { "data-event": event.event, "data-block": String(event.blockNumber), "data-log": String(event.logIndex) },
      h("span", { class: "time" }, richText(formatDate(event.blockTimestamp))),
      " ",
      richText(event.description),
    ),
  );
  while (list.children.length > MAX_REFUSED_SHOWN) list.lastElementChild?.remove();
  byId("refused-section").hidden = false;
}

/** The address is not an AppAuth at all: there is no stage to show, only why (lib/devproof-report.ts). */
class NotAnAppAuth extends Error {}

async function refresh(provider: JsonRpcProvider): Promise<number> {
  const snapshot = await readDevProofSnapshot(provider, app);
  const notAppAuth = notAnAppAuth(snapshot);
  if (notAppAuth !== undefined) throw new NotAnAppAuth(notAppAuth);
  chainOffset = Number(snapshot.timestamp) - Math.floor(Date.now() / 1000);
  const report = buildReport(snapshot);
  renderStage(report);
  renderReport(report, snapshot.timelocked);
  renderProposals(snapshot.timelocked);
  renderRelease(snapshot.timelocked);
  renderPolicy(snapshot.timelocked, snapshot.owner);
  const history = await readHistory(TimelockedAppAuth__factory.connect(app, provider), {
    fromBlock,
    toBlock: snapshot.blockNumber,
  });
  renderHistory(history);
  await renderTlsKey(provider, snapshot.blockNumber);
  byId("subject").replaceChildren(
    `${snapshot.timelocked ? "TimelockedAppAuth" : "AppAuth"} `,
    hexNode(app),
    ` on chain ${snapshot.chainId}, read from ${rpc}`,
  );
  byId("footer").textContent =
    `Block ${snapshot.blockNumber} (${formatDate(snapshot.timestamp)}, chain clock ${chainOffset >= 0 ? "+" : "-"}${formatDuration(Math.abs(chainOffset))} from this machine's). ` +
    "Updates as new events are confirmed.";
  document.body.dataset["block"] = String(snapshot.blockNumber);
  return snapshot.blockNumber;
}

async function main(): Promise<void> {
  if (rpc === "" || !isAddress(app)) {
    byId("setup").hidden = false;
    byId("stage").textContent = "?";
    return;
  }
  const provider = new JsonRpcProvider(rpc, undefined, { polling: false });
  let block: number;
  try {
    block = await refresh(provider);
  } catch (error) {
    if (error instanceof NotAnAppAuth) {
      const stage = byId("stage");
      stage.className = "badge";
      stage.dataset["stage"] = "none";
      stage.textContent = "? not an AppAuth";
      showBanner(`Nothing to grade: ${error.message}. Check the app address (app=) and that ${rpc} serves its chain.`);
      return;
    }
    showBanner(`Cannot read the app from ${rpc}: ${(error as Error).message}`);
    setTimeout(() => void main(), 5000);
    return;
  }
  showBanner(undefined);
  setInterval(tick, 1000);
  if (showCt) {
    const readCt = () =>
      renderCt().catch((error: Error) => {
        byId("ct-section").hidden = false;
        byId("ct").replaceChildren(h("p", { class: "banner" }, `Cannot read the CT data: ${error.message}`));
      });
    await readCt();
    setInterval(() => void readCt(), 5000);
  }

  // Follow new events with the watcher the command line uses; refresh the whole view after each batch.
  let refreshing: Promise<unknown> | undefined;
  let again = false;
  const scheduleRefresh = () => {
    if (refreshing !== undefined) {
      again = true;
      return;
    }
    refreshing = refresh(provider)
      .then(() => showBanner(undefined))
      .catch((error: Error) => showBanner(`Refresh failed: ${error.message}`))
      .finally(() => {
        refreshing = undefined;
        if (again) {
          again = false;
          scheduleRefresh();
        }
      });
  };
  const watcher = new Watcher({
    provider,
    app,
    registry,
    confirmations: 1,
    start: { after: { blockNumber: block, logIndex: null } },
    onEvent: (event) => {
      if (event.refused !== undefined) noteRefused(event);
      scheduleRefresh();
    },
  });
  await watcher.run({
    pollMs: 2000,
    onError: (error, attempt) =>
      showBanner(`The node did not answer (attempt ${attempt}): ${(error as Error).message}`),
    onPass: () => {
      if (refreshing === undefined) showBanner(undefined);
    },
  });
}

handleCopyAndExpand(document);
void main();
