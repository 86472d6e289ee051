import { expect } from "chai";

import { NegativeAnswer } from "../../lib/errors.js";
import type { KmsInfoResult } from "../../tasks/kms-info.js";
import type { RegistrationResult } from "../../tasks/shared/kms.js";
import type { CheckBootResult } from "../../tasks/check-boot.js";
import {
  DEVICE_A,
  DEVICE_B,
  deployApp,
  ethers,
  HASH_V1,
  HASH_V2,
  NOTICE,
  networkHelpers,
  runTask,
  runTaskOk,
} from "./helpers.js";

const OS_IMAGE = `0x${"05".repeat(32)}`;
const OTHER_OS_IMAGE = `0x${"06".repeat(32)}`;
const NOBODY = "0x000000000000000000000000000000000000dEaD";

/** An app (release v1, device A, up-to-date TCB required) and a KMS stand-in that allows one OS image. */
async function deployAppAndKms() {
  const deployed = await deployApp();
  const kms = await ethers.deployContract("KmsStandIn", [deployed.owner.address]);
  await kms.addOsImageHash(OS_IMAGE);
  return { ...deployed, kms, kmsAddress: await kms.getAddress() };
}

const latestBlock = () => ethers.provider.getBlockNumber();

describe("register-app", function () {
  it("registers an app with the KMS; run again, it sends nothing and says so", async function () {
    const { app, kms, kmsAddress, stranger } = await networkHelpers.loadFixture(deployAppAndKms);
    const first = await runTaskOk<RegistrationResult>("register-app", { app, kms: kmsAddress, from: stranger.address });
    expect(first.value).to.deep.include({ kms: kmsAddress, app, alreadyRegistered: false });
    expect(first.stdout).to.include(`Transaction ${first.value.txHash} sent`);
    expect(await kms.registeredApps(app)).to.equal(true);

    const blockBefore = await latestBlock();
    const again = await runTaskOk<RegistrationResult>("register-app", { app, kms: kmsAddress });
    expect(again.value).to.deep.include({ alreadyRegistered: true, txHash: null });
    expect(again.stdout).to.include(`App ${app} is already registered with KMS ${kmsAddress}: nothing sent.`);
    expect(await latestBlock()).to.equal(blockBefore);
  });

  it("refuses an app address without code, or a contract that is not a dstack IAppAuth", async function () {
    const { kmsAddress } = await networkHelpers.loadFixture(deployAppAndKms);
    expect((await runTask("register-app", { app: NOBODY, kms: kmsAddress })).errorMessage).to.equal(
      `no contract at --app ${NOBODY} on network "default" (chain 31337): check --app and --network`,
    );
    const token = "0x00000000000000000000000000000000C0FfeE00";
    await networkHelpers.setCode(token, "0x60206000f3"); // answers 32 zero bytes (false) to any call
    expect((await runTask("register-app", { app: token, kms: kmsAddress })).errorMessage).to.equal(
      `the contract at ${token} on network "default" (chain 31337) does not implement dstack's IAppAuth ` +
        "(supportsInterface(0x1e079198) is not true, and isAppAllowed(bootInfo) does not answer): the KMS could never " +
        "ask it; check --app",
    );
  });

  it("registers an AppAuth without ERC-165 (dstack's before June 2025): it answers isAppAllowed", async function () {
    const { kmsAddress } = await networkHelpers.loadFixture(deployAppAndKms);
    const [owner] = await ethers.getSigners();
    const legacy = await ethers.deployContract("LegacyAppAuth", [owner!.address, `0x${"11".repeat(32)}`]);
    const run = await runTask("register-app", { app: await legacy.getAddress(), kms: kmsAddress });
    expect(run.errorMessage).to.equal("");
    expect(
      await (await ethers.getContractAt("KmsStandIn", kmsAddress)).registeredApps(await legacy.getAddress()),
    ).to.equal(true);
  });

  describe("kms-info", function () {
    it("prints the keys the KMS publishes and the key_provider_id that pins it", async function () {
      const { kmsAddress } = await networkHelpers.loadFixture(deployAppAndKms);
      const kms = await ethers.getContractAt("KmsStandIn", kmsAddress);
      const ca = `0x3059301306072a8648ce3d020106082a8648ce3d030107034200${"04".padEnd(130, "c")}`;
      const root = ethers.Wallet.createRandom().signingKey.compressedPublicKey;
      await kms.setKmsInfo({ k256Pubkey: root, caPubkey: ca, quote: "0x", eventlog: "0x" });
      const run = await runTask<KmsInfoResult>("kms-info", { kms: kmsAddress });
      expect(run.errorMessage).to.equal("");
      expect(run.stdout).to.contain(`"key_provider_id": "${ca.slice(2)}"`);
      expect(run.stdout).to.contain(`root key:  ${root}`);
      if (!run.result.success) throw new Error("failed");
      expect(run.result.value.keyProviderId).to.equal(ca.slice(2));
      expect(run.result.value.rootAddress).to.equal(ethers.computeAddress(root));
    });

    it("says so when the KMS publishes nothing yet, or is not a KMS", async function () {
      const { kmsAddress, app } = await networkHelpers.loadFixture(deployAppAndKms);
      expect((await runTask("kms-info", { kms: kmsAddress })).errorMessage).to.match(
        /^the KMS at 0x[0-9a-fA-F]{40} on network "default" \(chain 31337\) publishes no keys yet/,
      );
      expect((await runTask("kms-info", { kms: app })).errorMessage).to.contain("it is not a dstack KMS");
    });
  });

  it("refuses a --kms that is not a dstack KMS", async function () {
    const { app } = await networkHelpers.loadFixture(deployAppAndKms);
    expect((await runTask("register-app", { app, kms: app })).errorMessage).to.equal(
      `the contract at ${app} on network "default" (chain 31337) does not answer registeredApps(address): ` +
        "it is not a dstack KMS",
    );
  });

  it("takes the KMS from config/kms.json by chain id when --kms is not given", async function () {
    const { app } = await networkHelpers.loadFixture(deployAppAndKms);
    expect((await runTask("register-app", { app })).errorMessage).to.match(
      /config\/kms\.json has no dstack KMS for chain 31337: pass --kms <address>$/,
    );
  });

  it("requires --app", async function () {
    expect((await runTask("register-app", {})).errorMessage).to.equal(
      "--app is required: the address of the app's auth contract to register",
    );
  });
});

