import { expect } from "chai";

import { NegativeAnswer } from "../../lib/errors.js";
import type { VerifySignatureResult } from "../../tasks/verify-signature.js";
import { SIM_KMS_ROOT, buildVerdictCases, type VerdictCase } from "../helpers/signed-message-verdicts.js";
import { ethers, networkHelpers, runTask, runTaskOk, writeTempFile } from "./helpers.js";

async function deployKms() {
  const [owner] = await ethers.getSigners();
  const kms = await ethers.deployContract("KmsStandIn", [owner!.address]);
  return { kms, kmsAddress: await kms.getAddress() };
}

function argsOf(c: VerdictCase, kms: string): Record<string, unknown> {
  return {
    digest: c.digest,
    signature: c.signature,
    chain: c.signatureChain.join(","),
    app: c.appId,
    purpose: c.purpose,
    derivedKey: c.derivedPublicKey,
    appKey: c.appPublicKey,
    kms,
  };
}

describe("verify-signature", function () {
  let cases: VerdictCase[];
  before(async function () {
    cases = await buildVerdictCases();
  });

  it("gives each shared fixture its verdict in one line, reading the root from kmsInfo()", async function () {
    const { kms, kmsAddress } = await networkHelpers.loadFixture(deployKms);
    for (const c of cases) {
      await kms.setKmsInfo({ k256Pubkey: c.kmsK256Pubkey, caPubkey: "0x", quote: "0x", eventlog: "0x" });
      const run = await runTask<VerifySignatureResult>("verify-signature", argsOf(c, kmsAddress));
      const lines = run.stdout.trim().split("\n");
      expect(lines, `${c.name}\n${run.stdout}${run.stderr}`).to.have.length(1);
      if (c.verdict === "valid") {
        expect(run.result.success, c.name).to.equal(true);
        expect(lines[0]).to.match(
          new RegExp(
            `^VALID: the digest was signed by 0x[0-9a-fA-F]{40}, a key dstack's KMS issued to app ${ethers.getAddress(c.appId)} for ` +
              `purpose "${c.purpose}", under the KMS root 0x[0-9a-fA-F]{40} that kmsInfo\\(\\) of the KMS at ` +
              `${kmsAddress} publishes on network "default" \\(chain 31337\\)$`,
          ),
        );
      } else {
        expect(run.result.success, c.name).to.equal(false);
        expect(!run.result.success && run.result.error).to.be.instanceOf(NegativeAnswer);
        expect(lines[0], c.name).to.match(new RegExp(`^REFUSED \\(${c.verdict}\\): `));
        expect(run.stderr, c.name).to.equal("");
      }
    }
  });

  it("checks a text or a file as EIP-191 messages, recovering the derived key, against a root given offline", async function () {
    const c = cases[0]!;
    const base = { signature: c.signature, chain: c.signatureChain.join(","), app: c.appId, purpose: c.purpose };
    const run = await runTaskOk<VerifySignatureResult>("verify-signature", {
      ...base,
      message: c.message,
      kmsRoot: SIM_KMS_ROOT,
    });
    expect(run.stdout.trim()).to.match(
      /^VALID: the message was signed by .* given with --kms-root \(not read from a KMS contract\)$/,
    );
    expect(run.value.derivedPublicKey).to.equal(c.derivedPublicKey);

    const file = await writeTempFile("result.txt", c.message);
    const fromFile = await runTaskOk<VerifySignatureResult>("verify-signature", {
      ...base,
      file,
      kmsRoot: SIM_KMS_ROOT,
    });
    expect(fromFile.stdout).to.contain(`VALID: the file ${file} was signed by`);

    const changedFile = await writeTempFile("result.txt", `${c.message}\n`);
    const changed = await runTask("verify-signature", { ...base, file: changedFile, kmsRoot: SIM_KMS_ROOT });
    // Without --derived-key the signer is recovered: another text names another key, which the chain refuses.
    expect(changed.stdout.trim()).to.match(/^REFUSED \((app-key-mismatch|kms-root-mismatch)\)/);
  });

  it("refuses bad input with one line before reading anything", async function () {
    const c = cases[0]!;
    const base = {
      digest: c.digest,
      signature: c.signature,
      chain: c.signatureChain.join(","),
      app: c.appId,
      purpose: c.purpose,
      kmsRoot: SIM_KMS_ROOT,
    };
    const error = async (args: Record<string, unknown>) => (await runTask("verify-signature", args)).errorMessage;
    expect(await error({ ...base, message: "x" })).to.equal(
      "--message and --digest cannot be used together: give exactly one",
    );
    expect(await error({ ...base, chain: c.signatureChain[0] })).to.match(
      /^--chain .*two signatures separated by a comma/,
    );
    expect(await error({ ...base, signature: undefined })).to.match(/^--signature is required/);
    expect(await error({ ...base, app: "0x1234" })).to.match(/^--app/);
    expect(await error({ ...base, kmsRoot: "0x1234" })).to.match(/^--kms-root .*secp256k1 public key/);
    expect(await error({ ...base, kms: c.appId })).to.match(/cannot be used together/);
    expect(await error({ ...base, digest: undefined, file: "/nonexistent/file" })).to.equal(
      "cannot read --file /nonexistent/file: ENOENT",
    );
  });
});
