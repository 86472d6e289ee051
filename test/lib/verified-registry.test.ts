/**
 * The replicator's proven reads (lib/verified/replicationRegistry.ts, lib/verified/appAuthPolicy.ts) against the
 * contracts themselves: the registry's slots are the compiler's (its `storageLayout`, like
 * test/lib/verified-layout.test.ts for TimelockedAppAuth), a record read from proven storage equals what `getNode`
 * answers (on chosen and random records), and the policy decided locally from proven storage answers as
 * `isAppAllowed` does (on chosen and random boot infos, under each combination of the policy's flags).
 */

import { expect } from "chai";
import fc from "fast-check";
import { hexlify, randomBytes, Wallet } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

import type { AppBootInfo } from "../../lib/bootInfo.js";
import { readNodeRecordView, registerArguments } from "../../lib/replication/index.js";
import { isAppAllowedLocally, readProvenPolicy } from "../../lib/verified/appAuthPolicy.js";
import { QuorumHeaderSource } from "../../lib/verified/headers.js";
import { VerifiedChainReader } from "../../lib/verified/reader.js";
import {
  ATTESTATION_PERIOD_SECONDS,
  isReadable,
  readProvenRegistry,
  REGISTRY_STORAGE,
  REGISTRY_STRUCT_MEMBERS,
} from "../../lib/verified/replicationRegistry.js";
import { eip1193RpcClient } from "../../lib/verified/rpc.js";
import { deviceIdOf, MIN_NOTICE_PERIOD } from "../helpers/appAuth.js";
import {
  expectStorageVariables,
  expectStructMembers,
  layoutOf,
  stripIds,
  type StorageLayout,
} from "../helpers/storage-layout.js";
import {
  COMPOSE_A,
  COMPOSE_B,
  DEVICE_1,
  DEVICE_2,
  deployRegistry,
  signedRegistration,
  testNode,
} from "../helpers/replication.js";

/** A reader whose headers one in-process endpoint vouches for (the quorum is tested in verified.test.ts). */
function readerOf(connection: NetworkConnection): VerifiedChainReader {
  const client = eip1193RpcClient("local", connection.provider);
  return new VerifiedChainReader(new QuorumHeaderSource([client], { quorum: 1 }), [client]);
}

