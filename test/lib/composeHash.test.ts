import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";

import { composeHashOfBytes, composeHashOfFile, sdkCanonicalJson, sha256Hex } from "../../lib/composeHash.js";

const bytes = (text: string) => new TextEncoder().encode(text);
/** An independent sha256, so the test does not check the code with itself. */
const sha256 = (text: string) => `0x${createHash("sha256").update(Buffer.from(text, "utf8")).digest("hex")}`;

// A compose object exercising the SDK's rules: unsorted keys, nested object, non-ASCII text, a field the runner
// does not use (bash_script) and an empty pre_launch_script, both of which the SDK drops.
const COMPOSE = {
  runner: "docker-compose",
  name: "demo",
  docker_compose_file: "services:\n  app:\n    image: nginx\n",
  kms_enabled: true,
  features: ["kms"],
  nested: { b: 1, a: "é" },
  pre_launch_script: "",
  bash_script: "echo hi",
};
// Computed independently with Python: json.dumps(preprocessed, sort_keys=True, separators=(",", ":"),
// ensure_ascii=False), the serialization of dstack's Python SDK, then sha256.
const SDK_CANONICAL =
  '{"docker_compose_file":"services:\\n  app:\\n    image: nginx\\n","features":["kms"],"kms_enabled":true,' +
  '"name":"demo","nested":{"a":"é","b":1},"runner":"docker-compose"}';
const SDK_HASH = "0x12ffbcffce582ec5f04303245b12df4fec057f9e0beb74dc902b029533681efc";

describe("lib/composeHash", function () {
  describe("sha256Hex", function () {
    it("matches the standard test vectors", function () {
      expect(sha256Hex(bytes(""))).to.equal("0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
      expect(sha256Hex(bytes("abc"))).to.equal("0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    });
  });

  describe("sdkCanonicalJson", function () {
    it("sorts keys recursively, writes compactly, and drops the fields the SDK drops", function () {
      expect(sdkCanonicalJson(COMPOSE)).to.equal(SDK_CANONICAL);
      expect(sha256(SDK_CANONICAL)).to.equal(SDK_HASH);
    });

    it("keeps docker_compose_file for the docker-compose runner and drops it for bash", function () {
      const bash = { runner: "bash", bash_script: "run", docker_compose_file: "x" };
      expect(sdkCanonicalJson(bash)).to.equal('{"bash_script":"run","runner":"bash"}');
    });
  });

  describe("composeHashOfBytes", function () {
    it("reports a canonical file as canonical, with both hashes equal", function () {
      const canonical = JSON.stringify({ a: 1, b: { c: [1, 2], d: "x" }, runner: "docker-compose" });
      const report = composeHashOfBytes(bytes(canonical));
      expect(report).to.deep.equal({
        bytesHash: sha256(canonical),
        byteLength: canonical.length,
        canonical: true,
        sdkHash: sha256(canonical),
        differences: [],
      });
    });

    it("hashes the exact bytes of a pretty-printed file and gives the SDK hash separately, with the reasons", function () {
      const pretty = `${JSON.stringify(COMPOSE, null, 2)}\n`;
      const report = composeHashOfBytes(bytes(pretty));
      expect(report.bytesHash).to.equal(sha256(pretty));
      expect(report.bytesHash).not.to.equal(SDK_HASH);
      expect(report.sdkHash).to.equal(SDK_HASH);
      expect(report.canonical).to.equal(false);
      expect(report.byteLength).to.equal(Buffer.byteLength(pretty, "utf8"));
      expect(report.differences).to.deep.equal([
        "the SDK drops bash_script (runner is docker-compose), pre_launch_script (empty)",
        "it has whitespace or indentation between tokens",
        "its keys are not sorted",
      ]);
    });

    it("tells a file that is canonical but for a trailing newline", function () {
      const report = composeHashOfBytes(bytes(`${SDK_CANONICAL}\n`));
      expect(report.canonical).to.equal(false);
      expect(report.sdkHash).to.equal(SDK_HASH);
      expect(report.differences).to.deep.equal(["it ends with a newline or other whitespace"]);
    });

    it("still hashes bytes that are not JSON, without an SDK hash", function () {
      const report = composeHashOfBytes(bytes("services:\n  app: {}\n"));
      expect(report.bytesHash).to.equal(sha256("services:\n  app: {}\n"));
      expect(report.sdkHash).to.equal(undefined);
      expect(report.differences).to.deep.equal(["it is not valid UTF-8 JSON"]);
      expect(composeHashOfBytes(bytes("[1,2]")).differences).to.deep.equal(["it is JSON but not an object"]);
    });
  });

  describe("composeHashOfFile", function () {
    it("hashes the file's bytes as they are on disk (CRLF line ends included)", async function () {
      const dir = await mkdtemp(path.join(tmpdir(), "devproof-"));
      const file = path.join(dir, "app-compose.json");
      const text = '{\r\n  "runner": "docker-compose"\r\n}\r\n';
      await writeFile(file, text);
      const report = await composeHashOfFile(file);
      expect(report.bytesHash).to.equal(sha256(text));
      expect(report.sdkHash).to.equal(sha256('{"runner":"docker-compose"}'));
    });
  });
});
