/**
 * The verified reader's parts, with real answers of Hardhat's in-process chain: headers hash to what they claim
 * (L1 and OP Stack, each fork's layout), EIP-1186 proofs verify against the state root and tampered ones do not,
 * TimelockedAppAuth's release read from proven storage equals what its views answer, and the quorum counts hashes
 * so that one lying or silent endpoint is outvoted or left out, and too few or disagreeing ones verify nothing.
 */
import { expect } from "chai";
import { AbiCoder, concat, toBeHex, type Signer } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

import { connectReleaseReader, readReleaseAt } from "../../lib/release.js";
import { headerFromRpcBlock, HeaderMismatchError } from "../../lib/verified/header.js";
import { LightClientHeaderSource } from "../../lib/verified/lightClient.js";
import { HeaderUnverifiedError, QuorumHeaderSource } from "../../lib/verified/headers.js";
import {
  EMPTY_TRIE_ROOT,
  ProofError,
  slotHex,
  verifyAccountProof,
  verifyProofAnswer,
} from "../../lib/verified/proof.js";
import { ProofUnavailableError, VerifiedChainReader } from "../../lib/verified/reader.js";
import { eip1193RpcClient, type RpcClient } from "../../lib/verified/rpc.js";
import {
  APP_AUTH_STORAGE,
  checkProvenAppAuth,
  COMPOSE_HASH_STATUS,
  composeHashEntrySlot,
  composeHashListSlot,
  readProvenProposals,
  readProvenRelease,
  STRUCT_MEMBERS,
  unpack,
} from "../../lib/verified/timelockedAppAuth.js";
import type { TimelockedAppAuth } from "../../types/ethers-contracts/index.js";
import { deployTimelockedAppAuth, MIN_NOTICE_PERIOD } from "../helpers/appAuth.js";

type Json = Record<string, unknown>;

/** An endpoint over the chain whose answers `rewrite` may change (a lying endpoint), or that fails (a silent one). */
function endpoint(
  connection: NetworkConnection,
  name: string,
  rewrite?: (method: string, params: readonly unknown[], answer: unknown) => unknown,
): RpcClient & { silent: boolean } {
  const client = {
    shown: name,
    silent: false,
    async request(method: string, params: readonly unknown[]) {
      if (client.silent) throw new Error(`${method}: no answer`);
      const answer = await eip1193RpcClient(name, connection.provider).request(method, params);
      return rewrite === undefined ? answer : rewrite(method, params, structuredClone(answer));
    },
  };
  return client;
}

const LONG_URI = `https://example.org/releases/${"long/".repeat(20)}app-compose.json`; // > 31 bytes: the long encoding
const SHORT_URI = "ipfs://short"; // ≤ 31 bytes: the short encoding
const HASH = (n: number) => `0x${n.toString(16).padStart(2, "0").repeat(32)}`;