describe("lib/verified: the replicator's proven reads", function () {
  this.timeout(60_000);

  describe("ReplicationRegistry's storage layout", function () {
    let layout: StorageLayout;
    before(async function () {
      layout = await layoutOf("ReplicationRegistry");
    });

    it("names every storage variable, at the compiler's slot, offset, size and type", function () {
      expectStorageVariables(layout, REGISTRY_STORAGE);
    });

    it("lays out NodeRecord, AppBootInfo and EnumerableSet as the reader derives their slots", function () {
      const struct = (name: string) =>
        Object.entries(layout.types).find(([id]) => stripIds(id) === `t_struct(${name})_storage`)?.[1];
      for (const [name, members] of Object.entries(REGISTRY_STRUCT_MEMBERS))
        expectStructMembers(layout, name, struct(name), members);
      const record = struct("NodeRecord")!.members!;
      const typeOf = (label: string) => stripIds(record.find((m) => m.label === label)!.type);
      expect(typeOf("encryptionPublicKey")).to.equal("t_bytes_storage");
      const boot = struct("AppBootInfo")!.members!;
      expect(stripIds(boot.find((m) => m.label === "tcbStatus")!.type)).to.equal("t_string_storage");
      expect(stripIds(boot.find((m) => m.label === "advisoryIds")!.type)).to.equal(
        "t_array(t_string_storage)dyn_storage",
      );
    });
  });

  describe("records and the policy, proven, against the contracts' own answers", function () {
    let connection: NetworkConnection;
    let deployed: Awaited<ReturnType<typeof deployRegistry>>;
    let reader: VerifiedChainReader;
    let registryAddress: string;
    let count = 0;

    before(async function () {
      connection = await network.create();
      deployed = await deployRegistry(connection.ethers, connection.networkHelpers);
      registryAddress = await deployed.registry.getAddress();
      reader = readerOf(connection);
    });
    after(async function () {
      await connection.close();
    });

    async function register(boot: Partial<AppBootInfo>, key?: string) {
      const node = testNode(`proven record ${count++}`);
      const signed = await signedRegistration(deployed.domain, node, deployed.appId, {
        boot,
        ...(key === undefined ? {} : { encryptionPublicKey: key }),
      });
      await (await deployed.registry.connect(deployed.relayer).register(...registerArguments(signed))).wait();
      return node.address;
    }

    async function expectSameAsGetNode(nodes: string[]) {
      const block = await connection.ethers.provider.getBlockNumber();
      const { header } = await reader.verifiedHeader(block);
      const proven = await readProvenRegistry(reader, registryAddress, header, nodes);
      for (const node of nodes) {
        const record = proven.records.get(node);
        expect(isReadable(record), node).to.equal(true);
        const view = await readNodeRecordView(deployed.registry, node, block);
        expect(record).to.deep.equal({
          ...view,
          problems: [],
          quoteHash: view.quoteHash.toLowerCase(),
          encryptionPublicKey: view.encryptionPublicKey.toLowerCase(),
          bootInfo: {
            ...view.bootInfo,
            composeHash: view.bootInfo.composeHash.toLowerCase(),
            deviceId: view.bootInfo.deviceId.toLowerCase(),
            mrAggregated: view.bootInfo.mrAggregated.toLowerCase(),
            mrSystem: view.bootInfo.mrSystem.toLowerCase(),
            osImageHash: view.bootInfo.osImageHash.toLowerCase(),
          },
        });
      }
      return proven;
    }

    it("reads a record as getNode answers it: short and long keys, strings and advisories; genesis, members", async function () {
      const unknown = Wallet.createRandom().address;
      const a = await register({ advisoryIds: [] }, hexlify(randomBytes(5)));
      const b = await register(
        { advisoryIds: ["x".repeat(31), "y".repeat(32), "ü".repeat(40)] },
        hexlify(randomBytes(128)),
      );
      let proven = await expectSameAsGetNode([unknown, a, b]);
      expect(proven.records.get(unknown)).to.deep.include({ status: "None" });
      expect(proven.genesis).to.equal(undefined);
      expect(proven.memberCount).to.equal(0n);

      await (await deployed.registry.connect(deployed.owner).setGenesis(a)).wait();
      proven = await expectSameAsGetNode([a, b]);
      expect(proven.genesis).to.equal(a);
      expect(proven.memberCount).to.equal(1n);
      expect(proven.records.get(a)).to.deep.include({ status: "Member" });
      expect(ATTESTATION_PERIOD_SECONDS).to.equal(await deployed.registry.ATTESTATION_PERIOD());
    });

    it("reads random records as getNode answers them (fuzz)", async function () {
      const text = fc.string({ unit: "binary", maxLength: 70 });
      await fc.assert(
        fc.asyncProperty(
          fc.array(text, { maxLength: 5 }),
          fc.uint8Array({ minLength: 1, maxLength: 128 }),
          fc.constantFrom(COMPOSE_A, COMPOSE_B),
          fc.constantFrom(DEVICE_1, DEVICE_2),
          async (advisoryIds, key, composeHash, deviceId) => {
            const node = await register({ advisoryIds, composeHash, deviceId }, hexlify(key));
            await expectSameAsGetNode([node]);
          },
        ),
        { numRuns: 15 },
      );
    });

    it("decides isAppAllowed as the contract does, under each combination of its flags (chosen and random boot infos)", async function () {
      const [owner] = await connection.ethers.getSigners();
      const allowedHash = COMPOSE_A;
      const listed = deviceIdOf("listed device");
      const statuses = ["UpToDate", "OutOfDate", "uptodate", "UpToDate ", "", "ConfigurationNeeded", "UpToDateX"];
      for (const allowAnyDevice of [false, true]) {
        for (const requireTcbUpToDate of [false, true]) {
          const policy = await connection.ethers.deployContract("TimelockedAppAuth", [
            owner!.address,
            MIN_NOTICE_PERIOD,
            allowedHash,
            "https://example.org/a.json",
            [listed],
            allowAnyDevice,
            requireTcbUpToDate,
          ]);
          const address = await policy.getAddress();
          const block = await connection.ethers.provider.getBlockNumber();
          const { header } = await reader.verifiedHeader(block);
          const bootOf = (composeHash: string, deviceId: string, tcbStatus: string) => ({
            appId: address,
            composeHash,
            instanceId: Wallet.createRandom().address,
            deviceId,
            mrAggregated: COMPOSE_B,
            mrSystem: COMPOSE_B,
            osImageHash: COMPOSE_B,
            tcbStatus,
            advisoryIds: [],
          });
          const check = async (boot: AppBootInfo) => {
            const proven = await readProvenPolicy(reader, address, header, [boot]);
            const [allowed, reason] = await policy.isAppAllowed(boot, { blockTag: block });
            expect(isAppAllowedLocally(proven, boot), JSON.stringify(boot)).to.deep.equal([allowed, reason]);
          };
          for (const composeHash of [allowedHash, COMPOSE_B])
            for (const deviceId of [listed, DEVICE_2])
              for (const tcbStatus of statuses) await check(bootOf(composeHash, deviceId, tcbStatus));
          await fc.assert(
            fc.asyncProperty(
              fc.oneof(
                fc.constant(allowedHash),
                fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => hexlify(b)),
              ),
              fc.oneof(
                fc.constant(listed),
                fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => hexlify(b)),
              ),
              fc.oneof(fc.constantFrom(...statuses), fc.string({ unit: "binary", maxLength: 12 })),
              async (composeHash, deviceId, tcbStatus) => check(bootOf(composeHash, deviceId, tcbStatus)),
            ),
            { numRuns: 25 },
          );
        }
      }
    });

    it("decides the OS pins as the contract does: none, mrSystem, OS image, both; a second value, then unpinned", async function () {
      const [owner] = await connection.ethers.getSigners();
      const listed = deviceIdOf("listed device");
      const pinnedMrSystem = hexlify(randomBytes(32));
      const pinnedImage = hexlify(randomBytes(32));
      const secondImage = hexlify(randomBytes(32));
      const policy = await connection.ethers.deployContract("TimelockedAppAuth", [
        owner!.address,
        MIN_NOTICE_PERIOD,
        COMPOSE_A,
        "https://example.org/a.json",
        [listed],
        false,
        true,
      ]);
      const address = await policy.getAddress();
      const random32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => hexlify(b));
      const checkAll = async () => {
        const block = await connection.ethers.provider.getBlockNumber();
        const { header } = await reader.verifiedHeader(block);
        const bootOf = (composeHash: string, mrSystem: string, osImageHash: string, deviceId = listed) => ({
          appId: address,
          composeHash,
          instanceId: Wallet.createRandom().address,
          deviceId,
          mrAggregated: COMPOSE_B,
          mrSystem,
          osImageHash,
          tcbStatus: "UpToDate",
          advisoryIds: [],
        });
        const check = async (boot: AppBootInfo) => {
          const proven = await readProvenPolicy(reader, address, header, [boot]);
          const [allowed, reason] = await policy.isAppAllowed(boot, { blockTag: block });
          expect(isAppAllowedLocally(proven, boot), JSON.stringify(boot)).to.deep.equal([allowed, reason]);
          return reason;
        };
        const reasons = new Set<string>();
        for (const composeHash of [COMPOSE_A, COMPOSE_B])
          for (const mrSystem of [pinnedMrSystem, COMPOSE_B])
            for (const image of [pinnedImage, secondImage, COMPOSE_B])
              for (const device of [listed, DEVICE_2])
                reasons.add(await check(bootOf(composeHash, mrSystem, image, device)));
        await fc.assert(
          fc.asyncProperty(
            fc.oneof(fc.constant(pinnedMrSystem), random32),
            fc.oneof(fc.constantFrom(pinnedImage, secondImage), random32),
            async (mrSystem, image) => {
              await check(bootOf(COMPOSE_A, mrSystem, image));
            },
          ),
          { numRuns: 10 },
        );
        return reasons;
      };
      const OS_REFUSED = "OS not allowed by the app";
      expect(await checkAll()).to.not.include(OS_REFUSED);
      await (await policy.pinOs(0, pinnedMrSystem)).wait();
      expect(await checkAll()).to.include(OS_REFUSED);
      await (await policy.pinOs(1, pinnedImage)).wait();
      expect(await checkAll()).to.include(OS_REFUSED);
      await (await policy.proposeOsMeasurement(1, secondImage)).wait();
      await connection.networkHelpers.time.increase(MIN_NOTICE_PERIOD);
      await (await policy.activateOsMeasurement(1, secondImage)).wait();
      await (await policy.proposeUnpinOs(0)).wait();
      await connection.networkHelpers.time.increase(MIN_NOTICE_PERIOD);
      await (await policy.activateUnpinOs(0)).wait();
      expect(await checkAll()).to.include(OS_REFUSED);
      await (await policy.removeOsMeasurement(1, pinnedImage)).wait();
      expect(await checkAll()).to.include(OS_REFUSED);
    });
  });
});
