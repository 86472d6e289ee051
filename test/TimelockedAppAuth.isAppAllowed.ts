import { expect } from "chai";
import { id, Interface, ZeroHash } from "ethers";
import { network } from "hardhat";

import { ITimelockedAppAuth__factory } from "../types/ethers-contracts/index.js";
import {
  bootInfo,
  composeHashOf,
  deployTimelockedAppAuth,
  deployTimelockedAppAuthFixture,
  deviceIdOf,
  INITIAL_COMPOSE_HASH,
  INITIAL_DEVICE_ID,
} from "./helpers/appAuth.js";

const { ethers, networkHelpers } = await network.create();
const { loadFixture } = networkHelpers;

/** dstack's IAppAuth, written out by hand from upstream `dstack/kms/auth-eth/contracts/IAppAuth.sol`. */
const DSTACK_APP_AUTH_ABI = [
  "function isAppAllowed((address appId, bytes32 composeHash, address instanceId, bytes32 deviceId, bytes32 mrAggregated, bytes32 mrSystem, bytes32 osImageHash, string tcbStatus, string[] advisoryIds) bootInfo) view returns (bool isAllowed, string reason)",
];
const IAPP_AUTH_INTERFACE_ID = "0x1e079198";
const IERC165_INTERFACE_ID = "0x01ffc9a7";

const UNKNOWN_HASH = composeHashOf('{"name":"unknown"}');
const UNKNOWN_DEVICE = deviceIdOf("unknown");

/** The ERC-165 id of an interface: the XOR of the selectors it declares itself (not the inherited ones). */
function interfaceIdOf(iface: Interface, inherited: string[]): string {
  let interfaceId = 0n;
  iface.forEachFunction((fragment) => {
    if (!inherited.includes(fragment.name)) interfaceId ^= BigInt(fragment.selector);
  });
  return `0x${interfaceId.toString(16).padStart(8, "0")}`;
}

