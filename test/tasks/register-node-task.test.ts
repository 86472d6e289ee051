import { readFile } from "node:fs/promises";

import { expect } from "chai";
import { Wallet, hexlify, id } from "ethers";

import { NODE_KEY_PURPOSE, nodeKeyPath, parseRegistrationFile } from "../../lib/replication/index.js";
import { STAND_IN_KMS } from "../helpers/kms-stand-in.js";
import type { RegisterNodeResult } from "../../tasks/register-node.js";
import { startDstackGuestApi, standInDerivedKey } from "../helpers/dstack-guest-api.js";
import type { DstackGuestApiStandIn } from "../helpers/dstack-guest-api.js";
import { networkHelpers, runTask, runTaskOk, writeTempFile } from "./helpers.js";
import {
  A,
  COLLATERAL_FILE,
  COMPOSE_A,
  COMPOSE_B,
  DEVICE_1,
  FIXTURE_DEVICE_ID,
  emptyRegistry,
  registrationFile,
  signedStandIn,
  testNode,
  withStandInVerifier,
} from "./registry-helpers.js";

const WHERE = 'network "default" (chain 31337)';

describe("register-node", function () {
  describe("with a signed registration file", function () {
    it("submits it from any account (the host pays) and says what comes next", async function () {
      const { address, registry, relayer, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const file = await registrationFile(await signedStandIn(domain, appId, A, { composeHash: COMPOSE_A }));
      const run = await runTaskOk("register-node", { registry: address, file, from: relayer.address });
      expect(await registry.nodeStatus(A.address)).to.equal(1n);
      expect(run.stdout).to.include(`Sending from ${relayer.address} (pays the gas)`);
      expect(run.stdout).to.include(
        `Next, the registry has no member yet; the app's owner can make this node the first: npx hardhat set-genesis ` +
          `--registry ${address} --node ${A.address} --network default`,
      );
    });

    it("refuses a node that is registered already", async function () {
      const { address, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const file = await registrationFile(await signedStandIn(domain, appId, A, { composeHash: COMPOSE_A }));
      await runTaskOk("register-node", { registry: address, file });
      expect((await runTask("register-node", { registry: address, file })).errorMessage).to.equal(
        `cannot register it: node ${A.address} is registered and waiting to be onboarded`,
      );
    });

    it("refuses a registration signed by another key than the node's", async function () {
      const { address, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const other = testNode("impostor");
      const signed = await signedStandIn(domain, appId, A, { composeHash: COMPOSE_A }, {}, { signer: other });
      const run = await runTask("register-node", { registry: address, file: await registrationFile(signed) });
      expect(run.errorMessage).to.equal(
        `the registration is signed by ${other.address}, not by the node ${A.address} it names`,
      );
    });

    it("refuses a file signed for another chain or another registry", async function () {
      const { address, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const otherChain = await signedStandIn({ ...domain, chainId: 8453n }, appId, A, { composeHash: COMPOSE_A });
      const file = await registrationFile(otherChain);
      expect((await runTask("register-node", { registry: address, file })).errorMessage).to.equal(
        `${file} is signed for chain 8453, but this is ${WHERE}: check --network`,
      );
      const elsewhere = "0x00000000000000000000000000000000000be5e7";
      const otherRegistry = await signedStandIn({ ...domain, verifyingContract: elsewhere }, appId, A, {
        composeHash: COMPOSE_A,
      });
      const file2 = await registrationFile(otherRegistry);
      expect((await runTask("register-node", { registry: address, file: file2 })).errorMessage).to.equal(
        `${file2} is signed for the registry ${elsewhere}, not ${address}`,
      );
    });

    it("refuses a node of another app", async function () {
      const { address, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const otherApp = "0x000000000000000000000000000000000000a99a";
      const signed = await signedStandIn(domain, otherApp, A, { composeHash: COMPOSE_A });
      const run = await runTask("register-node", { registry: address, file: await registrationFile(signed) });
      expect(run.errorMessage).to.equal(
        `the node runs app ${otherApp}, but this registry serves app ${appId}: check --registry`,
      );
    });

    it("prints the AppAuth's reason when the policy does not allow the node's boot info", async function () {
      const { address, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const signed = await signedStandIn(domain, appId, A, { composeHash: id("compose X, never allowed") });
      const run = await runTask("register-node", { registry: address, file: await registrationFile(signed) });
      expect(run.errorMessage).to.equal(
        "the app's policy does not allow this node's boot info: Compose hash not allowed",
      );
    });

    it("refuses a registration whose quote binds other keys (a host swapped the encryption key)", async function () {
      const { address, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const hostKey = hexlify(testNode("host").encryption.publicKey);
      const signed = await signedStandIn(
        domain,
        appId,
        A,
        { composeHash: COMPOSE_A },
        { encryptionPublicKey: hostKey },
      );
      const run = await runTask("register-node", { registry: address, file: await registrationFile(signed) });
      expect(run.errorMessage).to.match(
        /^members would refuse this registration: its quote's report_data does not bind its address and registered encryption key: report_data 0x[0-9a-f]{128} does not bind node /,
      );
    });

    it("refuses a node that claims another compose hash than the one measured into RTMR3", async function () {
      const { address, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const signed = await signedStandIn(domain, appId, A, { composeHash: COMPOSE_B }, { composeHash: COMPOSE_A });
      const run = await runTask("register-node", { registry: address, file: await registrationFile(signed) });
      expect(run.errorMessage).to.equal(
        "members would refuse this registration: the compose hash measured into its RTMR3 is not the one it " +
          `claims: composeHash claimed ${COMPOSE_A} but the quote measures ${COMPOSE_B}`,
      );
    });

    it("refuses a registration without an event log", async function () {
      const { address, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const signed = await signedStandIn(domain, appId, A, { composeHash: COMPOSE_A }, {}, { eventLog: "0x" });
      const run = await runTask("register-node", { registry: address, file: await registrationFile(signed) });
      expect(run.errorMessage).to.equal(
        "members would refuse this registration: its registration carries no event log, so its compose hash " +
          "cannot be checked: the attestation carries no event log",
      );
    });

    it("names the file and the field when the file is not a registration", async function () {
      const { address } = await networkHelpers.loadFixture(emptyRegistry);
      const missing = "/nonexistent/registration.json";
      expect((await runTask("register-node", { registry: address, file: missing })).errorMessage).to.equal(
        `--file ${missing}: no such file`,
      );
      const notJson = await writeTempFile("registration.json", "{");
      expect((await runTask("register-node", { registry: address, file: notJson })).errorMessage).to.match(
        new RegExp(`^${notJson}: not JSON \\(`),
      );
      const wrongType = await writeTempFile("registration.json", JSON.stringify({ type: "something else" }));
      expect((await runTask("register-node", { registry: address, file: wrongType })).errorMessage).to.equal(
        `${wrongType}: not a dstack-devproof/node-registration file (its "type" is "something else")`,
      );
      const { domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const good = JSON.parse(
        await readFile(
          await registrationFile(await signedStandIn(domain, appId, A, { composeHash: COMPOSE_A })),
          "utf8",
        ),
      ) as { bootInfo: Record<string, unknown> };
      good.bootInfo["composeHash"] = "0x1234";
      const badField = await writeTempFile("registration.json", JSON.stringify(good));
      expect((await runTask("register-node", { registry: address, file: badField })).errorMessage).to.equal(
        `${badField}: field "bootInfo.composeHash" must be 0x + 64 hex digits`,
      );
    });
  });

  describe("checks of the options and the registry", function () {
    it("requires a well-formed --registry that is a ReplicationRegistry", async function () {
      const { domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const file = await registrationFile(await signedStandIn(domain, appId, A, { composeHash: COMPOSE_A }));
      expect((await runTask("register-node", { file })).errorMessage).to.equal(
        "--registry is required: the address of the app's ReplicationRegistry",
      );
      expect((await runTask("register-node", { registry: "0x1234", file })).errorMessage).to.equal(
        '--registry "0x1234" is not valid: expected an address: 0x followed by 40 hex digits',
      );
      const nobody = "0x000000000000000000000000000000000000dEaD";
      expect((await runTask("register-node", { registry: nobody, file })).errorMessage).to.equal(
        `no contract at ${nobody} on ${WHERE}: check --registry and --network`,
      );
      // The AppAuth is a contract, but not a registry: its EIP-712 domain says so.
      expect((await runTask("register-node", { registry: appId, file })).errorMessage).to.equal(
        `the contract at ${appId} on ${WHERE} is not a ReplicationRegistry (its EIP-712 domain is not ` +
          `"ReplicationRegistry" version 2 at that address): check --registry`,
      );
    });

    it("takes exactly one of --file and --from-dstack, and the building options only with --from-dstack", async function () {
      const { address } = await networkHelpers.loadFixture(emptyRegistry);
      expect((await runTask("register-node", { registry: address })).errorMessage).to.equal(
        "--file or --from-dstack is required: the node's signed registration, from a file or built here through " +
          "the dstack guest API",
      );
      expect(
        (await runTask("register-node", { registry: address, file: "x", fromDstack: true })).errorMessage,
      ).to.equal("--file and --from-dstack cannot be used together: give exactly one");
      expect((await runTask("register-node", { registry: address, file: "x", out: "y" })).errorMessage).to.equal(
        "--out goes with --from-dstack (building the registration)",
      );
    });
  });

  describe("--from-dstack, inside the node's CVM", function () {
    withStandInVerifier();
    let cvm: DstackGuestApiStandIn | undefined;
    afterEach(async function () {
      await cvm?.close();
      cvm = undefined;
    });

    async function startCvm(appId: string, overrides: { instanceId?: string; composeHash?: string } = {}) {
      cvm = await startDstackGuestApi(
        {
          appId,
          instanceId: overrides.instanceId ?? Wallet.createRandom().address,
          composeHash: overrides.composeHash ?? COMPOSE_A,
          deviceId: DEVICE_1,
        },
        {},
      );
      return cvm;
    }

    it("derives the keys with GetKey, quotes them with GetQuote, describes the boot with Info, signs and submits", async function () {
      const { address, registry, relayer, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const api = await startCvm(appId);
      const run = await runTaskOk<RegisterNodeResult>("register-node", {
        registry: address,
        fromDstack: true,
        dstackEndpoint: api.endpoint,
        collateral: COLLATERAL_FILE,
        from: relayer.address,
      });
      const path = nodeKeyPath(address, { instanceId: api.cvm.instanceId, composeHash: COMPOSE_A }, "ethereum");
      const expected = new Wallet(hexlify(standInDerivedKey(appId, path))).address;
      expect(run.value.node).to.equal(expected);
      expect(await registry.nodeStatus(expected)).to.equal(1n);
      expect(api.requests.map((r) => r.method)).to.deep.equal(["Info", "GetKey", "GetKey", "GetQuote"]);
      expect(api.requests[1]?.body).to.deep.equal({ path, purpose: NODE_KEY_PURPOSE, algorithm: "secp256k1" });
      // What it verified before signing, and what it registered: the measurement, and dstack's chain for its key.
      expect(run.stdout).to.match(
        new RegExp(`key chain +its key was issued by the KMS root ${STAND_IN_KMS.root.compressedPublicKey}`),
      );
      expect(run.stdout).to.match(/Evidence is checked against dstack's KMS 0x[0-9a-fA-F]{40}: root 0x/);
      expect(run.stdout).to.include("accepted by a STAND-IN verifier: test stand-in");

      const node = await registry.getNode(expected);
      expect(node.bootInfo.composeHash).to.equal(COMPOSE_A);
      expect(node.bootInfo.deviceId).to.equal(FIXTURE_DEVICE_ID); // measured, though Info says device 1
      expect(node.bootInfo.instanceId).to.equal(api.cvm.instanceId);
      expect(node.bootInfo.tcbStatus).to.equal("UpToDate");
      // The member's check of what the node published passes.
      await runTaskOk("verify-node", { registry: address, node: expected, collateral: COLLATERAL_FILE });
    });

    it("gives two instances of one app different keys, though dstack derives from one app key", async function () {
      const { address, registry, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const nodes: string[] = [];
      for (let i = 0; i < 2; i++) {
        const api = await startCvm(appId);
        const run = await runTaskOk<RegisterNodeResult>("register-node", {
          registry: address,
          fromDstack: true,
          dstackEndpoint: api.endpoint,
          collateral: COLLATERAL_FILE,
        });
        nodes.push(run.value.node);
        await api.close();
      }
      expect(nodes[0]).to.not.equal(nodes[1]);
      for (const node of nodes) expect(await registry.nodeStatus(node)).to.equal(1n);
    });

    it("--out writes the signed registration and sends nothing; a host then submits it with --file", async function () {
      const { address, registry, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const api = await startCvm(appId);
      const out = await writeTempFile("registration.json", "");
      const before = await networkHelpers.time.latestBlock();
      const built = await runTaskOk<RegisterNodeResult>("register-node", {
        registry: address,
        fromDstack: true,
        dstackEndpoint: api.endpoint,
        collateral: COLLATERAL_FILE,
        out,
      });
      expect(await networkHelpers.time.latestBlock()).to.equal(before);
      const parsed = parseRegistrationFile(await readFile(out, "utf8"), out);
      expect(parsed.registration.node).to.equal(built.value.node);
      expect(built.stdout).to.include(
        `npx hardhat register-node --registry ${address} --file ${out} --network default`,
      );

      await runTaskOk("register-node", { registry: address, file: out });
      expect(await registry.nodeStatus(built.value.node)).to.equal(1n);
    });

    it("refuses when the CVM runs another app", async function () {
      const { address, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const otherApp = "0x000000000000000000000000000000000000a99a";
      const api = await startCvm(otherApp);
      const run = await runTask("register-node", {
        registry: address,
        fromDstack: true,
        dstackEndpoint: api.endpoint,
        collateral: COLLATERAL_FILE,
      });
      expect(run.errorMessage).to.equal(
        `the node runs app ${otherApp}, but this registry serves app ${appId}: check --registry`,
      );
    });

    it("refuses a CVM without an instance id: every instance would get the same key", async function () {
      const { address, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const api = await startCvm(appId, { instanceId: `0x${"00".repeat(20)}` });
      const run = await runTask("register-node", {
        registry: address,
        fromDstack: true,
        dstackEndpoint: api.endpoint,
        collateral: COLLATERAL_FILE,
      });
      expect(run.errorMessage).to.match(/^the dstack guest API reports no instance id \(is no_instance_id set/);
    });

    it("says which guest API call failed, and when there is no guest API at all", async function () {
      const { address, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const api = await startCvm(appId);
      api.failures.GetQuote = "quote generation failed";
      const run = await runTask("register-node", {
        registry: address,
        fromDstack: true,
        dstackEndpoint: api.endpoint,
        collateral: COLLATERAL_FILE,
      });
      expect(run.errorMessage).to.equal(
        `the dstack guest API at ${api.endpoint} failed on GetQuote: quote generation failed`,
      );
      const missing = "/nonexistent/dstack.sock";
      const none = await runTask("register-node", {
        registry: address,
        fromDstack: true,
        dstackEndpoint: missing,
        collateral: COLLATERAL_FILE,
      });
      expect(none.errorMessage).to.equal(
        `cannot reach the dstack guest API at ${missing}: Unix socket file ${missing} does not exist; run this inside a dstack CVM`,
      );
    });
  });

  describe("--from-dstack with the verifier the command line always uses", function () {
    it("checks the node's own quote with Intel DCAP, so a stand-in quote never gets registered", async function () {
      const { address, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const api = await startDstackGuestApi({
        appId,
        instanceId: Wallet.createRandom().address,
        composeHash: COMPOSE_A,
        deviceId: DEVICE_1,
      });
      try {
        const run = await runTask("register-node", {
          registry: address,
          fromDstack: true,
          dstackEndpoint: api.endpoint,
          collateral: COLLATERAL_FILE,
        });
        expect(run.errorMessage).to.match(
          /^this node's registration would be refused by members: its TDX quote does not verify against Intel's collateral \(DCAP\): the quote does not verify: /,
        );
      } finally {
        await api.close();
      }
    });
  });
});
