import { readFile } from "node:fs/promises";

import { expect } from "chai";
import { Wallet, hexlify, id } from "ethers";

import { decryptSecret, parseOnboardingFile, signRegistration } from "../../lib/replication/index.js";
import type { OnboardNodeResult } from "../../tasks/onboard-node.js";
import type { RegisterNodeResult } from "../../tasks/register-node.js";
import { startDstackGuestApi } from "../helpers/dstack-guest-api.js";
import { FIXTURE_TIME, loadTdxFixture } from "../helpers/tee-stand-in.js";
import { networkHelpers, runTask, runTaskOk, writeTempFile } from "./helpers.js";
import {
  A,
  B,
  COLLATERAL_FILE,
  COMPOSE_A,
  COMPOSE_B,
  DEVICE_1,
  emptyRegistry,
  registerArgs,
  registryWithGenesis,
  signedStandIn,
  testNode,
  withStandInVerifier,
} from "./registry-helpers.js";

describe("onboard-node", function () {
  describe("with the stand-in verifier (TEE stand-ins)", function () {
    withStandInVerifier();

    it("verifies the node, encrypts the secret to its key, signs as the member; B decrypts what A holds", async function () {
      const { address, registry, relayer, secret, secretFile, memberKeyFile } =
        await networkHelpers.loadFixture(registryWithGenesis);
      const run = await runTaskOk<OnboardNodeResult>("onboard-node", {
        registry: address,
        node: B.address,
        secretFile,
        memberKeyFile,
        collateral: COLLATERAL_FILE,
        from: relayer.address,
      });
      expect(await registry.isMember(B.address)).to.equal(true);
      expect((await registry.getNode(B.address)).sponsor).to.equal(A.address);
      for (const line of [
        `Verifying node ${B.address} (registered in block`,
        "  quote        accepted by a STAND-IN verifier: test stand-in",
        "  TCB          UpToDate, no advisories",
        "  report_data  binds the node's address and its registered encryption key",
        `compose hash ${COMPOSE_B}, instance`,
        "  key provider the KMS whose CA key kmsInfo().caPubkey publishes",
        "  key chain    its key was issued by the KMS root ",
        "  attestation  counts until ",
        "  policy       the app's TimelockedAppAuth",
        `Onboarded: node ${B.address} is a member, sponsored by ${A.address}.`,
      ]) {
        expect(run.stdout).to.include(line);
      }
      const [event] = await registry.queryFilter(registry.filters.NodeOnboarded(B.address));
      expect(hexlify(decryptSecret(B.encryption.privateKey, event?.args.ciphertext ?? "0x"))).to.equal(secret);
    });

    it("--out writes the signed onboarding for a host, which submits it with --onboarding", async function () {
      const { address, registry, stranger, secretFile, memberKeyFile } =
        await networkHelpers.loadFixture(registryWithGenesis);
      const out = await writeTempFile("onboarding.json", "");
      const before = await networkHelpers.time.latestBlock();
      const written = await runTaskOk<OnboardNodeResult>("onboard-node", {
        registry: address,
        node: B.address,
        secretFile,
        memberKeyFile,
        collateral: COLLATERAL_FILE,
        out,
      });
      expect(await networkHelpers.time.latestBlock()).to.equal(before);
      expect(parseOnboardingFile(await readFile(out, "utf8"), out).member).to.equal(A.address);
      expect(written.stdout).to.include(
        `npx hardhat onboard-node --registry ${address} --node ${B.address} --onboarding ${out} --network default`,
      );

      const submitted = await runTaskOk("onboard-node", {
        registry: address,
        node: B.address,
        onboarding: out,
        collateral: COLLATERAL_FILE,
        from: stranger.address,
      });
      expect(submitted.stdout).to.include(`Submitting the onboarding signed by member ${A.address}`);
      expect(await registry.isMember(B.address)).to.equal(true);
    });

    it("--member-from-dstack signs with the key the member registered with, derived again inside its CVM", async function () {
      const { address, registry, owner, relayer, domain, appId } = await networkHelpers.loadFixture(emptyRegistry);
      const cvm = await startDstackGuestApi({
        appId,
        instanceId: Wallet.createRandom().address,
        composeHash: COMPOSE_A,
        deviceId: DEVICE_1,
      });
      try {
        const registered = await runTaskOk<RegisterNodeResult>("register-node", {
          registry: address,
          fromDstack: true,
          dstackEndpoint: cvm.endpoint,
          collateral: COLLATERAL_FILE,
        });
        await runTaskOk("set-genesis", { registry: address, node: registered.value.node, collateral: COLLATERAL_FILE });
        await registry
          .connect(relayer)
          .register(...registerArgs(await signedStandIn(domain, appId, B, { composeHash: COMPOSE_B })));
        await runTaskOk("onboard-node", {
          registry: address,
          node: B.address,
          secretFile: await writeTempFile("secret", "the app's secret"),
          memberFromDstack: true,
          dstackEndpoint: cvm.endpoint,
          collateral: COLLATERAL_FILE,
          from: owner.address,
        });
        expect((await registry.getNode(B.address)).sponsor).to.equal(registered.value.node);
      } finally {
        await cvm.close();
      }
    });

    describe("refuses, before sending, with one line", function () {
      it("a node that is not registered, or already a member", async function () {
        const { address, secretFile, memberKeyFile } = await networkHelpers.loadFixture(registryWithGenesis);
        const nobody = Wallet.createRandom().address;
        const options = { registry: address, secretFile, memberKeyFile, collateral: COLLATERAL_FILE };
        expect((await runTask("onboard-node", { ...options, node: nobody })).errorMessage).to.equal(
          `cannot onboard it: node ${nobody} is not registered with this registry (register it first: npx hardhat register-node)`,
        );
        expect((await runTask("onboard-node", { ...options, node: A.address })).errorMessage).to.equal(
          `cannot onboard it: node ${A.address} is already a member`,
        );
      });

      it("a node whose quote does not bind its registered key", async function () {
        const { address, registry, relayer, domain, appId, secretFile, memberKeyFile } =
          await networkHelpers.loadFixture(registryWithGenesis);
        const swapped = testNode("swapped");
        const hostKey = hexlify(testNode("host").encryption.publicKey);
        const signed = await signedStandIn(
          domain,
          appId,
          swapped,
          { composeHash: COMPOSE_A },
          { encryptionPublicKey: hostKey },
        );
        await registry.connect(relayer).register(...registerArgs(signed)); // the contract cannot tell
        const run = await runTask("onboard-node", {
          registry: address,
          node: swapped.address,
          secretFile,
          memberKeyFile,
          collateral: COLLATERAL_FILE,
        });
        expect(run.errorMessage).to.match(
          new RegExp(
            `^cannot onboard ${swapped.address}: its quote's report_data does not bind its address and registered ` +
              "encryption key: report_data 0x[0-9a-f]{128} does not bind node",
          ),
        );
        expect(await registry.isMember(swapped.address)).to.equal(false);
      });

      it("a node that runs another compose hash than it claims", async function () {
        const { address, registry, relayer, domain, appId, secretFile, memberKeyFile } =
          await networkHelpers.loadFixture(registryWithGenesis);
        const liar = testNode("liar");
        const signed = await signedStandIn(
          domain,
          appId,
          liar,
          { composeHash: id("compose C, never allowed") },
          { composeHash: COMPOSE_A },
        );
        await registry.connect(relayer).register(...registerArgs(signed));
        const run = await runTask("onboard-node", {
          registry: address,
          node: liar.address,
          secretFile,
          memberKeyFile,
          collateral: COLLATERAL_FILE,
        });
        expect(run.errorMessage).to.equal(
          `cannot onboard ${liar.address}: the compose hash measured into its RTMR3 is not the one it claims: ` +
            `composeHash claimed ${COMPOSE_A} but the quote measures ${id("compose C, never allowed")}`,
        );
      });

      it("a node the app's policy no longer allows, with the policy's reason", async function () {
        const { address, appAuth, owner, secretFile, memberKeyFile } =
          await networkHelpers.loadFixture(registryWithGenesis);
        await appAuth.connect(owner).removeComposeHash(COMPOSE_B);
        const run = await runTask("onboard-node", {
          registry: address,
          node: B.address,
          secretFile,
          memberKeyFile,
          collateral: COLLATERAL_FILE,
        });
        expect(run.errorMessage).to.equal(
          `cannot onboard ${B.address}: the app's policy does not allow it now: Compose hash not allowed`,
        );
      });

      it("a key that is not a member's, and a member the policy no longer allows", async function () {
        const { address, appAuth, owner, secretFile } = await networkHelpers.loadFixture(registryWithGenesis);
        const stranger = Wallet.createRandom();
        const options = { registry: address, node: B.address, secretFile, collateral: COLLATERAL_FILE };
        const strangerKey = await writeTempFile("stranger.key", stranger.privateKey);
        expect((await runTask("onboard-node", { ...options, memberKeyFile: strangerKey })).errorMessage).to.equal(
          `${stranger.address} is not a member of this registry: only a member's signature onboards a node ` +
            `(1 member(s); list them with npx hardhat nodes --registry ${address})`,
        );
        await appAuth.connect(owner).removeComposeHash(COMPOSE_A); // A's release
        const memberKeyFile = await writeTempFile("member.key", A.wallet.privateKey);
        expect((await runTask("onboard-node", { ...options, memberKeyFile })).errorMessage).to.equal(
          `member ${A.address} is no longer allowed by the app's policy (Compose hash not allowed), so the registry ` +
            "refuses its onboardings",
        );
      });

      it("an onboarding file for another node or quote, or not signed by the member it names", async function () {
        const { address, registry, relayer, domain, appId, secretFile, memberKeyFile } =
          await networkHelpers.loadFixture(registryWithGenesis);
        const out = await writeTempFile("onboarding.json", "");
        await runTaskOk("onboard-node", {
          registry: address,
          node: B.address,
          secretFile,
          memberKeyFile,
          collateral: COLLATERAL_FILE,
          out,
        });
        const other = Wallet.createRandom().address;
        const submit = { registry: address, onboarding: out, collateral: COLLATERAL_FILE };
        expect((await runTask("onboard-node", { ...submit, node: A.address })).errorMessage).to.equal(
          `cannot onboard it: node ${A.address} is already a member`,
        );
        const C = testNode("tasks C");
        await registry
          .connect(relayer)
          .register(...registerArgs(await signedStandIn(domain, appId, C, { composeHash: COMPOSE_A })));
        expect((await runTask("onboard-node", { ...submit, node: C.address })).errorMessage).to.equal(
          `${out} onboards node ${B.address}, not ${C.address}`,
        );
        const file = JSON.parse(await readFile(out, "utf8")) as Record<string, string>;
        const otherQuote = await writeTempFile("onboarding.json", JSON.stringify({ ...file, quoteHash: id("q") }));
        expect(
          (await runTask("onboard-node", { ...submit, node: B.address, onboarding: otherQuote })).errorMessage,
        ).to.equal(
          `${otherQuote} is signed for quote hash ${id("q")}, but node ${B.address} registered quote ` +
            (await registry.getNode(B.address)).quoteHash,
        );
        const forged = await writeTempFile("onboarding.json", JSON.stringify({ ...file, member: other }));
        expect(
          (await runTask("onboard-node", { ...submit, node: B.address, onboarding: forged })).errorMessage,
        ).to.equal(`${forged} is signed by ${A.address}, not by the member ${other} it names`);
        const tampered = await writeTempFile(
          "onboarding.json",
          JSON.stringify({ ...file, ciphertext: `${file["ciphertext"]}00` }),
        );
        expect(
          (await runTask("onboard-node", { ...submit, node: B.address, onboarding: tampered })).errorMessage,
        ).to.match(new RegExp(`^${tampered} is signed by 0x[0-9a-fA-F]{40}, not by the member ${A.address} it names$`));
      });

      it("bad options: missing secret or key, both keys, an empty secret, a malformed key, both collateral sources", async function () {
        const { address, secretFile, memberKeyFile } = await networkHelpers.loadFixture(registryWithGenesis);
        const base = { registry: address, node: B.address };
        expect((await runTask("onboard-node", { ...base, memberKeyFile })).errorMessage).to.equal(
          "--secret-file is required: the shared secret to hand over (or --onboarding, an onboarding a member signed elsewhere)",
        );
        expect((await runTask("onboard-node", { ...base, secretFile })).errorMessage).to.equal(
          "--member-key-file or --member-from-dstack is required: the member's key signs the onboarding (the " +
            "registry accepts only a member's signature)",
        );
        expect(
          (await runTask("onboard-node", { ...base, secretFile, memberKeyFile, memberFromDstack: true })).errorMessage,
        ).to.equal("--member-key-file and --member-from-dstack cannot be used together: give exactly one");
        const empty = await writeTempFile("secret", "");
        expect((await runTask("onboard-node", { ...base, secretFile: empty, memberKeyFile })).errorMessage).to.equal(
          `--secret-file ${empty} is empty: there is no secret to hand over`,
        );
        const badKey = await writeTempFile("member.key", "not a key");
        expect(
          (await runTask("onboard-node", { ...base, secretFile, memberKeyFile: badKey, collateral: COLLATERAL_FILE }))
            .errorMessage,
        ).to.equal(`--member-key-file ${badKey} does not hold a private key (0x + 64 hex digits)`);
        expect(
          (
            await runTask("onboard-node", {
              ...base,
              secretFile,
              memberKeyFile,
              collateral: COLLATERAL_FILE,
              pccsUrl: "https://pccs.example.org",
            })
          ).errorMessage,
        ).to.equal("--collateral and --pccs-url cannot be used together: give exactly one");
        expect((await runTask("onboard-node", { ...base, secretFile, memberKeyFile, at: -5 })).errorMessage).to.equal(
          '--at "-5" is not valid: expected a unix time in seconds (e.g. 1750809600)',
        );
        const notCollateral = await writeTempFile("collateral.json", "{}");
        expect(
          (await runTask("onboard-node", { ...base, secretFile, memberKeyFile, collateral: notCollateral }))
            .errorMessage,
        ).to.match(
          new RegExp(`^the collateral file ${notCollateral} is not DCAP collateral \\(missing pck_crl_issuer_chain`),
        );
        const latest = await networkHelpers.time.latestBlock();
        expect(
          (
            await runTask("onboard-node", {
              ...base,
              secretFile,
              memberKeyFile,
              collateral: COLLATERAL_FILE,
              fromBlock: latest + 1,
            })
          ).errorMessage,
        ).to.equal(
          `cannot onboard ${B.address}: no NodeRegistered event of ${B.address} since block ${latest + 1}: pass ` +
            "--from-block <the registry's deployment block>",
        );
        expect(
          (await runTask("onboard-node", { ...base, node: "0x12", secretFile, memberKeyFile })).errorMessage,
        ).to.equal('--node "0x12" is not valid: expected an address: 0x followed by 40 hex digits');
      });
    });
  });

  describe("with the verifier the command line always uses (Intel DCAP)", function () {
    it("refuses a stand-in quote: its Intel signature no longer verifies", async function () {
      const { address, secretFile, memberKeyFile } = await networkHelpers.loadFixture(registryWithGenesis);
      const run = await runTask("onboard-node", {
        registry: address,
        node: B.address,
        secretFile,
        memberKeyFile,
        collateral: COLLATERAL_FILE,
        at: FIXTURE_TIME,
      });
      expect(run.errorMessage).to.match(
        new RegExp(
          `^cannot onboard ${B.address}: its TDX quote does not verify against Intel's collateral \\(DCAP\\): ` +
            "the quote does not verify: ",
        ),
      );
    });

    it("verifies the real fixture quote at its collateral's time, then refuses it: it binds no key of the node", async function () {
      const { address, registry, relayer, domain, appId, secretFile, memberKeyFile } =
        await networkHelpers.loadFixture(registryWithGenesis);
      const { quote } = await loadTdxFixture();
      const node = testNode("real quote");
      const signed = await signedStandIn(domain, appId, node, { composeHash: COMPOSE_A });
      const realQuote = { ...signed.registration, quote: hexlify(quote) };
      await registry.connect(relayer).register(
        ...registerArgs({
          ...signed,
          registration: realQuote,
          signature: await signRegistration(node.wallet, domain, realQuote),
        }),
      );
      const run = await runTask("onboard-node", {
        registry: address,
        node: node.address,
        secretFile,
        memberKeyFile,
        collateral: COLLATERAL_FILE,
        at: FIXTURE_TIME,
      });
      // Past the DCAP check (signature, chain, CRLs, TCB at that time), the binding check refuses it.
      expect(run.errorMessage).to.match(
        new RegExp(`^cannot onboard ${node.address}: its quote's report_data does not bind its address`),
      );
    });
  });
});