describe("TimelockedAppAuth", function () {
  describe("IAppAuth compatibility with dstack", function () {
    it("gives isAppAllowed dstack's selector 0x1e079198", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      expect(appAuth.interface.getFunction("isAppAllowed").selector).to.equal(IAPP_AUTH_INTERFACE_ID);
    });

    it("lays out AppBootInfo in dstack's field order (the canonical signature hashes to 0x1e079198)", async function () {
      const signature = "isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))";
      expect(id(signature).slice(0, 10)).to.equal(IAPP_AUTH_INTERFACE_ID);
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      expect(appAuth.interface.getFunction("isAppAllowed").format("sighash")).to.equal(signature);
    });

    it("answers a call encoded with dstack's own ABI the way DstackKms decodes it", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const dstack = new Interface(DSTACK_APP_AUTH_ABI);
      const data = dstack.encodeFunctionData("isAppAllowed", [bootInfo({ appId: await appAuth.getAddress() })]);
      const result = await ethers.provider.call({ to: await appAuth.getAddress(), data });
      expect(dstack.decodeFunctionResult("isAppAllowed", result).toArray()).to.deep.equal([true, ""]);
    });

    it("emits DstackApp's events with the same signatures, none of their fields indexed", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const dstackEvents = [
        ["ComposeHashAdded", "ComposeHashAdded(bytes32)"],
        ["ComposeHashRemoved", "ComposeHashRemoved(bytes32)"],
        ["DeviceAdded", "DeviceAdded(bytes32)"],
        ["DeviceRemoved", "DeviceRemoved(bytes32)"],
        ["AllowAnyDeviceSet", "AllowAnyDeviceSet(bool)"],
        ["RequireTcbUpToDateSet", "RequireTcbUpToDateSet(bool)"],
        ["UpgradesDisabled", "UpgradesDisabled()"],
      ] as const;
      for (const [name, signature] of dstackEvents) {
        const event = appAuth.interface.getEvent(name);
        expect(event.format("sighash"), name).to.equal(signature);
        expect(event.topicHash, name).to.equal(id(signature));
        expect(
          event.inputs.some((input) => input.indexed),
          name,
        ).to.equal(false);
      }
    });

    describe("supportsInterface", function () {
      it("supports IAppAuth (0x1e079198)", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.supportsInterface(IAPP_AUTH_INTERFACE_ID)).to.equal(true);
      });

      it("supports ERC-165 itself (0x01ffc9a7)", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.supportsInterface(IERC165_INTERFACE_ID)).to.equal(true);
      });

      it("supports ITimelockedAppAuth", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const interfaceId = interfaceIdOf(ITimelockedAppAuth__factory.createInterface(), [
          "isAppAllowed",
          "supportsInterface",
        ]);
        expect(await appAuth.supportsInterface(interfaceId)).to.equal(true);
      });

      for (const interfaceId of ["0x12345678", "0x00000000", "0xffffffff"]) {
        it(`does not support ${interfaceId}`, async function () {
          const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
          expect(await appAuth.supportsInterface(interfaceId)).to.equal(false);
        });
      }
    });

    describe("isAppAllowed", function () {
      it("allows an allowed compose hash on a listed device with an up-to-date TCB, with an empty reason", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.isAppAllowed(bootInfo())).to.deep.equal([true, ""]);
      });

      it('refuses a TCB that is not up to date with "TCB status is not up to date"', async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.isAppAllowed(bootInfo({ tcbStatus: "OutOfDate" }))).to.deep.equal([
          false,
          "TCB status is not up to date",
        ]);
      });

      for (const tcbStatus of ["", "uptodate", "UpToDate ", "SWHardeningNeeded", "ConfigurationNeeded"]) {
        it(`compares the TCB status with "UpToDate" exactly (refuses ${JSON.stringify(tcbStatus)})`, async function () {
          const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
          const [isAllowed, reason] = await appAuth.isAppAllowed(bootInfo({ tcbStatus }));
          expect([isAllowed, reason]).to.deep.equal([false, "TCB status is not up to date"]);
        });
      }

      it('refuses an unknown compose hash with "Compose hash not allowed"', async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.isAppAllowed(bootInfo({ composeHash: UNKNOWN_HASH }))).to.deep.equal([
          false,
          "Compose hash not allowed",
        ]);
      });

      it('refuses the zero compose hash with "Compose hash not allowed"', async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.isAppAllowed(bootInfo({ composeHash: ZeroHash }))).to.deep.equal([
          false,
          "Compose hash not allowed",
        ]);
      });

      it('refuses an unlisted device with "Device not allowed"', async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.isAppAllowed(bootInfo({ deviceId: UNKNOWN_DEVICE }))).to.deep.equal([
          false,
          "Device not allowed",
        ]);
      });

      it("checks the TCB first when every check fails", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const info = bootInfo({ tcbStatus: "OutOfDate", composeHash: UNKNOWN_HASH, deviceId: UNKNOWN_DEVICE });
        expect(await appAuth.isAppAllowed(info)).to.deep.equal([false, "TCB status is not up to date"]);
      });

      it("checks the TCB before the compose hash", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const info = bootInfo({ tcbStatus: "OutOfDate", composeHash: UNKNOWN_HASH });
        expect(await appAuth.isAppAllowed(info)).to.deep.equal([false, "TCB status is not up to date"]);
      });

      it("checks the TCB before the device", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const info = bootInfo({ tcbStatus: "OutOfDate", deviceId: UNKNOWN_DEVICE });
        expect(await appAuth.isAppAllowed(info)).to.deep.equal([false, "TCB status is not up to date"]);
      });

      it("checks the compose hash before the device", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const info = bootInfo({ composeHash: UNKNOWN_HASH, deviceId: UNKNOWN_DEVICE });
        expect(await appAuth.isAppAllowed(info)).to.deep.equal([false, "Compose hash not allowed"]);
      });

      it("does not look at appId, instanceId, measurements, OS image or advisories (as DstackApp)", async function () {
        const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
        const info = bootInfo({
          appId: stranger.address,
          instanceId: stranger.address,
          mrAggregated: id("mrAggregated"),
          mrSystem: id("mrSystem"),
          osImageHash: id("osImageHash"),
          advisoryIds: ["INTEL-SA-00837", "INTEL-SA-00615"],
        });
        expect(await appAuth.isAppAllowed(info)).to.deep.equal([true, ""]);
      });

      describe("when requireTcbUpToDate is off", function () {
        it("allows any TCB status", async function () {
          await loadFixture(deployTimelockedAppAuthFixture);
          const appAuth = await deployTimelockedAppAuth(ethers, { requireTcbUpToDate: false });
          for (const tcbStatus of ["OutOfDate", "", "UpToDate"]) {
            expect(await appAuth.isAppAllowed(bootInfo({ tcbStatus }))).to.deep.equal([true, ""]);
          }
        });

        it("still checks the compose hash, then the device", async function () {
          await loadFixture(deployTimelockedAppAuthFixture);
          const appAuth = await deployTimelockedAppAuth(ethers, { requireTcbUpToDate: false });
          const outdated = { tcbStatus: "OutOfDate" };
          expect(
            await appAuth.isAppAllowed(bootInfo({ ...outdated, composeHash: UNKNOWN_HASH, deviceId: UNKNOWN_DEVICE })),
          ).to.deep.equal([false, "Compose hash not allowed"]);
          expect(await appAuth.isAppAllowed(bootInfo({ ...outdated, deviceId: UNKNOWN_DEVICE }))).to.deep.equal([
            false,
            "Device not allowed",
          ]);
        });
      });

      describe("when allowAnyDevice is on", function () {
        it("allows an unlisted device", async function () {
          await loadFixture(deployTimelockedAppAuthFixture);
          const appAuth = await deployTimelockedAppAuth(ethers, { allowAnyDevice: true, devices: [] });
          expect(await appAuth.isAppAllowed(bootInfo({ deviceId: UNKNOWN_DEVICE }))).to.deep.equal([true, ""]);
          expect(await appAuth.isAppAllowed(bootInfo({ deviceId: ZeroHash }))).to.deep.equal([true, ""]);
        });

        it("still checks the TCB and the compose hash", async function () {
          await loadFixture(deployTimelockedAppAuthFixture);
          const appAuth = await deployTimelockedAppAuth(ethers, { allowAnyDevice: true, devices: [] });
          expect(
            await appAuth.isAppAllowed(bootInfo({ tcbStatus: "OutOfDate", deviceId: UNKNOWN_DEVICE })),
          ).to.deep.equal([false, "TCB status is not up to date"]);
          expect(
            await appAuth.isAppAllowed(bootInfo({ composeHash: UNKNOWN_HASH, deviceId: UNKNOWN_DEVICE })),
          ).to.deep.equal([false, "Compose hash not allowed"]);
        });
      });

      it("allows a listed device whatever allowAnyDevice says", async function () {
        await loadFixture(deployTimelockedAppAuthFixture);
        const appAuth = await deployTimelockedAppAuth(ethers, { allowAnyDevice: true });
        expect(await appAuth.isAppAllowed(bootInfo({ deviceId: INITIAL_DEVICE_ID }))).to.deep.equal([true, ""]);
      });

      it("allows the initial compose hash when addressed with the real appId", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const info = bootInfo({ appId: await appAuth.getAddress(), composeHash: INITIAL_COMPOSE_HASH });
        expect(await appAuth.isAppAllowed(info)).to.deep.equal([true, ""]);
      });
    });
  });
});
