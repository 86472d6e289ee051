import { readFile } from "node:fs/promises";
import path from "node:path";

import { expect } from "chai";

import type { VerifyAppResult } from "../../tasks/verify-app.js";
import { substituteQuoteVerifier } from "../../tasks/shared/quote-verifier.js";
import { deriveTlsKey } from "../../lib/tls/index.js";
import { sha256Hex } from "../../lib/composeHash.js";
import {
  COMPOSE_V1,
  DEVICE_A,
  HASH_V1,
  HASH_V2,
  INITIAL_URI,
  NOTICE,
  deployApp,
  ethers,
  networkHelpers,
  runTask,
} from "../tasks/helpers.js";
import { FIXTURE_TIME, TDX_FIXTURE_DIR, standInVerifier } from "../helpers/tee-stand-in.js";
import { startStandInMember, type StandInMember, type StandInMemberOptions } from "../helpers/tls-stand-in.js";

const SECRET = new Uint8Array(32).fill(0x42);
const COLLATERAL = path.join(new URL(TDX_FIXTURE_DIR).pathname, "tdx_quote_collateral.json");

/** examples/app-compose.v1.json: KMS-backed, images pinned, no operator variables (what the report wants). */
const EXAMPLE_COMPOSE = await readFile(new URL("../../examples/app-compose.v1.json", import.meta.url), "utf8");
const EXAMPLE_HASH = sha256Hex(new TextEncoder().encode(EXAMPLE_COMPOSE));

/** A TimelockedAppAuth whose current release is the example compose file, with a 7-day notice. */
async function deployExampleApp() {
  const [owner] = await ethers.getSigners();
  const appAuth = await ethers.deployContract("TimelockedAppAuth", [
    owner!.address,
    NOTICE,
    EXAMPLE_HASH,
    INITIAL_URI,
    [DEVICE_A],
    false,
    true,
  ]);
  return { app: await appAuth.getAddress() };
}

/** The levels of the lines by id. */
const levels = (result: VerifyAppResult) => Object.fromEntries(result.lines.map((line) => [line.id, line.level]));

