/**
 * The replicator (guest/src/replicator.ts) in this process, against a local chain served over JSON-RPC, with TEE
 * stand-in nodes: each has a stand-in dstack guest API and the stand-in quote verification injected through the
 * Replicator's constructor (their quotes are not Intel-signed; see test/helpers/replicator.ts). Passes are driven one
 * at a time, so each test says exactly which pass does what.
 */
import { readdir, readFile, rm } from "node:fs/promises";

import { expect } from "chai";
import { Wallet, hexlify } from "ethers";

import { quoteVerificationFrom, registerArguments } from "../../lib/replication/index.js";
import { cleanUp } from "../helpers/guestAgent.js";
import { COMPOSE_A, COMPOSE_B, testNode } from "../helpers/replication.js";
import type { TestNode } from "../helpers/replication.js";
import { ReplicationWorld, ReplicatorNode } from "../helpers/replicator.js";
import {
  FIXTURE_DEVICE_ID,
  FIXTURE_TIME,
  TDX_FIXTURE_DIR,
  bootStandIn,
  loadTdxFixture,
  signBooted,
} from "../helpers/tee-stand-in.js";

const { quote: TEMPLATE } = await loadTdxFixture();
const REGISTERED = 1n;
const MEMBER = 2n;

describe("replicator (in process, TEE stand-ins, local chain over JSON-RPC)", function () {
  this.timeout(60_000);

  let world: ReplicationWorld;
  const nodes: ReplicatorNode[] = [];

  beforeEach(async function () {
    world = await ReplicationWorld.create();
  });

  afterEach(async function () {
    for (const node of nodes.splice(0)) await node.close();
    await world.close();
  });

  after(cleanUp);

  async function startNode(name: string, mode: "submitter" | "files" | "both", cvm: { composeHash?: string } = {}) {
    const node = await ReplicatorNode.start(world, { name, mode, cvm: { composeHash: cvm.composeHash ?? COMPOSE_A } });
    nodes.push(node);
    return node;
  }

  /** A: registers through its submitter account, is made genesis by the owner, creates the secret. */
  async function genesisA(): Promise<ReplicatorNode> {
    const a = await startNode("A", "submitter");
    await a.pass(); // registers: the transaction is mined at once (automine), confirmed one block later
    expect(a.events("registration")).to.have.length(1);
    await world.mine();
    await a.pass();
    expect(await world.statusOf(a.address)).to.equal(REGISTERED);
    expect(a.events("registered")).to.have.length(1);
    await world.deployed.registry.connect(world.deployed.owner).setGenesis(a.address);
    await world.mine();
    await a.pass();
    expect(a.events("secret")[0]?.source).to.equal("genesis");
    return a;
  }

  /** B: writes its registration for the host, who submits it. */
  async function registeredB(name = "B", mode: "files" | "both" = "files"): Promise<ReplicatorNode> {
    const b = await startNode(name, mode, { composeHash: COMPOSE_B });
    await b.pass();
    await world.submitRegistrationFile(b.registrationFile);
    await world.mine();
    await b.pass();
    expect(await world.statusOf(b.address)).to.equal(REGISTERED);
    return b;
  }

  /** A stand-in node registered by a test, honest or not, signed by its own key. */
  async function registerStandIn(
    node: TestNode,
    measured: Parameters<typeof bootStandIn>[3],
    claim: Parameters<typeof bootStandIn>[4] = {},
  ): Promise<void> {
    const { registry, relayer, domain, appId } = world.deployed;
    const booted = bootStandIn(TEMPLATE, node, appId, measured, claim);
    await (await registry.connect(relayer).register(...registerArguments(await signBooted(booted, domain)))).wait();
  }

  describe("genesis, registration, onboarding, join", function () {
    it("A (genesis) onboards B; B stores the same secret A created, mode 0600", async function () {
      const a = await genesisA();
      const secretOfA = await a.secret();
      expect(secretOfA).to.have.length(32);
      expect(await a.secretMode()).to.equal(0o600);

      const b = await registeredB();
      // The registration file is what `register-node --file` takes, signed by B's in-TEE key (derived by GetKey).
      expect(b.cvm.methods).to.include.members(["Info", "GetKey", "GetQuote"]);
      expect(b.events("registration")[0]?.msg).to.match(
        /for the host to submit \(the status server serves it at \/replication\/registration\.json\): npx hardhat register-node --registry/,
      );
      expect(b.events("waiting")[0]?.msg).to.match(/is registered; waiting for a member to onboard it/);

      await a.pass(); // sees B's registration, verifies it, onboards it
      const [onboarding] = a.events("onboarding");
      const kmsRoot = await world.deployed.registry.kmsRoot();
      expect(onboarding?.msg).to.match(
        new RegExp(
          `^onboarding node ${b.address}: quote verified \\(TCB UpToDate\\), report_data binds its keys, measured ` +
            `compose hash ${COMPOSE_B}, mrSystem 0x[0-9a-f]{64}, device ${FIXTURE_DEVICE_ID}, key provider the KMS's ` +
            `CA, key issued by KMS root ${kmsRoot} to app ${world.appId}, the policy allows it; encrypted the secret ` +
            `to its key, signed as member ${a.address}, sent tx ${String(onboarding?.["txHash"])} from ` +
            `${a.submitter!.address}$`,
        ),
      );
      expect(await world.statusOf(b.address)).to.equal(MEMBER);
      await world.mine();
      await a.pass();
      expect(a.events("onboarded")).to.have.length(1);

      await b.pass(); // a member now: finds its ciphertext and decrypts it
      expect(b.events("secret")[0]?.msg).to.match(
        new RegExp(
          `joined: its sponsors back to the genesis member \\(${a.address}\\) each showed evidence that verifies; ` +
            `decrypted the app's shared secret, onboarded by member ${a.address} in block \\d+`,
        ),
      );
      expect(hexlify((await b.secret())!)).to.equal(hexlify(secretOfA!));
      expect(await b.secretMode()).to.equal(0o600);

      const status = b.replicator.status();
      expect(status).to.deep.include({ node: b.address, nodeStatus: "Member", registered: true, member: true });
      expect(status["secret"]).to.deep.include({ stored: true, source: "onboarding", sponsor: a.address });
      const statusA = a.replicator.status();
      expect(statusA).to.deep.include({ genesis: true, member: true });
      expect((statusA["lastOnboarded"] as Array<{ node: string }>)[0]?.node).to.equal(b.address);
    });

    it("a member without a submitter writes the signed onboarding for the host, once", async function () {
      const a = await genesisA();
      const b = await registeredB();
      // B becomes a member through A, then C registers and B (files only) signs C's onboarding.
      await a.pass();
      await world.mine();
      await b.pass();
      const c = await registeredB("C"); // A makes no pass from here on: B (files only) is the member that acts
      await b.pass();
      const [line] = b.events("onboarding").filter((l) => l.node === c.address);
      const file = String(line?.["file"]);
      expect(line?.msg).to.match(
        /for the host to submit \(the status server serves it at \/replication\/onboardings\/onboarding-0x[0-9a-fA-F]{40}\.json\): npx hardhat onboard-node --registry 0x[0-9a-fA-F]{40} --node/,
      );
      const written = JSON.parse(await readFile(file, "utf8")) as Record<string, string>;
      expect(written).to.include({ type: "dstack-devproof/node-onboarding", node: c.address, member: b.address });

      // A CVM's disk is not the host's: the agent's status server hands the signed files out.
      const agent = b.run();
      try {
        const url = await agent.url;
        const get = async (urlPath: string) => {
          const response = await fetch(`${url}${urlPath}`);
          return { status: response.status, text: await response.text() };
        };
        expect(JSON.parse((await get("/replication/onboardings/")).text)).to.deep.equal([
          `onboarding-${c.address}.json`,
        ]);
        expect((await get(`/replication/onboardings/onboarding-${c.address}.json`)).text).to.equal(
          await readFile(file, "utf8"),
        );
        expect((await get("/replication/registration.json")).text).to.equal(await readFile(b.registrationFile, "utf8"));
        expect((await get("/replication/onboardings/..%2Fregistration.json")).status).to.equal(404);
        expect((await get("/replication/onboardings/../../state/replicator.json")).status).to.equal(404);
      } finally {
        await agent.stop();
      }
      await b.pass();
      await b.restart();
      await b.pass();
      expect(await readFile(file, "utf8")).to.equal(JSON.stringify(written, null, 2) + "\n");
      expect(await readdir(b.onboardingDir)).to.deep.equal([`onboarding-${c.address}.json`]);
    });
  });

  describe("refusals", function () {
    it("refuses a node whose quote does not bind its key, one that lies about its compose hash, and one the policy denies", async function () {
      const a = await genesisA();
      const binding = testNode("bad binding");
      const lying = testNode("lying about compose hash");
      const denied = testNode("denied by the policy");
      // report_data binds another key than the registered one.
      await registerStandIn(
        binding,
        { composeHash: COMPOSE_A },
        { encryptionPublicKey: testNode("x").encryption.publicKey },
      );
      // Measured compose A (RTMR3), claims compose B (also allowed, so the registry accepts the registration).
      await registerStandIn(lying, { composeHash: COMPOSE_A }, { composeHash: COMPOSE_B });
      // Honest, but its release is removed before a member gets to it.
      await registerStandIn(denied, { composeHash: COMPOSE_B });
      await world.deployed.appAuth.connect(world.deployed.owner).removeComposeHash(COMPOSE_B);
      await world.mine();

      await a.pass();
      const refusals = a.events("refusal");
      const line = (node: TestNode) => refusals.find((r) => r.node === node.address);
      expect(line(binding)?.msg).to.match(
        new RegExp(
          `^refused node ${binding.address}: its quote's report_data does not bind its address and registered ` +
            "encryption key: report_data 0x[0-9a-f]+ does not bind node .*; it is never onboarded$",
        ),
      );
      expect(line(lying)?.msg).to.equal(
        `refused node ${lying.address}: the compose hash measured into its RTMR3 is not the one it claims: ` +
          `composeHash claimed ${COMPOSE_B} but the quote measures ${COMPOSE_A}; it is never onboarded`,
      );
      expect(line(denied)?.msg).to.equal(
        `not onboarding node ${denied.address}: the app's policy does not allow it now: Compose hash not allowed; ` +
          "it stays pending and is checked again every pass",
      );
      expect(a.events("onboarding")).to.deep.equal([]);

      // Next passes: no new line for the same reasons; nobody onboarded; the denied node stays pending.
      await world.mine();
      await a.pass();
      await a.pass();
      expect(a.events("refusal")).to.have.length(3);
      for (const node of [binding, lying, denied]) {
        expect(await world.statusOf(node.address)).to.equal(REGISTERED);
        expect(await world.onboardingsOf(node.address)).to.deep.equal([]);
      }
      const status = a.replicator.status();
      expect((status["pending"] as Array<{ node: string; lastReason: string }>).map((p) => p.node)).to.deep.equal([
        denied.address,
      ]);
      expect((status["lastRefused"] as Array<{ node: string }>).map((r) => r.node)).to.have.members([
        binding.address,
        lying.address,
        denied.address,
      ]);

      // After a restart the refusals stand (the state file remembers them); nothing is re-verified or sent.
      await a.restart();
      await a.pass();
      expect(a.events("onboarding")).to.deep.equal([]);
    });

    it("does not send a registration the registry would revert: a release the policy does not allow", async function () {
      const c = await startNode("C", "submitter", { composeHash: `0x${"cc".repeat(32)}` });
      await c.pass();
      await c.pass();
      const lines = c.events("would-revert");
      expect(lines).to.have.length(1); // once per reason, not every pass
      expect(lines[0]?.msg).to.equal(
        `not sending this node's registration: the registry would revert it (RegistryBootInfoNotAllowed(` +
          `${c.address}, Compose hash not allowed)); trying again every pass`,
      );
      expect(await world.statusOf(c.address)).to.equal(0n);
      expect(await world.connection.ethers.provider.getTransactionCount(c.submitter!.address)).to.equal(0);
    });

    it("with Intel DCAP, the verification the agent always uses, refuses a stand-in node's quote", async function () {
      const a = await genesisA();
      const stranger = testNode("stand-in quote");
      await registerStandIn(stranger, { composeHash: COMPOSE_A });
      await world.mine();
      // The same agent, restarted with the verification main.ts builds (collateral from a file here, at its time).
      await a.restart({
        verifyQuote: quoteVerificationFrom(
          { file: new URL("tdx_quote_collateral.json", TDX_FIXTURE_DIR).pathname },
          { nowSeconds: () => FIXTURE_TIME },
        ),
      });
      await a.pass();
      const [refusal] = a.events("refusal");
      expect(refusal?.msg).to.match(
        new RegExp(
          `^refused node ${stranger.address}: its TDX quote does not verify against Intel's collateral \\(DCAP\\): ` +
            "the quote does not verify: .+; it is never onboarded$",
        ),
      );
      expect(await world.statusOf(stranger.address)).to.equal(REGISTERED);
    });
  });

  describe("restarts", function () {
    it("a restarted member does not onboard twice, even when it stopped before its transaction was mined", async function () {
      const a = await genesisA();
      const b = await registeredB();
      const submitter = a.submitter!.address;
      const provider = world.connection.ethers.provider;

      // The onboarding is signed, recorded and broadcast, but not mined when the agent stops.
      await world.connection.provider.request({ method: "evm_setAutomine", params: [false] });
      const nonceBefore = await provider.getTransactionCount(submitter, "latest");
      await a.pass();
      expect(a.events("onboarding")).to.have.length(1);
      const sent = String(a.events("onboarding")[0]?.["txHash"]);
      const recorded = JSON.parse(await readFile(`${a.stateDir}/replicator.json`, "utf8")) as {
        inflight: Record<string, { hash: string }>;
      };
      expect(recorded.inflight[b.address]?.hash).to.equal(sent);

      await a.restart();
      await a.pass(); // broadcasts the same signed bytes again, signs nothing new
      expect(a.events("onboarding")).to.have.length(1);
      await world.connection.provider.request({ method: "evm_setAutomine", params: [true] });
      await world.mine();
      expect(await provider.getTransactionCount(submitter, "latest")).to.equal(nonceBefore + 1);
      expect((await provider.getTransactionReceipt(sent))?.status).to.equal(1);

      await a.pass();
      expect(a.events("onboarded")).to.have.length(1);
      await a.restart();
      await world.mine();
      await a.pass();
      await a.pass();
      expect(a.events("onboarding")).to.have.length(1); // log lines of every run of A, kept across its restarts
      expect(await world.onboardingsOf(b.address)).to.have.length(1);
      expect(await provider.getTransactionCount(submitter, "latest")).to.equal(nonceBefore + 1);
    });

    it("a node restarted while it waits to be onboarded resumes: no new registration, then it joins", async function () {
      const a = await genesisA();
      const b = await registeredB();
      const file = await readFile(b.registrationFile, "utf8");
      await b.restart();
      await b.pass();
      expect(await readFile(b.registrationFile, "utf8")).to.equal(file);
      expect(b.events("registration")).to.have.length(1);

      await a.pass();
      await world.mine();
      await b.restart();
      await b.pass();
      expect(hexlify((await b.secret())!)).to.equal(hexlify((await a.secret())!));
    });

    it("the genesis member never makes a second secret once it handed the first one on", async function () {
      const a = await genesisA();
      await registeredB();
      await a.pass();
      await world.mine();
      await rm(a.secretPath);
      await a.restart();
      let message = "";
      await a.pass().catch((error: Error) => (message = error.message));
      // Proven: the registry counts two members.
      expect(message).to.match(/is the genesis member but holds no secret .* the registry counts 2 members at block/);
      expect(await a.secret()).to.equal(undefined);

      // The owner removes B: one member again, and only the onboarding logs (asked of every endpoint) show that the
      // secret was handed on. They are enough not to make a second one.
      const [onboarded] = await world.deployed.registry.queryFilter(world.deployed.registry.filters.NodeOnboarded());
      await (await world.deployed.registry.connect(world.deployed.owner).evict(onboarded!.args.node)).wait();
      await world.mine();
      message = "";
      await a.pass().catch((error: Error) => (message = error.message));
      expect(message).to.match(
        /is the genesis member but holds no secret .* records 1 onboarding\(s\) made with the app's secret/,
      );
      expect(await a.secret()).to.equal(undefined);
    });
  });

  describe("RPC faults", function () {
    it("survives an RPC that fails, and a broadcast that fails after signing: one onboarding", async function () {
      const a = await genesisA();
      const b = await registeredB();

      world.rpc.fault = { kind: "error" };
      let message = "";
      await a.pass().catch((error: Error) => (message = error.message));
      expect(message).to.match(/^only 0 of 1 RPC endpoints answered, 1 must agree: http:\/\/127\.0\.0\.1:\d+: /);
      expect(a.events("verification")[0]?.msg).to.match(/^UNVERIFIED CHAIN STATE: only 0 of 1 RPC endpoints answered/);
      expect(a.replicator.status()["lastError"]).to.not.equal(null);

      // Reads work again, but the first broadcast fails: the signed transaction is kept and sent again later.
      world.rpc.fault = { kind: "error", methods: ["eth_sendRawTransaction"] };
      await a.pass();
      expect(a.events("broadcast-failed")).to.have.length(1);
      expect(await world.statusOf(b.address)).to.equal(REGISTERED);
      world.rpc.fault = { kind: "none" };
      await a.restart(); // forget the last broadcast time: the next pass broadcasts at once
      await a.pass();
      expect(await world.statusOf(b.address)).to.equal(MEMBER);
      await world.mine();
      await a.pass();
      expect(a.events("onboarding")).to.have.length(1); // logged once, before the restart
      expect(await world.onboardingsOf(b.address)).to.have.length(1);

      await b.pass();
      expect(hexlify((await b.secret())!)).to.equal(hexlify((await a.secret())!));
    });

    it("refuses to start in a CVM of another app, or with an address that is no registry", async function () {
      const failure = (settings: Partial<Parameters<typeof ReplicatorNode.start>[1]>) =>
        ReplicatorNode.start(world, { name: "misconfigured", mode: "files", ...settings }).then(
          () => "started",
          (error: Error) => error.message,
        );
      expect(await failure({ cvm: { appId: Wallet.createRandom().address } })).to.match(
        /^this CVM runs app 0x[0-9a-fA-F]{40}, but --app-auth is 0x[0-9a-fA-F]{40}: the app id of a dstack app is its auth contract's address$/,
      );
      expect(await failure({ registry: world.appId })).to.match(
        /^no RPC endpoint answered: http:\/\/127\.0\.0\.1:\d+: the contract at 0x[0-9a-fA-F]{40} on http:\/\/127\.0\.0\.1:\d+ is not a ReplicationRegistry/,
      );
    });
  });
});
