/**
 * Forked-mainnet tests: our TimelockedAppAuth, registered with dstack's KMS on a fork of Base, answered through the
 * KMS's own `isAppAllowed` exactly as at a CVM's boot. See lib/fork.ts for how the target is chosen:
 * BASE_RPC_URL / FORK_RPC_URL (real Base and dstack's real KMS), FORK_STAND_IN_RPC_URL (a STAND-IN on a local node,
 * `npm run test:fork-stand-in`), or neither (skipped, one line).
 */
import { expect } from "chai";
import hre from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

import { findAllowedOsImages, connectKms, makeBootInfo, type Kms } from "../../lib/kms.js";
import { readKmsConfig, KMS_CONFIG_FILE } from "../../lib/kms.js";
import { readForkConfig, selectForkTarget, type ForkTarget } from "../../lib/fork.js";

const NOTICE = 7n * 24n * 3600n;
const HASH_V1 = `0x${"c1".repeat(32)}`;
const HASH_V2 = `0x${"c2".repeat(32)}`;
const DEVICE_A = `0x${"a1".repeat(32)}`;
const DEVICE_B = `0x${"b2".repeat(32)}`;
const UNKNOWN_OS_IMAGE = `0x${"ee".repeat(32)}`;

const target = await selectForkTarget(hre.config.paths.root, process.env);

describe("fork configuration", function () {
  it("names the same KMS for the chain as config/kms.json", async function () {
    const config = await readForkConfig(hre.config.paths.root);
    const kms = (await readKmsConfig(KMS_CONFIG_FILE)).get(config.chainId);
    expect(kms?.address).to.equal(config.kms);
  });
});

if (target.mode === "off") {
  it.skip(target.reason);
} else {
  describeFork(target);
}

