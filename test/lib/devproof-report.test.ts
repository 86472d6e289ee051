import { expect } from "chai";

import type { AppStatus } from "../../lib/appAuth.js";
import {
  assessCompose,
  buildReport,
  classifyVariable,
  notAnAppAuth,
  stageOf,
  substitutedVariables,
  type DevProofSnapshot,
  type ReportLine,
} from "../../lib/devproof-report.js";

const DAY = 86_400n;
const HASH = `0x${"11".repeat(32)}`;
const OTHER_HASH = `0x${"22".repeat(32)}`;
const OWNER = "0x00000000000000000000000000000000000000aa";

function status(overrides: Partial<AppStatus> = {}): AppStatus {
  return {
    address: "0x00000000000000000000000000000000000000a1",
    chainId: 31337n,
    blockNumber: 10,
    timestamp: 1_000_000n,
    owner: OWNER,
    pendingOwner: undefined,
    noticePeriod: 7n * DAY,
    minNoticePeriod: 3600n,
    maxNoticePeriod: 365n * DAY,
    gracePeriod: 14n * DAY,
    upgradesDisabled: false,
    allowAnyDevice: false,
    requireTcbUpToDate: true,
    composeHashes: [
      { composeHash: HASH, uri: "https://example.org/v1.json", isCurrentRelease: true, allowedAt: 999_000n },
    ],
    devices: [`0x${"a1".repeat(32)}`],
    os: [
      { pinned: false, values: [] },
      { pinned: false, values: [] },
    ],
    currentRelease: { composeHash: HASH, uri: "https://example.org/v1.json", setAt: 999_000n },
    proposals: [],
    ...overrides,
  };
}

function snapshot(overrides: Partial<DevProofSnapshot> = {}): DevProofSnapshot {
  return {
    app: "0x00000000000000000000000000000000000000a1",
    chainId: 31337n,
    blockNumber: 10,
    timestamp: 1_000_000n,
    hasCode: true,
    supportsAppAuth: true,
    timelocked: status(),
    supportsBasicManagement: false,
    proxy: {},
    owner: OWNER,
    ownerIsContract: false,
    ...overrides,
  };
}

const PINNED = `ghcr.io/example/app@sha256:${"ab".repeat(32)}`;

/** An app-compose.json around a docker-compose YAML text. */
function appCompose(yaml: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    allowed_envs: [],
    docker_compose_file: yaml,
    kms_enabled: true,
    manifest_version: 2,
    name: "t",
    runner: "docker-compose",
    ...fields,
  });
}

function composeLines(text: string, sha256 = HASH): ReportLine[] {
  const snap = snapshot();
  return assessCompose({ source: "app-compose.json", text, sha256, allowedOnChain: undefined }, snap);
}

const line = (lines: readonly ReportLine[], id: string) => {
  const found = lines.find((l) => l.id === id);
  if (found === undefined) throw new Error(`no line ${id} in ${lines.map((l) => l.id).join(", ")}`);
  return found;
};