describe("check-boot", function () {
  const boot = (app: string, extra: Record<string, unknown> = {}) => ({
    app,
    composeHash: HASH_V1,
    device: DEVICE_A,
    ...extra,
  });

  /** Runs check-boot expecting a denial: exit status failure, "denied: <reason>" on stdout, no error line. */
  async function expectDenied(args: Record<string, unknown>, reason: string) {
    const run = await runTask<CheckBootResult>("check-boot", args);
    expect(run.result.success, run.stdout).to.equal(false);
    expect(run.result.success ? undefined : run.result.error).to.be.instanceOf(NegativeAnswer);
    expect(run.stdout.split("\n").at(-1)).to.equal(`denied: ${reason}`);
    expect(run.stderr).to.equal("");
  }

  describe("asking the app's contract directly", function () {
    it("says allowed for an allowed compose hash on an allowed device", async function () {
      const { app } = await networkHelpers.loadFixture(deployAppAndKms);
      const run = await runTaskOk<CheckBootResult>("check-boot", boot(app));
      expect(run.value).to.deep.include({ allowed: true, reason: "", askedContract: app });
      expect(run.stdout.split("\n").at(-1)).to.equal("allowed");
    });

    it("denies with each of dstack's reasons, verbatim", async function () {
      const { app } = await networkHelpers.loadFixture(deployAppAndKms);
      await expectDenied(boot(app, { tcbStatus: "OutOfDate" }), "TCB status is not up to date");
      await expectDenied(boot(app, { composeHash: HASH_V2 }), "Compose hash not allowed");
      await expectDenied(boot(app, { device: DEVICE_B }), "Device not allowed");
    });

    it("denies a proposed compose hash until its notice has passed and it is activated", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployAppAndKms);
      await appAuth.proposeComposeHash(HASH_V2, "https://example.org/v2.json");
      await expectDenied(boot(app, { composeHash: HASH_V2 }), "Compose hash not allowed");
      await networkHelpers.time.increase(NOTICE);
      await appAuth.activateComposeHash(HASH_V2);
      await runTaskOk("check-boot", boot(app, { composeHash: HASH_V2 }));
    });
  });

  describe("asking the KMS, as it does at boot", function () {
    it("denies an unregistered app, an unlisted OS image and an address without code, with dstack's reasons", async function () {
      const { app, kms, kmsAddress } = await networkHelpers.loadFixture(deployAppAndKms);
      await expectDenied(boot(app, { kms: kmsAddress, osImage: OS_IMAGE }), "App not registered");
      await kms.registerApp(app);
      await expectDenied(boot(app, { kms: kmsAddress, osImage: OTHER_OS_IMAGE }), "OS image is not allowed");
      await kms.registerApp(NOBODY);
      await expectDenied(boot(NOBODY, { kms: kmsAddress, osImage: OS_IMAGE }), "App not deployed or invalid address");
    });

    it("passes the app's own answer through once the KMS's checks pass", async function () {
      const { app, kms, kmsAddress } = await networkHelpers.loadFixture(deployAppAndKms);
      await kms.registerApp(app);
      const run = await runTaskOk<CheckBootResult>("check-boot", boot(app, { kms: kmsAddress, osImage: OS_IMAGE }));
      expect(run.value).to.deep.include({ allowed: true, askedContract: kmsAddress });
      expect(run.stdout).to.include(`Asking dstack KMS ${kmsAddress}`);
      await expectDenied(boot(app, { kms: kmsAddress, osImage: OS_IMAGE, device: DEVICE_B }), "Device not allowed");
    });
  });

  describe("input", function () {
    it("refuses malformed or missing values before asking anything", async function () {
      const { app, kmsAddress } = await networkHelpers.loadFixture(deployAppAndKms);
      expect((await runTask("check-boot", boot(app, { composeHash: "0x12" }))).errorMessage).to.equal(
        '--compose-hash "0x12" is not valid: expected 0x followed by 64 hex digits (32 bytes); got 2 hex digits',
      );
      expect((await runTask("check-boot", { app, composeHash: HASH_V1 })).errorMessage).to.equal(
        "--device is required: the device id of the TDX machine",
      );
      expect((await runTask("check-boot", boot(app, { kms: kmsAddress }))).errorMessage).to.equal(
        "--os-image is required: the KMS checks the OS image first",
      );
      expect((await runTask("check-boot", boot(app, { instance: "0x1" }))).errorMessage).to.equal(
        '--instance "0x1" is not valid: expected an address: 0x followed by 40 hex digits',
      );
      expect((await runTask("check-boot", boot(app, { tcbStatus: " " }))).errorMessage).to.equal(
        '--tcb-status is empty: pass the status the quote verifier gave, e.g. "UpToDate"',
      );
    });

    it("refuses an --app without code when asking the app directly", async function () {
      expect((await runTask("check-boot", boot(NOBODY))).errorMessage).to.equal(
        `no contract at --app ${NOBODY} on network "default" (chain 31337): check --app and --network`,
      );
    });
  });
});