describe("lib/verified", function () {
  this.timeout(60_000);

  describe("headerFromRpcBlock", function () {
    const layouts = [
      { chainType: "l1", hardfork: undefined },
      { chainType: "l1", hardfork: "cancun" },
      { chainType: "l1", hardfork: "shanghai" },
      { chainType: "l1", hardfork: "london" },
      { chainType: "l1", hardfork: "berlin" },
      { chainType: "op", hardfork: undefined },
      { chainType: "op", hardfork: "ecotone" },
      { chainType: "op", hardfork: "bedrock" },
    ] as const;
    for (const { chainType, hardfork } of layouts) {
      it(`hashes a ${chainType} header of ${hardfork ?? "the default fork"} to its hash, and refuses it tampered`, async function () {
        const connection = await network.create({
          network: "default",
          chainType,
          ...(hardfork === undefined ? {} : { override: { hardfork } }),
        });
        try {
          await connection.provider.request({ method: "evm_mine", params: [] });
          const block = (await connection.provider.request({
            method: "eth_getBlockByNumber",
            params: ["latest", false],
          })) as Json;
          const header = headerFromRpcBlock(block);
          expect(header.hash).to.equal(block["hash"]);
          expect(header.stateRoot).to.equal(block["stateRoot"]);
          expect(header.number).to.equal(Number(block["number"]));
          expect(() => headerFromRpcBlock({ ...block, stateRoot: `0x${"00".repeat(32)}` })).to.throw(
            HeaderMismatchError,
            /hash to 0x[0-9a-f]{64}, not to the hash it reports/,
          );
          expect(() => headerFromRpcBlock({ ...block, hash: `0x${"ab".repeat(32)}` })).to.throw(HeaderMismatchError);
        } finally {
          await connection.close();
        }
      });
    }
  });

  describe("proofs and TimelockedAppAuth's storage", function () {
    let connection: NetworkConnection;
    let appAuth: TimelockedAppAuth;
    let address: string;

    before(async function () {
      connection = await network.create();
      appAuth = await deployTimelockedAppAuth(connection.ethers, {
        noticePeriod: MIN_NOTICE_PERIOD,
        composeHash: HASH(1),
        composeUri: LONG_URI,
      });
      address = await appAuth.getAddress();
    });
    after(async function () {
      await connection.close();
    });

    async function latestHeader() {
      const block = await connection.provider.request({ method: "eth_getBlockByNumber", params: ["latest", false] });
      return headerFromRpcBlock(block);
    }
    const getProof = async (slots: bigint[], at: number) =>
      (await connection.provider.request({
        method: "eth_getProof",
        params: [address, slots.map(slotHex), `0x${at.toString(16)}`],
      })) as { accountProof: string[]; storageProof: Array<{ key: string; value: string; proof: string[] }> };
    const reader = () =>
      new VerifiedChainReader(new QuorumHeaderSource([endpoint(connection, "a")], { quorum: 1 }), [
        endpoint(connection, "a"),
      ]);

    it("verifies a real proof: the proven values are the contract's", async function () {
      const header = await latestHeader();
      const slots = [APP_AUTH_STORAGE.policy.slot, composeHashListSlot(0n), 12345n];
      const proven = await verifyProofAnswer(header.stateRoot, address, slots, await getProof(slots, header.number));
      expect(proven.account.exists).to.equal(true);
      const policy = proven.slots.get(APP_AUTH_STORAGE.policy.slot) ?? 0n;
      expect(unpack(policy, STRUCT_MEMBERS.Policy.noticePeriod)).to.equal(await appAuth.noticePeriod());
      expect(proven.slots.get(composeHashListSlot(0n))).to.equal(BigInt(HASH(1)));
      expect(proven.slots.get(12345n)).to.equal(0n); // never written: proven absent
    });

    it("refuses a proof with a changed node, a changed claimed value, another block's root, or an empty proof", async function () {
      const header = await latestHeader();
      const slot = composeHashListSlot(0n);
      const proof = await getProof([slot], header.number);

      const forgedNode = structuredClone(proof);
      const last = forgedNode.storageProof[0]!.proof.length - 1;
      forgedNode.storageProof[0]!.proof[last] = forgedNode.storageProof[0]!.proof[last]!.replace(/0101/, "0202");
      await expectProofError(
        verifyProofAnswer(header.stateRoot, address, [slot], forgedNode),
        /does not lead from root/,
      );

      const forgedValue = structuredClone(proof);
      forgedValue.storageProof[0]!.value = HASH(2);
      await expectProofError(verifyProofAnswer(header.stateRoot, address, [slot], forgedValue), /it claims 0x0202/);

      const forgedAccount = structuredClone(proof);
      forgedAccount.accountProof[0] = forgedAccount.accountProof[0]!.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
      await expectProofError(verifyProofAnswer(header.stateRoot, address, [slot], forgedAccount), /account/);

      await connection.networkHelpers.mine(1);
      const newer = await latestHeader();
      const otherRoot = await getProof([slot], newer.number);
      await (await appAuth.lengthenNoticePeriod(MIN_NOTICE_PERIOD * 2n)).wait();
      const changed = await latestHeader();
      // A proof of the state after the change does not verify against the root before it.
      await expectProofError(
        verifyProofAnswer(
          newer.stateRoot,
          address,
          [APP_AUTH_STORAGE.policy.slot],
          await getProof([APP_AUTH_STORAGE.policy.slot], changed.number),
        ),
        /does not lead from root|claims storage root/,
      );
      expect(otherRoot.accountProof.length).to.be.greaterThan(0);

      await expectProofError(verifyAccountProof(header.stateRoot, address, []), /an empty proof for a non-empty trie/);
      expect(EMPTY_TRIE_ROOT).to.match(/^0x56e81f17/);
    });

    it("proves an account that does not exist as absent", async function () {
      const header = await latestHeader();
      const nobody = `0x${"00".repeat(19)}42`;
      const answer = (await connection.provider.request({
        method: "eth_getProof",
        params: [nobody, [], `0x${header.number.toString(16)}`],
      })) as { accountProof: string[] };
      expect((await verifyAccountProof(header.stateRoot, nobody, answer.accountProof)).exists).to.equal(false);
    });

    it("reads the current release from proven storage and its URI from the log it points at, as the views answer it: long URI, short URI, removed, none", async function () {
      const view = async () => readProvenRelease(reader(), address, await latestHeader(), [HASH(1), HASH(9)]);

      let proven = await view();
      expect(proven.release).to.deep.include({ composeHash: HASH(1), uri: LONG_URI, allowed: true });
      expect(proven.release?.setAt).to.equal((await appAuth.currentRelease()).setAt);
      expect(proven.allowed.get(HASH(9))).to.equal(false);

      await (await appAuth.proposeComposeHash(HASH(2), SHORT_URI)).wait();
      await connection.networkHelpers.time.increase(MIN_NOTICE_PERIOD * 2n);
      await (await appAuth.activateComposeHash(HASH(2))).wait();
      proven = await view();
      const [hash, , setAt] = await appAuth.currentRelease();
      expect(proven.release).to.deep.equal({ composeHash: hash, uri: SHORT_URI, setAt, allowed: true });
      const head = await connection.ethers.provider.getBlockNumber();
      const viewed = await readReleaseAt(connectReleaseReader(address, connection.ethers.provider), head);
      expect(viewed).to.deep.equal(proven.release);
      expect(proven.allowed.get(HASH(1))).to.equal(true);

      await (await appAuth.removeComposeHash(HASH(2))).wait();
      proven = await view();
      expect(proven.release).to.deep.include({ composeHash: HASH(2), uri: "", allowed: false });
      expect((await appAuth.currentRelease()).uriBlock).to.equal(0n);

      const empty = await deployTimelockedAppAuth(connection.ethers, {
        noticePeriod: MIN_NOTICE_PERIOD,
        composeHash: `0x${"00".repeat(32)}`,
        composeUri: "",
      });
      const none = await readProvenRelease(reader(), await empty.getAddress(), await latestHeader(), []);
      expect(none.release).to.equal(undefined);
    });

    it("refuses a URI that is not UTF-8, naming why, from proven storage as from the view; passes over an endpoint whose log does not match storage or is pruned", async function () {
      const hostile = await deployTimelockedAppAuth(connection.ethers, {
        noticePeriod: MIN_NOTICE_PERIOD,
        composeHash: HASH(1),
        composeUri: SHORT_URI,
      });
      const at = await hostile.getAddress();
      const owner = hostile.runner as Signer;
      const views = connectReleaseReader(at, connection.ethers.provider);
      // What an owner can store and ethers would not encode as a string: bytes that are not UTF-8.
      const short = Uint8Array.from([...new TextEncoder().encode("ipfs://x\u001b[2J"), 0xff]); // the short encoding
      const long = Uint8Array.from([...new TextEncoder().encode(LONG_URI), 0xc0, 0x80]); // the long encoding
      const cases = [
        { hash: HASH(0x21), uri: short, shown: `"ipfs://x\\x1b[2J\ufffd"` },
        { hash: HASH(0x22), uri: long, shown: `"${LONG_URI}\ufffd\ufffd"` },
      ];
      const propose = hostile.interface.getFunction("proposeComposeHash");
      for (const { hash, uri } of cases) {
        const data = concat([propose.selector, AbiCoder.defaultAbiCoder().encode(["bytes32", "bytes"], [hash, uri])]);
        await (await owner.sendTransaction({ to: at, data })).wait();
      }
      await connection.networkHelpers.time.increase(MIN_NOTICE_PERIOD * 2n);

      for (const { hash, shown } of cases) {
        await (await hostile.activateComposeHash(hash)).wait();
        const header = await latestHeader();
        const proven = (await readProvenRelease(reader(), at, header, [HASH(1)])).release;
        const viewed = await readReleaseAt(views, header.number);
        expect(proven).to.deep.equal(viewed);
        expect(proven).to.deep.include({
          composeHash: hash,
          allowed: true,
          uriProblem: `the compose URI of release ${hash} is not UTF-8 (as far as it decodes: ${shown}): no file can be fetched from it`,
        });
      }

      // The log is not proven: an endpoint whose ChangeProposed log does not carry the readyAt proven storage holds is
      // passed over for the next one, and with none left the release is not read.
      const current = cases.at(-1)!.hash;
      const forgeLog = (method: string, _params: readonly unknown[], answer: unknown) => {
        if (method !== "eth_getLogs") return answer;
        const logs = answer as Array<{ data: string }>;
        for (const log of logs) log.data = `${log.data.slice(0, 2)}${"00".repeat(31)}01${log.data.slice(66)}`;
        return logs;
      };
      const headers = new QuorumHeaderSource([endpoint(connection, "honest")], { quorum: 1 });
      const header = await latestHeader();
      const twoEndpoints = new VerifiedChainReader(headers, [
        endpoint(connection, "liar", forgeLog),
        endpoint(connection, "honest"),
      ]);
      expect((await readProvenRelease(twoEndpoints, at, header, [])).release).to.deep.include({ composeHash: current });
      const onlyLiar = new VerifiedChainReader(headers, [endpoint(connection, "liar", forgeLog)]);
      let error: unknown;
      try {
        await readProvenRelease(onlyLiar, at, header, []);
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(ProofUnavailableError);
      expect((error as Error).message).to.match(/says readyAt 1, storage \d+/);

      // A node that pruned the logs of that block answers none: the next endpoint gives the URI; with none left, the
      // release is not read, and the message says where storage points.
      const pruned = endpoint(connection, "pruned", (method, _params, answer) =>
        method === "eth_getLogs" ? [] : answer,
      );
      const afterPruned = new VerifiedChainReader(headers, [pruned, endpoint(connection, "honest")]);
      expect((await readProvenRelease(afterPruned, at, header, [])).release).to.deep.include({ composeHash: current });
      let prunedError: unknown;
      try {
        await readProvenRelease(new VerifiedChainReader(headers, [pruned]), at, header, []);
      } catch (caught) {
        prunedError = caught;
      }
      expect(prunedError).to.be.instanceOf(ProofUnavailableError);
      expect((prunedError as Error).message).to.match(
        new RegExp(`no ChangeProposed log of ${current} in block \\d+ of ${at}, where its storage points`),
      );
    });

    it("reads the open proposals from proven storage as getProposals() answers them", async function () {
      await (await appAuth.proposeComposeHash(HASH(5), SHORT_URI)).wait();
      await (await appAuth.proposeDevice(HASH(6))).wait();
      const proven = await readProvenProposals(reader(), address, await latestHeader());
      const views = await appAuth.getProposals();
      expect(proven).to.have.length(views.length).and.to.have.length.greaterThan(1);
      for (const [i, view] of views.entries()) {
        expect(proven[i]).to.deep.equal({
          id: view.id,
          kind: Number(view.kind),
          readyAt: view.readyAt,
          value: view.value,
        });
      }
      await (await appAuth.cancelDevice(HASH(6))).wait();
      expect((await readProvenProposals(reader(), address, await latestHeader())).map((p) => p.value)).to.not.include(
        HASH(6),
      );
    });

    it("finds TimelockedAppAuth's functions in its proven code (default build), and refuses other code and none", async function () {
      // A contract with code that is not a TimelockedAppAuth: dstack's stock AppAuth.
      const stock = await connection.ethers.deployContract("StockAppAuth", [
        (await connection.ethers.getSigners())[0]!.address,
        true,
        HASH(7),
        HASH(8),
      ]);
      const header = await latestHeader();
      await checkProvenAppAuth(reader(), address, header);
      const refusal = async (at: string) => {
        try {
          await checkProvenAppAuth(reader(), at, header);
        } catch (error) {
          return (error as Error).message;
        }
        return "";
      };
      expect(await refusal(await stock.getAddress())).to.match(
        /is not a TimelockedAppAuth \(its code does not dispatch/,
      );
      expect(await refusal(`0x${"00".repeat(19)}42`)).to.match(/no contract at/);
    });

    it("uses the next endpoint when one forges a proof, and says which one lied", async function () {
      const header = await latestHeader();
      const liar = endpoint(connection, "liar", (method, _params, answer) => {
        if (method !== "eth_getProof") return answer;
        const forged = answer as { storageProof: Array<{ value: string }> };
        for (const item of forged.storageProof) item.value = HASH(7);
        return forged;
      });
      const refused: string[] = [];
      const headers = new QuorumHeaderSource([endpoint(connection, "honest")], { quorum: 1 });
      const twoReader = new VerifiedChainReader(headers, [liar, endpoint(connection, "honest")], {
        onRefusedProof: (who) => refused.push(who),
      });
      const slot = composeHashListSlot(0n);
      const proven = await twoReader.readStorage(address, [slot], header);
      expect(proven.slots.get(slot)).to.equal(BigInt(HASH(1)));
      expect(refused).to.deep.equal(["liar"]);

      const onlyLiar = new VerifiedChainReader(headers, [liar]);
      let error: unknown;
      try {
        await onlyLiar.readStorage(address, [slot], header);
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(ProofUnavailableError);
      expect((error as Error).message).to.match(/liar: its proof .* does not verify: slot .* it claims 0x0707/);
    });

    it("keeps the slots of a mapping entry where the compiler puts them", async function () {
      // The genesis hash's word: allowed, at a position of the list that holds it, its URI in the ChangeProposed of
      // the deployment block.
      const header = await latestHeader();
      const slot = composeHashEntrySlot(HASH(1));
      const proven = await verifyProofAnswer(header.stateRoot, address, [slot], await getProof([slot], header.number));
      const entry = proven.slots.get(slot) ?? 0n;
      expect(unpack(entry, STRUCT_MEMBERS.ComposeHashEntry.status)).to.equal(COMPOSE_HASH_STATUS.allowed);
      const listSlot = composeHashListSlot(unpack(entry, STRUCT_MEMBERS.ComposeHashEntry.position));
      const list = await verifyProofAnswer(
        header.stateRoot,
        address,
        [listSlot],
        await getProof([listSlot], header.number),
      );
      expect(list.slots.get(listSlot)).to.equal(BigInt(HASH(1)));
      expect(unpack(entry, STRUCT_MEMBERS.ComposeHashEntry.uriBlock)).to.equal(
        BigInt((await appAuth.deploymentTransaction()!.wait())!.blockNumber),
      );
    });
  });

  describe("QuorumHeaderSource", function () {
    let connection: NetworkConnection;
    before(async function () {
      connection = await network.create();
      await connection.networkHelpers.mine(20);
    });
    after(async function () {
      await connection.close();
    });

    const otherHash = (method: string, _params: readonly unknown[], answer: unknown) => {
      if (method !== "eth_getBlockByNumber" || answer === null) return answer;
      // A different but self-consistent header: another state root, and the hash that goes with it.
      const block = { ...(answer as Json), stateRoot: `0x${"5e".repeat(32)}` };
      return { ...block, hash: headerFromRpcBlock({ ...block, hash: `0x${"00".repeat(32)}` }).hash };
    };

    it("verifies the header at head - confirmations when a quorum agrees, and reports the one that did not", async function () {
      const liar = endpoint(connection, "liar", (method, params, answer) => {
        try {
          return otherHash(method, params, answer);
        } catch (error) {
          // headerFromRpcBlock throws for the made-up hash: compute it the long way round.
          const message = (error as Error).message;
          const computed = /hash to (0x[0-9a-f]{64})/.exec(message)?.[1];
          return { ...(answer as Json), stateRoot: `0x${"5e".repeat(32)}`, hash: computed };
        }
      });
      const source = new QuorumHeaderSource([endpoint(connection, "a"), liar, endpoint(connection, "b")], {
        quorum: 2,
      });
      const head = Number(await connection.provider.request({ method: "eth_blockNumber", params: [] }));
      const evidence = await source.confirmedHeader(3);
      const real = (await connection.provider.request({
        method: "eth_getBlockByNumber",
        params: [`0x${(head - 3).toString(16)}`, false],
      })) as Json;
      expect(evidence.header.hash).to.equal(real["hash"]);
      expect(evidence.head).to.equal(head);
      const liarReport = evidence.reports.find((report) => report.endpoint === "liar");
      expect(liarReport?.hash).to.match(/^0x[0-9a-f]{64}$/);
      expect(liarReport?.hash).to.not.equal(real["hash"]);
      expect(evidence.how).to.equal("2 of 3 endpoints report this header (quorum 2)");
    });

    it("ignores a head that only one endpoint claims, and a header that does not hash to what it reports", async function () {
      const farHead = endpoint(connection, "far", (method, _params, answer) =>
        method === "eth_blockNumber" ? "0xffffff" : answer,
      );
      const badHash = endpoint(connection, "bad", (method, _params, answer) =>
        method === "eth_getBlockByNumber" && answer !== null
          ? { ...(answer as Json), stateRoot: `0x${"5e".repeat(32)}` }
          : answer,
      );
      const head = Number(await connection.provider.request({ method: "eth_blockNumber", params: [] }));
      const evidence = await new QuorumHeaderSource([farHead, badHash, endpoint(connection, "a")], {
        quorum: 2,
      }).confirmedHeader(1);
      expect(evidence.head).to.equal(head);
      expect(evidence.header.number).to.equal(head - 1);
      expect(evidence.reports.find((r) => r.endpoint === "bad")?.problem).to.match(
        /hash to .* not to the hash it reports/,
      );
    });

    it("verifies nothing when too few answer, or when no hash has the quorum", async function () {
      const silent = endpoint(connection, "silent");
      silent.silent = true;
      const stale = endpoint(connection, "stale", (method, _params, answer) =>
        method === "eth_blockNumber" ? "0x1" : answer,
      );
      const tooFew = new QuorumHeaderSource(
        [
          endpoint(connection, "a"),
          silent,
          endpoint(connection, "b", () => {
            throw new Error("down");
          }),
        ],
        { quorum: 2, chainId: 31337n },
      );
      await expectUnverified(
        tooFew.confirmedHeader(1),
        "too-few",
        /only 1 of 3 RPC endpoints answered, 2 must agree: a: head \d+; silent: .*no answer/,
      );

      const liar = endpoint(connection, "liar", (method, params, answer) => {
        if (method !== "eth_getBlockByNumber" || answer === null) return answer;
        const block = { ...(answer as Json), stateRoot: `0x${"5e".repeat(32)}` };
        try {
          headerFromRpcBlock(block);
        } catch (error) {
          return { ...block, hash: /hash to (0x[0-9a-f]{64})/.exec((error as Error).message)![1] };
        }
        return block;
      });
      const split = new QuorumHeaderSource([endpoint(connection, "a"), liar], { quorum: 1 });
      await expectUnverified(
        split.confirmedHeader(1),
        "disagree",
        /disagree about block \d+, no hash has 1 of 2: a: head \d+, hash 0x[0-9a-f]+; liar: head \d+, hash 0x[0-9a-f]+/,
      );

      // A stale endpoint lowers nothing while two others are ahead; with a quorum of all three, the height follows it.
      const all = new QuorumHeaderSource([endpoint(connection, "a"), endpoint(connection, "b"), stale], { quorum: 3 });
      expect((await all.confirmedHeader(0)).header.number).to.equal(1);
    });

    it("does not count an endpoint on another chain", async function () {
      const other = endpoint(connection, "other", (method, _params, answer) =>
        method === "eth_chainId" ? "0x2105" : answer,
      );
      const source = new QuorumHeaderSource([endpoint(connection, "a"), other], { quorum: 2 });
      await expectUnverified(source.confirmedHeader(1), "too-few", /other: .*chain/);
      const pinned = new QuorumHeaderSource([endpoint(connection, "a"), other], { quorum: 1, chainId: 31337n });
      const evidence = await pinned.confirmedHeader(1);
      expect(evidence.reports.find((r) => r.endpoint === "other")?.problem).to.match(/on chain 8453, not chain 31337/);
    });
  });
});

describe("lib/verified: LightClientHeaderSource (the adapter a light client plugs into)", function () {
  let connection: NetworkConnection;
  before(async function () {
    connection = await network.create();
    await connection.networkHelpers.mine(10);
  });
  after(async function () {
    await connection.close();
  });

  /** A stand-in for a light client's EIP-1193 provider: the chain's answers, or what `answer` makes of them. */
  const client = (answer?: (method: string, real: unknown) => unknown) => ({
    async request({ method, params }: { method: string; params: unknown[] }) {
      const real = await connection.provider.request({ method, params });
      return answer === undefined ? real : answer(method, real);
    },
  });

  it("takes the confirmed header from the light client, re-hashed, and proofs from any endpoint", async function () {
    const source = new LightClientHeaderSource(client(), "stand-in (hardhat)");
    const head = Number(await connection.provider.request({ method: "eth_blockNumber", params: [] }));
    const evidence = await source.confirmedHeader(2);
    expect(evidence.header.number).to.equal(head - 2);
    expect(evidence.head).to.equal(head);
    expect(evidence.how).to.equal("the light client stand-in (hardhat) verified this header");
    const appAuth = await deployTimelockedAppAuth(connection.ethers, { noticePeriod: MIN_NOTICE_PERIOD });
    const reader = new VerifiedChainReader(source, [endpoint(connection, "any")]);
    const { header } = await reader.confirmedHeader(0);
    const proven = await reader.readStorage(await appAuth.getAddress(), [APP_AUTH_STORAGE.policy.slot], header);
    const policy = proven.slots.get(APP_AUTH_STORAGE.policy.slot) ?? 0n;
    expect(unpack(policy, STRUCT_MEMBERS.Policy.noticePeriod)).to.equal(MIN_NOTICE_PERIOD);
  });

  it("verifies nothing when the light client is out of sync, lacks the block, or answers a header that does not hash", async function () {
    const outOfSync = new LightClientHeaderSource(
      client(() => {
        throw new Error("out of sync: 1796017088 seconds behind");
      }),
      "helios (base)",
    );
    await expectUnverified(
      outOfSync.confirmedHeader(1),
      "unavailable",
      /light client helios \(base\) gave no verified its head: out of sync/,
    );
    const noBlock = new LightClientHeaderSource(
      client((method, real) => (method === "eth_getBlockByNumber" ? null : real)),
      "x",
    );
    await expectUnverified(noBlock.verifiedHeader(3), "unavailable", /it has no block 3/);
    const badHeader = new LightClientHeaderSource(
      client((method, real) =>
        method === "eth_getBlockByNumber" ? { ...(real as Json), stateRoot: `0x${"5e".repeat(32)}` } : real,
      ),
      "x",
    );
    await expectUnverified(badHeader.verifiedHeader(3), "unavailable", /not to the hash it reports/);
  });
});

async function expectProofError(promise: Promise<unknown>, message: RegExp): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  expect(error, "a ProofError").to.be.instanceOf(ProofError);
  expect((error as Error).message).to.match(message);
}

async function expectUnverified(promise: Promise<unknown>, kind: string, message: RegExp): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  expect(error, "a HeaderUnverifiedError").to.be.instanceOf(HeaderUnverifiedError);
  expect((error as HeaderUnverifiedError).kind).to.equal(kind);
  expect((error as Error).message).to.match(message);
}