describe("lib/devproof-report", function () {
  describe("stages", function () {
    it("is Stage 1 for a 7-day notice with a single-key owner: the EOA is a WARN, not a FAIL", function () {
      const report = buildReport(snapshot());
      expect(report.stage).to.equal(1);
      expect(line(report.lines, "notice.stage1").level).to.equal("PASS");
      expect(line(report.lines, "notice.stage2").level).to.equal("WARN");
      expect(line(report.lines, "owner").level).to.equal("WARN");
    });

    it("is Stage 2 style for a 30-day notice, and Stage 0 for a 1-hour one", function () {
      expect(buildReport(snapshot({ timelocked: status({ noticePeriod: 30n * DAY }) })).stage).to.equal(2);
      const short = buildReport(snapshot({ timelocked: status({ noticePeriod: 3600n }) }));
      expect(short.stage).to.equal(0);
      expect(line(short.lines, "notice.stage1")).to.include({ level: "FAIL" });
      expect(line(short.lines, "notice.stage1").evidence).to.contain("1h 0m (3600 s)");
    });

    it("calls any other AppAuth Stage 0: an instant upgrade path", function () {
      const report = buildReport(snapshot({ timelocked: undefined, supportsBasicManagement: true }));
      expect(report.stage).to.equal(0);
      expect(line(report.lines, "upgrade-path")).to.include({ level: "FAIL", title: "instant upgrade path: Stage 0" });
      expect(line(report.lines, "upgrade-path").evidence).to.contain("addComposeHash");
    });

    it("calls an EIP-1967 proxy Stage 0 even when it answers as a TimelockedAppAuth", function () {
      const report = buildReport(snapshot({ proxy: { implementation: OWNER } }));
      expect(report.stage).to.equal(0);
      expect(line(report.lines, "contract.proxy").evidence).to.contain(`implementation ${OWNER}`);
    });

    it("passes the notice lines when upgrades are disabled for good", function () {
      const report = buildReport(snapshot({ timelocked: status({ upgradesDisabled: true, noticePeriod: 3600n }) }));
      expect(report.stage).to.equal(2);
      expect(line(report.lines, "upgrades").level).to.equal("PASS");
    });

    it("warns about each pending widening proposal with the time left", function () {
      const report = buildReport(
        snapshot({
          timelocked: status({
            proposals: [
              {
                id: `0x${"cd".repeat(32)}`,
                kind: "AddComposeHash",
                value: OTHER_HASH,
                readyAt: 1_000_000n + 3n * DAY,
                expiresAt: 1_000_000n + 17n * DAY,
                state: "Waiting",
                uri: "https://example.org/v2.json",
              },
            ],
          }),
        }),
      );
      const pending = line(report.lines, "proposal.0xcdcdcdcd");
      expect(pending.level).to.equal("WARN");
      expect(pending.title).to.equal(`pending widening change: add compose hash ${OTHER_HASH}`);
      expect(pending.evidence).to.contain("ready in 3d 0h 0m").and.contain("https://example.org/v2.json");
      expect(report.stage).to.equal(1);
    });

    it("warns about older releases still allowed, with their count and ages, oldest first; passes when none", function () {
      expect(line(buildReport(snapshot()).lines, "release.downgrade").level).to.equal("PASS");
      const THIRD = `0x${"33".repeat(32)}`;
      const report = buildReport(
        snapshot({
          timelocked: status({
            composeHashes: [
              { composeHash: HASH, uri: "u1", isCurrentRelease: true, allowedAt: 1_000_000n - DAY },
              { composeHash: THIRD, uri: "u3", isCurrentRelease: false, allowedAt: 1_000_000n - 2n * DAY },
              { composeHash: OTHER_HASH, uri: "u2", isCurrentRelease: false, allowedAt: 1_000_000n - 40n * DAY },
            ],
          }),
        }),
      );
      const downgrade = line(report.lines, "release.downgrade");
      expect(downgrade.level).to.equal("WARN");
      expect(downgrade.title).to.contain("2 older release(s) still allowed");
      expect(downgrade.evidence).to.contain(`${OTHER_HASH} (allowed 40d 0h 0m ago), ${THIRD} (allowed 2d 0h 0m ago)`);
      expect(downgrade.evidence).to.not.contain(HASH);
      expect(report.stage).to.equal(1, "a WARN does not change the stage");
    });

    it("names a contract owner, a missing KMS registration and a missing contract", function () {
      expect(line(buildReport(snapshot({ ownerIsContract: true })).lines, "owner").level).to.equal("PASS");
      const unregistered = buildReport(snapshot({ kms: { address: OWNER, registered: false } }));
      expect(line(unregistered.lines, "kms.registered").level).to.equal("FAIL");
      expect(unregistered.stage).to.equal(0);
      expect(buildReport(snapshot({ hasCode: false })).lines.map((l) => l.id)).to.deep.equal(["contract.code"]);
    });

    it("grades nothing of an address that is not an AppAuth: one FAIL line that says what it is", function () {
      const probed = { timelocked: undefined, supportsAppAuth: false, answersErc165: false };
      const cases: Array<[Partial<DevProofSnapshot>, string | undefined]> = [
        [{ ...probed, isAppAllowedProbe: "answers" }, undefined], // dstack's AppAuth before ERC-165
        [{ isAppAllowedProbe: "answers" }, undefined],
        [{}, undefined], // not probed: judged by ERC-165 as before
        [
          { ...probed, isAppAllowedProbe: "reverts" },
          "it has no ERC-165 (supportsInterface reverts), and isAppAllowed",
        ],
        [
          { ...probed, answersErc165: true, isAppAllowedProbe: "reverts" },
          "supportsInterface(0x1e079198) is false, and isAppAllowed",
        ],
        [
          { isAppAllowedProbe: "reverts" },
          "it says it implements IAppAuth (supportsInterface(0x1e079198) is true), but",
        ],
        [{ isKms: true, isAppAllowedProbe: "answers" }, "is a dstack KMS"],
        [{ hasCode: false }, "there is no contract at"],
      ];
      for (const [overrides, expected] of cases) {
        const snap = snapshot(overrides);
        const reason = notAnAppAuth(snap);
        if (expected === undefined) {
          expect(reason, JSON.stringify(overrides)).to.equal(undefined);
          continue;
        }
        expect(reason).to.contain(expected);
        if (overrides.hasCode === false) continue; // its own line, "contract.code", as before
        const lines = buildReport(snap).lines;
        expect(lines).to.have.length(1);
        expect(lines[0]!.evidence).to.equal(reason);
        expect(lines[0]!.title).to.not.contain("upgrade path");
      }
    });

    it("stageOf: a FAIL anywhere is Stage 0; a WARN only on a Stage-2 line caps it at 1", function () {
      const l = (level: ReportLine["level"], stage?: 1 | 2): ReportLine => ({
        id: "x",
        level,
        title: "",
        evidence: "",
        ...(stage ? { stage } : {}),
      });
      expect(stageOf([l("PASS", 1), l("FAIL")])).to.equal(0);
      expect(stageOf([l("PASS", 1), l("WARN", 2)])).to.equal(1);
      expect(stageOf([l("PASS", 1), l("WARN"), l("PASS", 2)])).to.equal(2);
    });
  });

  describe("the OS pin", function () {
    const IMAGE = `0x${"0a".repeat(32)}`;
    const MR_SYSTEM = `0x${"5e".repeat(32)}`;

    it("warns that an app that does not pin boots any OS the KMS owner allows, at once; the stage is unchanged", function () {
      const report = buildReport(snapshot());
      expect(line(report.lines, "kms.os-pin")).to.include({
        level: "WARN",
        title: "the app does not pin its OS: it boots any OS image the KMS owner allows, at once",
      });
      expect(report.stage).to.equal(1);
    });

    it("passes, naming the pinned values, when the app pins one field or both", function () {
      const pinned = buildReport(
        snapshot({
          timelocked: status({
            os: [
              { pinned: true, values: [MR_SYSTEM] },
              { pinned: true, values: [IMAGE] },
            ],
          }),
        }),
      );
      expect(line(pinned.lines, "kms.os-pin")).to.include({
        level: "PASS",
        title: "the app pins its OS: a new OS waits the notice",
      });
      expect(line(pinned.lines, "kms.os-pin").evidence).to.contain(
        `unless mrSystem ∈ {${MR_SYSTEM}} and OS image hash ∈ {${IMAGE}}`,
      );
      const imageOnly = buildReport(
        snapshot({
          timelocked: status({
            os: [
              { pinned: false, values: [] },
              { pinned: true, values: [IMAGE] },
            ],
          }),
        }),
      );
      expect(line(imageOnly.lines, "kms.os-pin").evidence).to.contain(`unless OS image hash ∈ {${IMAGE}} (`);
    });

    it("says only what pinning would change for a contract that is not a TimelockedAppAuth, and only with --kms", function () {
      const other = snapshot({ timelocked: undefined, supportsBasicManagement: true });
      expect(buildReport(other).lines.map((l) => l.id)).to.not.include("kms.os-pin");
      const withKms = buildReport({
        ...other,
        kms: { address: OWNER, registered: true, owner: OWNER, ownerIsContract: false },
      });
      expect(line(withKms.lines, "kms.os-pin")).to.include({ level: "INFO", title: "what pinning the OS changes" });
      expect(line(withKms.lines, "kms.os-pin").evidence).to.contain("whether it pins its OS is not read");
    });
  });

  describe("the compose file", function () {
    const clean = `services:\n  app:\n    image: ${PINNED}\n    volumes:\n      - /var/run/dstack.sock:/var/run/dstack.sock\n`;

    it("passes a pinned, KMS-backed file whose hash is the current release", function () {
      const lines = composeLines(appCompose(clean));
      for (const id of [
        "compose.hash",
        "compose.release",
        "compose.kms",
        "compose.images",
        "compose.env",
        "compose.switches",
      ]) {
        expect(line(lines, id).level, id).to.equal("PASS");
      }
    });

    it("fails a file whose hash is not allowed, and warns when it is allowed but not the current release", function () {
      expect(line(composeLines(appCompose(clean), OTHER_HASH), "compose.hash").level).to.equal("FAIL");
      const snap = snapshot({
        timelocked: status({
          composeHashes: [
            { composeHash: HASH, uri: "u1", isCurrentRelease: false, allowedAt: 1n },
            { composeHash: OTHER_HASH, uri: "u2", isCurrentRelease: true, allowedAt: 1n },
          ],
          currentRelease: { composeHash: OTHER_HASH, uri: "u2", setAt: 1n },
        }),
      });
      const lines = assessCompose(
        { source: "f", text: appCompose(clean), sha256: HASH, allowedOnChain: undefined },
        snap,
      );
      expect(line(lines, "compose.hash").level).to.equal("PASS");
      expect(line(lines, "compose.release").level).to.equal("WARN");
    });

    it("fails an image without a digest, and one built at boot", function () {
      const lines = composeLines(appCompose("services:\n  app:\n    image: nginx:latest\n  b:\n    build: .\n"));
      const images = line(lines, "compose.images");
      expect(images.level).to.equal("FAIL");
      expect(images.evidence).to.contain("app: nginx:latest").and.contain("b (build");
    });

    it("fails operator variables that redirect data, naming them and where they land", function () {
      const text = appCompose(
        `services:\n  app:\n    image: ${PINNED}\n    environment:\n      FORWARD_TO: \${TARGET_X}\n`,
        {
          allowed_envs: ["API_URL", "TARGET_X", "WEBHOOK"],
        },
      );
      const redirect = line(composeLines(text), "compose.env.redirect");
      expect(redirect.level).to.equal("FAIL");
      expect(redirect.title).to.contain("API_URL").and.contain("TARGET_X").and.contain("WEBHOOK");
      expect(redirect.evidence).to.contain("TARGET_X -> services.app.environment.FORWARD_TO");
      expect(redirect.evidence).to.contain("API_URL (in allowed_envs)");
    });

    it("judges a variable by where it lands: a harmless name in image: picks the code", function () {
      const text = appCompose(`services:\n  app:\n    image: ghcr.io/x/app:\${RELEASE}\n`, {
        allowed_envs: ["RELEASE"],
      });
      const lines = composeLines(text);
      expect(line(lines, "compose.env.code")).to.include({ level: "FAIL" });
      expect(line(lines, "compose.images").level).to.equal("FAIL");
    });

    it("warns about operator credentials, fails operator debug switches, lists the rest", function () {
      const text = appCompose(
        `services:\n  app:\n    image: ${PINNED}\n    environment:\n      - OPENAI_API_KEY\n      - "LEVEL=\${LOG_LEVEL}"\n      - DEBUG\n`,
        { allowed_envs: ["OPENAI_API_KEY", "LOG_LEVEL", "DEBUG"] },
      );
      const lines = composeLines(text);
      expect(line(lines, "compose.env.credentials").level).to.equal("WARN");
      expect(line(lines, "compose.env.debug").level).to.equal("FAIL");
      expect(line(lines, "compose.env.other")).to.include({ level: "INFO" });
      expect(line(lines, "compose.env.other").title).to.contain("LOG_LEVEL");
    });

    it("treats every substitution as operator-set when there is no allowed_envs list", function () {
      const text = appCompose(`services:\n  app:\n    image: ${PINNED}\n    command: ["--db", "\${DATABASE_URL}"]\n`, {
        allowed_envs: undefined,
      });
      const lines = composeLines(text);
      expect(line(lines, "compose.allowed-envs").level).to.equal("WARN");
      expect(line(lines, "compose.env.code").title).to.contain("DATABASE_URL");
    });

    it("fails a file without the KMS, or with a local key provider", function () {
      expect(line(composeLines(appCompose(clean, { kms_enabled: false })), "compose.kms").level).to.equal("FAIL");
      const local = composeLines(appCompose(clean, { local_key_provider_enabled: true }));
      expect(line(local, "compose.local-key-provider").level).to.equal("FAIL");
    });

    it("fails a KMS-backed file that does not pin its KMS, and checks a pin against the CA key the KMS publishes", function () {
      const ca = `0x3059301306072a8648ce3d020106082a8648ce3d030107034200${"04".padEnd(130, "7")}`;
      const pinLine = (fields: Record<string, unknown>, kms?: DevProofSnapshot["kms"]) =>
        line(
          assessCompose(
            { source: "app-compose.json", text: appCompose(clean, fields), sha256: HASH, allowedOnChain: undefined },
            snapshot({ kms }),
          ),
          "compose.key-provider",
        );
      const kms = (caPubkey: string | undefined) => ({
        address: "0x00000000000000000000000000000000000000c1",
        registered: true,
        caPubkey,
      });
      for (const unpinned of [{}, { key_provider_id: "" }, { key_provider_id: "  " }, { key_provider_id: null }]) {
        const refused = pinLine(unpinned, kms(ca));
        expect(refused.level, JSON.stringify(unpinned)).to.equal("FAIL");
        expect(refused.evidence).to.contain("whatever KMS its host names");
      }
      expect(pinLine({ key_provider_id: ca.slice(2) }).level).to.equal("WARN"); // no --kms: nothing to compare with
      expect(pinLine({ key_provider_id: ca.slice(2) }, kms(undefined)).level).to.equal("WARN"); // a KMS without kmsInfo
      expect(pinLine({ key_provider_id: ca.slice(2) }, kms(ca)).level).to.equal("PASS");
      expect(pinLine({ key_provider_id: ca.slice(2).toUpperCase() }, kms(ca)).level).to.equal("PASS");
      const other = pinLine({ key_provider_id: `${ca.slice(2, -2)}00` }, kms(ca));
      expect(other.level).to.equal("FAIL");
      expect(other.title).to.equal("the KMS pinned is another one");
      // Without the KMS at all there is no key provider to pin: that is the compose.kms FAIL, not this line.
      const withoutKms = composeLines(appCompose(clean, { kms_enabled: false }));
      expect(withoutKms.some((l) => l.id === "compose.key-provider")).to.equal(false);
    });

    it("fails the Docker socket and debugger flags; warns about privileged, host namespaces, debug modes, env files", function () {
      const yaml =
        `services:\n  app:\n    image: ${PINNED}\n    command: node --inspect=0.0.0.0:9229 server.js\n` +
        `    privileged: true\n    network_mode: host\n    env_file: extra.env\n    environment:\n      NODE_ENV: development\n` +
        `    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n`;
      const lines = composeLines(appCompose(yaml));
      expect(line(lines, "compose.docker-socket").level).to.equal("FAIL");
      expect(line(lines, "compose.debugger").evidence).to.contain("--inspect=0.0.0.0:9229");
      expect(line(lines, "compose.privileged").level).to.equal("WARN");
      expect(line(lines, "compose.host-namespaces").level).to.equal("WARN");
      expect(line(lines, "compose.debug-mode").evidence).to.contain("NODE_ENV=development");
      expect(line(lines, "compose.env-file").level).to.equal("WARN");
      expect(lines.some((l) => l.id === "compose.switches")).to.equal(false);
    });

    it("only warns about the Docker socket in this app's guest agent, pinned and pointed at this policy", function () {
      const agent = (image: string, appAuth: string) =>
        `services:\n  devproof-agent:\n    image: ${image}\n    environment:\n      DEVPROOF_APP_AUTH: "${appAuth}"\n` +
        `    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n`;
      const app = snapshot().app;
      const ours = composeLines(appCompose(agent(PINNED, app.toLowerCase())));
      expect(line(ours, "compose.docker-socket-agent").level).to.equal("WARN");
      expect(ours.some((l) => l.id === "compose.docker-socket")).to.equal(false);
      const otherApp = composeLines(appCompose(agent(PINNED, "0x000000000000000000000000000000000000dEaD")));
      expect(line(otherApp, "compose.docker-socket").level).to.equal("FAIL");
      const unpinned = composeLines(appCompose(agent("ghcr.io/example/devproof-agent:latest", app)));
      expect(line(unpinned, "compose.docker-socket").level).to.equal("FAIL");
    });

    it("warns when this app's guest agent opts out of the RPC quorum, lists one provider, or one provider twice", function () {
      const app = snapshot().app;
      const agent = (urls: string | undefined, quorum?: string) =>
        `services:\n  devproof-agent:\n    image: ${PINNED}\n    environment:\n      DEVPROOF_APP_AUTH: "${app}"\n` +
        (urls === undefined ? "" : `      DEVPROOF_RPC_URLS: "${urls}"\n`) +
        (quorum === undefined ? "" : `      DEVPROOF_RPC_QUORUM: "${quorum}"\n`);
      const rpc = (yaml: string) => line(composeLines(appCompose(yaml)), "compose.agent-rpc-quorum");
      const three = "https://base.a-rpc.example/key,https://rpc.b-node.example,https://c-chain.example";

      expect(rpc(agent(three, "2"))).to.deep.include({
        level: "INFO",
        title: "the guest agent needs 2 of 3 RPC providers to agree",
      });
      expect(rpc(agent(three))).to.deep.include({ level: "INFO" });
      const optedOut = rpc(agent(three, "none"));
      expect(optedOut).to.deep.include({ level: "WARN", title: "the guest agent opts out of the RPC quorum" });
      expect(optedOut.evidence).to.contain("DEVPROOF_RPC_QUORUM=none");
      expect(optedOut.evidence).to.not.contain("/key");
      expect(rpc(agent("https://rpc.only.example", "none")).title).to.equal(
        "the guest agent opts out of the RPC quorum",
      );
      expect(rpc(agent("https://rpc.only.example"))).to.deep.include({
        level: "WARN",
        title: "the guest agent lists one RPC provider",
      });
      expect(rpc(agent(undefined)).title).to.equal("the guest agent's RPC URLs are not in the measured file");
      const oneProvider = rpc(agent("https://rpc-1.example.org,https://rpc-2.example.org,https://rpc-3.example.org"));
      expect(oneProvider).to.deep.include({
        level: "WARN",
        title: "the guest agent's RPC URLs are not independent providers",
      });
      expect(oneProvider.evidence).to.contain("3 URLs of 1 provider(s) (example.org)");
      // Another app's agent, or no agent: no line.
      const other = composeLines(
        appCompose(agent(three, "none").replace(app, "0x000000000000000000000000000000000000dEaD")),
      );
      expect(other.some((l) => l.id === "compose.agent-rpc-quorum")).to.equal(false);
    });

    it("fails a file that is not JSON, or whose docker-compose part is not YAML", function () {
      expect(line(composeLines("{nope"), "compose.parse").level).to.equal("FAIL");
      expect(line(composeLines(appCompose("services: [unclosed")), "compose.parse").evidence).to.contain(
        "not valid YAML",
      );
    });

    it("finds substitutions but not escaped dollars, and classifies names", function () {
      expect(substitutedVariables("a $A ${B} ${C:-x} $${D} $$E")).to.deep.equal(["A", "B", "C"]);
      expect(classifyVariable("BACKUP_S3_BUCKET")).to.equal("redirect");
      expect(classifyVariable("RPC_URL")).to.equal("redirect");
      expect(classifyVariable("NODE_OPTIONS")).to.equal("code");
      expect(classifyVariable("API_TOKEN")).to.equal("credential");
      expect(classifyVariable("DEV_MODE")).to.equal("debug");
      expect(classifyVariable("PORT")).to.equal("other");
    });
  });
});
