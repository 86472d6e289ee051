import { expect } from "chai";
import { mkdtemp, readFile, cp, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import {
  readDeploymentRecord,
  readIgnitionDeployment,
  recordIgnitionDeployments,
  writeDeploymentRecord,
} from "../lib/deployments.js";

const FIXTURE = "test/fixtures/ignition/chain-31337";

describe("deployment records", function () {
  it("reads address, deployer, arguments, transaction and block from an Ignition journal", async function () {
    const record = await readIgnitionDeployment(FIXTURE);
    expect(record).to.deep.include({ deploymentId: "chain-31337", chainId: 31337, network: "localhost" });
    const appAuth = record.contracts["TimelockedAppAuth#TimelockedAppAuth"];
    expect(appAuth).to.deep.equal({
      contractName: "TimelockedAppAuth",
      address: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      // The journal spells it in lowercase, as the node does; the record checksums it.
      deployer: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
      constructorArgs: [
        "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        "604800",
        "0x0000000000000000000000000000000000000000000000000000000000000000",
        "",
        [],
        false,
        true,
      ],
      txHash: "0x9a180b69906c57d5e8c47059cb432d36ad8970a69e970a465370aa57f4190d05",
      blockNumber: 1,
      blockHash: "0x83efade75e57d9738a822f5183a6701d65a2e4f95d7103d1a84e392d2366912a",
    });
  });

  it("writes one record per deployment and leaves out futures that never completed", async function () {
    const dir = await mkdtemp(path.join(tmpdir(), "deployments-"));
    await cp(FIXTURE, path.join(dir, "ignition", "chain-31337"), { recursive: true });
    const unfinished = path.join(dir, "ignition", "chain-8453");
    await mkdir(unfinished, { recursive: true });
    await writeFile(
      path.join(unfinished, "journal.jsonl"),
      '{"chainId":8453,"type":"DEPLOYMENT_INITIALIZE"}\n' +
        '{"futureId":"X#X","type":"DEPLOYMENT_EXECUTION_STATE_INITIALIZE","contractName":"X","from":"0x1"}\n',
    );

    const written = await recordIgnitionDeployments(path.join(dir, "ignition"), path.join(dir, "out"));

    expect(written.map((file) => path.basename(file))).to.deep.equal(["chain-31337.json", "chain-8453.json"]);
    const base = JSON.parse(await readFile(path.join(dir, "out", "chain-8453.json"), "utf8"));
    expect(base).to.deep.include({ chainId: 8453, network: "base", contracts: {} });
  });

  it("keeps the source commit, KMS registrations and verifications when a record is regenerated", async function () {
    const dir = await mkdtemp(path.join(tmpdir(), "deployments-"));
    await cp(FIXTURE, path.join(dir, "ignition", "chain-31337"), { recursive: true });
    const out = path.join(dir, "out");
    const fromJournal = await readIgnitionDeployment(path.join(dir, "ignition", "chain-31337"));
    const app = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    const registered = { kms: "0x0000000000000000000000000000000000000001", app, txHash: "0xaa", blockNumber: 2 };
    const verified = { address: app, provider: "sourcify", url: "https://sourcify.dev/server/repo-ui/31337/x" };
    const commit = "0123456789abcdef0123456789abcdef01234567";
    await writeDeploymentRecord(out, {
      ...fromJournal,
      sourceCommit: commit,
      kmsRegistrations: [registered],
      verifications: [verified],
    });

    // A later run that only saw the app already registered does not erase the transaction that registered it.
    await writeDeploymentRecord(out, {
      ...fromJournal,
      sourceCommit: "fedcba9876543210fedcba9876543210fedcba98",
      kmsRegistrations: [{ ...registered, txHash: null, blockNumber: null, seenRegisteredAtBlock: 9 }],
    });
    await recordIgnitionDeployments(path.join(dir, "ignition"), out);

    const record = await readDeploymentRecord(out, "chain-31337");
    expect(record?.contracts).to.deep.equal(fromJournal.contracts);
    expect(record?.sourceCommit).to.equal(commit);
    expect(record?.kmsRegistrations).to.deep.equal([registered]);
    expect(record?.verifications).to.deep.equal([verified]);
    expect(await readDeploymentRecord(out, "chain-1")).to.equal(undefined);
  });

  it("refuses a journal without a chain id", async function () {
    const dir = await mkdtemp(path.join(tmpdir(), "deployments-"));
    await writeFile(path.join(dir, "journal.jsonl"), "\n");
    const error = await readIgnitionDeployment(dir).then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).message).to.contain("no DEPLOYMENT_INITIALIZE entry");
  });
});