describe("verify-app", function () {
  this.timeout(30_000);
  const members: StandInMember[] = [];
  let restore: (() => void) | undefined;

  async function member(options: Partial<StandInMemberOptions> & { app: string }): Promise<StandInMember> {
    const started = await startStandInMember({ secret: SECRET, composeHash: HASH_V1, ...options });
    members.push(started);
    return started;
  }

  async function verify(url: string, app: string, extra: Record<string, unknown> = {}) {
    const run = await runTask<VerifyAppResult>("verify-app", {
      url,
      app,
      collateral: COLLATERAL,
      at: FIXTURE_TIME,
      attestationPath: "/attestation",
      timeout: 5000,
      json: true,
      ...extra,
    });
    const result = JSON.parse(run.stdout) as VerifyAppResult;
    return { ...run, parsed: result, levels: levels(result) };
  }

  afterEach(async function () {
    restore?.();
    restore = undefined;
    await Promise.all(members.splice(0).map((m) => m.close()));
  });

  describe("with the TEE stand-in's quotes (the quote check substituted, every other check real)", function () {
    beforeEach(function () {
      restore = substituteQuoteVerifier(standInVerifier, "test stand-in (accepts any parseable TDX quote)");
    });

    it("passes an app whose two members serve the same attested key, allowed and current, at Stage 1", async function () {
      const { app } = await networkHelpers.loadFixture(deployExampleApp);
      const a = await member({ app, composeHash: EXAMPLE_HASH, appCompose: EXAMPLE_COMPOSE });
      const b = await member({ app, composeHash: EXAMPLE_HASH });
      expect(a.key.spkiSha256).to.equal(b.key.spkiSha256);
      for (const url of [a.url, b.url]) {
        const started = Date.now();
        const run = await verify(url, app, { tlsKey: a.key.spkiSha256 });
        const ms = Date.now() - started;
        expect(run.result.success, run.stdout).to.equal(true);
        expect(run.parsed.verdict).to.equal("PASS");
        expect(run.levels).to.include({
          "tls.certificate": "PASS",
          "tls.webpki": "INFO",
          "tls.expected-key": "PASS",
          "attestation.quote": "PASS",
          "attestation.binding": "PASS",
          "attestation.boot": "PASS",
          "attestation.app": "PASS",
          ...(url === a.url ? { "attestation.app-compose": "PASS" } : {}),
          "chain.allowed": "PASS",
          "chain.current": "PASS",
          "devproof.stage": "PASS",
        });
        expect(ms).to.be.below(5000);
      }
    });

    it("prints a table with the verdict, and says the quote check is substituted", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const a = await member({ app, appCompose: COMPOSE_V1 });
      const run = await runTask("verify-app", {
        url: a.url,
        app,
        collateral: COLLATERAL,
        at: FIXTURE_TIME,
        attestationPath: "/attestation",
        timeout: 5000,
      });
      // COMPOSE_V1 does not use the KMS: the report puts the app at Stage 0, and the verdict follows.
      expect(run.result.success).to.equal(false);
      expect(run.stdout).to.contain("SUBSTITUTE");
      expect(run.stdout).to.match(/PASS\s+the quote binds the served certificate's key/);
      expect(run.stdout).to.match(/FAIL\s+Stage 0: ruggable/);
      expect(run.stdout).to.contain("report FAIL: the KMS is not used");
      expect(run.stdout).to.contain("FAIL: not every check passed");
    });

    it("refuses a member that serves another key than the app's", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const appKey = deriveTlsKey(SECRET);
      const rogue = await member({ app, secret: new Uint8Array(32).fill(0x99) });
      const run = await verify(rogue.url, app, { tlsKey: appKey.spkiSha256 });
      expect(run.result.success).to.equal(false);
      expect(run.levels["tls.expected-key"]).to.equal("FAIL");
      expect(run.parsed.verdict).to.equal("FAIL");
    });

    it("refuses a quote that does not bind the served key (a host serving its own key beside a member's quote)", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const hostKey = deriveTlsKey(new Uint8Array(32).fill(0x77));
      const run = await verify((await member({ app, servedKey: hostKey, quotedKey: deriveTlsKey(SECRET) })).url, app);
      expect(run.result.success).to.equal(false);
      expect(run.levels["attestation.binding"]).to.equal("FAIL");
    });

    it("refuses a served compose hash that the policy does not allow", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await verify((await member({ app, composeHash: HASH_V2 })).url, app);
      expect(run.result.success).to.equal(false);
      expect(run.levels).to.include({
        "attestation.binding": "PASS",
        "chain.allowed": "FAIL",
        "chain.current": "FAIL",
      });
    });

    it("refuses an allowed compose hash that is no longer the current release", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      await appAuth.proposeComposeHash(HASH_V2, "https://example.org/v2.json");
      await networkHelpers.time.increase(NOTICE);
      await appAuth.activateComposeHash(HASH_V2);
      const run = await verify((await member({ app })).url, app);
      expect(run.result.success).to.equal(false);
      expect(run.levels).to.include({ "chain.allowed": "PASS", "chain.current": "FAIL" });
    });

    it("refuses a quote of another app", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await verify((await member({ app: `0x${"12".repeat(20)}` })).url, app);
      expect(run.levels["attestation.app"]).to.equal("FAIL");
      expect(run.result.success).to.equal(false);
    });

    it("refuses a served app-compose.json that is not the measured one", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await verify((await member({ app, appCompose: `${COMPOSE_V1} ` })).url, app);
      expect(run.levels["attestation.app-compose"]).to.equal("FAIL");
      expect(run.result.success).to.equal(false);
    });

    it("refuses a missing or malformed attestation document", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      for (const bad of [{ status: 404 }, { document: "not json" }, { document: '{"version":"v0"}' }]) {
        const run = await verify((await member({ app, ...bad })).url, app);
        expect(run.levels["attestation.document"], JSON.stringify(bad)).to.equal("FAIL");
        expect(run.result.success).to.equal(false);
      }
    });

    it("fails on an unreachable URL with one line, not a crash", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await verify("https://127.0.0.1:1", app);
      expect(run.result.success).to.equal(false);
      expect(run.levels).to.deep.equal({ "tls.reachable": "FAIL" });
      expect(run.parsed.lines[0]!.evidence).to.contain("ECONNREFUSED");
    });
  });

  describe("with Intel DCAP, as from the command line", function () {
    it("verifies the real fixture quote, and fails the binding it cannot have to a key made here", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await verify((await member({ app, realFixtureQuote: true })).url, app);
      expect(run.levels["attestation.quote"]).to.equal("PASS");
      expect(run.levels["attestation.binding"]).to.equal("FAIL");
      expect(run.result.success).to.equal(false);
    });

    it("refuses a stand-in quote: patching report_data breaks Intel's signature", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      const run = await verify((await member({ app })).url, app);
      expect(run.levels["attestation.quote"]).to.equal("FAIL");
      expect(run.parsed.lines.find((l) => l.id === "attestation.quote")!.evidence).to.match(/does not verify/);
    });
  });

  it("refuses bad input before touching the network", async function () {
    for (const [args, message] of [
      [{ url: "http://app.example", app: `0x${"11".repeat(20)}` }, "https://"],
      [{ url: "https://app.example" }, "--app is required"],
      [{ url: "https://app.example", app: `0x${"11".repeat(20)}`, tlsKey: "0x12" }, "--tls-key"],
    ] as const) {
      const run = await runTask("verify-app", { attestationPath: "/attestation", timeout: 1000, ...args });
      expect(run.errorMessage).to.contain(message);
    }
  });
});