function describeFork(target: ForkTarget): void {
  describe(target.label, function () {
    // A real RPC answers each state read of the fork over the network.
    this.timeout(target.mode === "base" ? 600_000 : 60_000);

    let connection: NetworkConnection<"op" | "l1">;
    let kms: Kms;
    let osImage: string;

    before(async function () {
      try {
        connection = await hre.network.create({
          chainType: target.chainType,
          override: { chainId: target.chainId, forking: { url: target.url, blockNumber: target.blockNumber } },
        });
      } catch (error) {
        const cause = error instanceof Error ? (error.cause instanceof Error ? error.cause : error).message : error;
        throw new Error(
          `cannot fork at block ${target.blockNumber}: ${String(cause)}` +
            (target.mode === "base" ? " (the RPC must serve state at that block: an archive node)" : ""),
        );
      }
      const { ethers } = connection;
      kms = await connectKms(target.kms, ethers.provider, `the fork of ${target.url} at block ${target.blockNumber}`);
      osImage = await allowedOsImage(target, kms, connection);
    });

    after(async function () {
      await connection?.close();
    });

    /** Our app, registered with the KMS: release v1 on device A, a 7-day notice, an up-to-date TCB required. */
    async function registeredApp() {
      const { ethers } = connection;
      const [owner] = await ethers.getSigners();
      const appAuth = await ethers.deployContract("TimelockedAppAuth", [
        owner!.address,
        NOTICE,
        HASH_V1,
        "https://example.org/releases/v1/app-compose.json",
        [DEVICE_A],
        false,
        true,
      ]);
      const app = await appAuth.getAddress();
      await (await kms.contract.connect(owner!).getFunction("registerApp")(app)).wait();
      const boot = (fields: Record<string, string> = {}) =>
        makeBootInfo({ appId: app, composeHash: HASH_V1, deviceId: DEVICE_A, osImageHash: osImage, ...fields });
      return { appAuth, app, boot };
    }

    const fixture = () => connection.networkHelpers.loadFixture(registeredApp);

    it("reads an OS image the KMS allows from its OsImageHashAdded events (skipping removed ones)", async function () {
      expect(await kms.allowedOsImages(osImage)).to.equal(true);
      if (target.expectedOsImageHashes !== undefined) expect(osImage).to.equal(target.expectedOsImageHashes[0]);
    });

    it("registers our app with the KMS (permissionless) and gets its keys for the current release", async function () {
      const { app, boot } = await fixture();
      expect(await kms.registeredApps(app)).to.equal(true);
      expect(await kms.isAppAllowed(boot())).to.deep.equal({ allowed: true, reason: "" });
    });

    it("denies a proposed compose hash until its notice ends, and allows it once activated", async function () {
      const { appAuth, boot } = await fixture();
      await (await appAuth.proposeComposeHash(HASH_V2, "https://example.org/releases/v2/app-compose.json")).wait();
      expect(await kms.isAppAllowed(boot({ composeHash: HASH_V2 }))).to.deep.equal({
        allowed: false,
        reason: "Compose hash not allowed",
      });

      await connection.networkHelpers.time.increase(NOTICE - 60n);
      await expect(appAuth.activateComposeHash(HASH_V2)).to.be.revertedWithCustomError(appAuth, "ProposalNotReady");
      expect((await kms.isAppAllowed(boot({ composeHash: HASH_V2 }))).reason).to.equal("Compose hash not allowed");

      await connection.networkHelpers.time.increase(60n);
      await (await appAuth.activateComposeHash(HASH_V2)).wait();
      expect(await kms.isAppAllowed(boot({ composeHash: HASH_V2 }))).to.deep.equal({ allowed: true, reason: "" });
    });

    it("denies a removed compose hash at once", async function () {
      const { appAuth, boot } = await fixture();
      await (await appAuth.removeComposeHash(HASH_V1)).wait();
      expect(await kms.isAppAllowed(boot())).to.deep.equal({ allowed: false, reason: "Compose hash not allowed" });
    });

    it("denies an unlisted device", async function () {
      const { boot } = await fixture();
      expect(await kms.isAppAllowed(boot({ deviceId: DEVICE_B }))).to.deep.equal({
        allowed: false,
        reason: "Device not allowed",
      });
    });

    it("denies an out-of-date TCB", async function () {
      const { boot } = await fixture();
      expect(await kms.isAppAllowed(boot({ tcbStatus: "OutOfDate" }))).to.deep.equal({
        allowed: false,
        reason: "TCB status is not up to date",
      });
    });

    it("checks registration and the OS image itself first, with dstack's reasons", async function () {
      const { boot } = await fixture();
      expect(await kms.isAppAllowed(boot({ osImageHash: UNKNOWN_OS_IMAGE }))).to.deep.equal({
        allowed: false,
        reason: "OS image is not allowed",
      });
      const unregistered = await connection.ethers.deployContract("TimelockedAppAuth", [
        (await connection.ethers.getSigners())[0]!.address,
        NOTICE,
        HASH_V1,
        "https://example.org/releases/v1/app-compose.json",
        [DEVICE_A],
        false,
        true,
      ]);
      expect(await kms.isAppAllowed(boot({ appId: await unregistered.getAddress() }))).to.deep.equal({
        allowed: false,
        reason: "App not registered",
      });
    });
  });
}

/**
 * An OS image the KMS allows at the fork block: one listed in config/fork.json, else the newest one still allowed
 * among the KMS's `OsImageHashAdded` events, read through the fork (which forwards old logs to the RPC).
 */
async function allowedOsImage(target: ForkTarget, kms: Kms, connection: NetworkConnection<"op" | "l1">) {
  for (const hash of target.knownOsImageHashes) {
    if (await kms.allowedOsImages(hash)) return hash;
  }
  const [found] = await findAllowedOsImages(connection.ethers.provider, kms.address, {
    toBlock: target.blockNumber,
    ...target.logScan,
  });
  if (found === undefined) {
    throw new Error(
      `no OS image that the KMS ${kms.address} still allows was added in the ${target.logScan.maxBlocks} blocks ` +
        `before ${target.blockNumber}: add one to knownOsImageHashes in config/fork.json (see the KMS's ` +
        "OsImageHashAdded events on the explorer)",
    );
  }
  if (target.mode === "base" && target.knownOsImageHashes.length === 0) {
    console.log(
      `      (found allowed OS image ${found}; list it in config/fork.json knownOsImageHashes to skip the scan)`,
    );
  }
  return found;
}
