/**
 * propose-hash refuses, before sending anything, what would publish a mistake for good: a compose file dstack cannot
 * run, a URI that is not a URL or holds credentials, and a URI whose bytes are not the file proposed. A URI it cannot
 * fetch from here (down, 404, a scheme guest agents do not fetch) is a warning: the proposal goes ahead.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";

import { expect } from "chai";

import { composeHashChange, proposalIdOf, readProposal } from "../../lib/appAuth.js";
import { sha256Hex } from "../../lib/composeHash.js";
import type { ProposeResult } from "../../tasks/shared/changes.js";
import { deployApp, networkHelpers, runTask, runTaskOk, writeTempFile } from "./helpers.js";

/** A valid app-compose.json for release v2, written pretty (as people write it) with a final newline. */
const V2 = `${JSON.stringify(
  { docker_compose_file: "services:\n  app:\n    image: nginx\n", name: "demo", runner: "docker-compose" },
  null,
  2,
)}\n`;
const V2_HASH = sha256Hex(new TextEncoder().encode(V2));
const TRUNCATED = V2.slice(0, 40);
const TRUNCATED_HASH = sha256Hex(new TextEncoder().encode(TRUNCATED));

/** A local web server: each path answers what `routes` says, any other 404. */
async function webServer(routes: Record<string, { status?: number; body: string | Uint8Array }>) {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests += 1;
    const route = routes[req.url ?? ""];
    res.statusCode = route?.status ?? (route === undefined ? 404 : 200);
    res.end(route?.body ?? "not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

let web: Awaited<ReturnType<typeof webServer>>;
before(async function () {
  web = await webServer({
    "/v2.json": { body: V2 },
    "/v2-crlf.json": { body: V2.replace(/\n/g, "\r\n") },
    "/index.html": { body: "<!doctype html><title>Welcome</title>" },
    "/truncated.json": { body: TRUNCATED },
  });
});
after(async function () {
  await web.close();
});

/** Runs propose-hash expecting a refusal; checks that nothing was sent and nothing was proposed. */
async function refused(args: Record<string, unknown>): Promise<{ message: string; stdout: string; stderr: string }> {
  const { appAuth } = await networkHelpers.loadFixture(deployApp);
  const before = await networkHelpers.time.latestBlock();
  const run = await runTask("propose-hash", { app: await appAuth.getAddress(), ...args });
  expect(run.result.success, "propose-hash should refuse").to.equal(false);
  expect(await networkHelpers.time.latestBlock(), "a transaction was sent").to.equal(before);
  expect(await appAuth.getProposals()).to.deep.equal([]);
  expect(run.stderr).to.contain(`Error: ${run.errorMessage}`);
  return { message: run.errorMessage, stdout: run.stdout, stderr: run.stderr };
}

/** Runs propose-hash expecting a proposal of `composeHash` with `uri`. */
async function proposed(args: Record<string, unknown>, composeHash: string) {
  const { appAuth } = await networkHelpers.loadFixture(deployApp);
  const run = await runTaskOk<ProposeResult>("propose-hash", { app: await appAuth.getAddress(), ...args });
  const proposal = await appAuth.getProposal(proposalIdOf(composeHashChange(composeHash)));
  expect((await readProposal(appAuth, composeHashChange(composeHash))).uri).to.equal(args["uri"]);
  expect(proposal.readyAt).to.equal(run.value.readyAt);
  return run;
}

describe("propose-hash: refuse instead of publishing mistakes", function () {
  describe("the compose file", function () {
    it("refuses a truncated file (not JSON), naming the parse error", async function () {
      const file = await writeTempFile("app-compose.json", TRUNCATED);
      const { message } = await refused({ file, uri: `${web.base}/truncated.json` });
      expect(message).to.match(
        new RegExp(
          `^--file ${file} is not a valid app-compose.json \\(not JSON: .+\\): dstack cannot run it, and a proposal ` +
            "is public and waits its notice; fix the file, or pass --allow-invalid-json to propose it anyway; " +
            "nothing was sent$",
        ),
      );
    });

    it("proposes it anyway with --allow-invalid-json, with a warning", async function () {
      const file = await writeTempFile("app-compose.json", TRUNCATED);
      const run = await proposed({ file, uri: `${web.base}/truncated.json`, allowInvalidJson: true }, TRUNCATED_HASH);
      expect(run.stderr).to.match(
        /Warning: --file \S+ is not a valid app-compose\.json \(not JSON: .+\); proposing it anyway, as --allow-invalid-json asks: dstack cannot run it as it is/,
      );
    });

    it("refuses a docker_compose_file that is not YAML, a missing one, JSON that is not an object, and non-UTF-8", async function () {
      const cases: Array<[string | Uint8Array, string]> = [
        [
          JSON.stringify({ runner: "docker-compose", docker_compose_file: "services: [unclosed" }),
          "docker_compose_file is not valid YAML: ",
        ],
        [
          JSON.stringify({ runner: "docker-compose", docker_compose_file: "just a string" }),
          "docker_compose_file is not a YAML mapping",
        ],
        [
          JSON.stringify({ runner: "docker-compose", name: "x" }),
          'runner is "docker-compose" but docker_compose_file is missing or empty',
        ],
        ["[1, 2]", "not a JSON object"],
        [new Uint8Array([0x7b, 0xff, 0x7d]), "not UTF-8 text"],
      ];
      for (const [contents, problem] of cases) {
        const file = await writeTempFile("app-compose.json", contents);
        const { message } = await refused({ file, uri: "ipfs://bafy/app-compose.json" });
        expect(message).to.contain(`is not a valid app-compose.json (${problem}`);
      }
    });

    it("checks the published bytes as a file when only --hash is given", async function () {
      const { message } = await refused({ hash: TRUNCATED_HASH, uri: `${web.base}/truncated.json` });
      expect(message).to.match(
        new RegExp(`^the compose file at ${web.base}/truncated.json is not a valid app-compose.json \\(not JSON: `),
      );
    });
  });

  describe("the URI", function () {
    it("fetches it and proposes when its bytes are the file's, with --file or --hash", async function () {
      const file = await writeTempFile("app-compose.json", V2);
      const uri = `${web.base}/v2.json`;
      const withFile = await proposed({ file, uri }, V2_HASH);
      expect(withFile.stdout).to.contain(`Checking that ${uri} serves the bytes whose sha256 is ${V2_HASH}...`);
      expect(withFile.stdout).to.contain(`Checked: ${uri} serves exactly these bytes.`);
      expect(withFile.stderr).to.contain(
        `Warning: ${uri} names 127.0.0.1, which only this machine or its local network can reach`,
      );
      const withHash = await proposed({ hash: V2_HASH, uri }, V2_HASH);
      expect(withHash.stdout).to.contain(`Checked: ${uri} serves exactly these bytes.`);
    });

    it("refuses when the bytes at the URI are not the file's, naming both hashes", async function () {
      const file = await writeTempFile("app-compose.json", V2);
      const uri = `${web.base}/index.html`;
      const { message } = await refused({ file, uri });
      expect(message).to.equal(
        `the compose file at ${uri} is not the one proposed: its bytes hash to ` +
          `${sha256Hex(new TextEncoder().encode("<!doctype html><title>Welcome</title>"))}, but the compose hash ` +
          `proposed is ${V2_HASH} (the bytes of ${file}); guest agents would refuse it and auditors could not check ` +
          "the release: publish the exact bytes there, or pass the URI where they are; nothing was sent",
      );
    });

    it("says when the published bytes differ only in line endings", async function () {
      const file = await writeTempFile("app-compose.json", V2);
      const { message } = await refused({ file, uri: `${web.base}/v2-crlf.json` });
      expect(message).to.contain(
        "; they differ only in line endings (CRLF and LF): upload the file unchanged, as binary;",
      );
    });

    it("refuses with --hash too, when the URI serves other bytes", async function () {
      const { message } = await refused({ hash: `0x${"22".repeat(32)}`, uri: `${web.base}/v2.json` });
      expect(message).to.contain(
        `its bytes hash to ${V2_HASH}, but the compose hash proposed is 0x${"22".repeat(32)};`,
      );
    });

    it("reads a file: URI as guest agents do, and warns that auditors cannot fetch it", async function () {
      const file = await writeTempFile("app-compose.json", V2);
      const uri = pathToFileURL(file).href;
      const run = await proposed({ file, uri }, V2_HASH);
      expect(run.stdout).to.contain(`Checked: ${uri} serves exactly these bytes.`);
      expect(run.stderr).to.contain(`Warning: ${uri} is a file: URI: each reader opens that path on its own machine`);
      const other = await writeTempFile("other.json", V2.replace("demo", "evil"));
      expect((await refused({ file, uri: pathToFileURL(other).href })).message).to.contain("is not the one proposed");
    });

    it("warns and proposes when the URI answers 404: the file may be published before the notice ends", async function () {
      const file = await writeTempFile("app-compose.json", V2);
      const uri = `${web.base}/not-yet.json`;
      const run = await proposed({ file, uri }, V2_HASH);
      expect(run.stderr).to.contain(
        `Warning: could not check --uri from here (fetching ${uri} answered HTTP 404). Before the proposal is ready, ` +
          `make sure ${uri} serves the exact bytes whose sha256 is ${V2_HASH}: guest agents refuse anything else, ` +
          "and auditors need it to read the release",
      );
    });

    it("warns and proposes when nothing answers at the URI (network down)", async function () {
      const file = await writeTempFile("app-compose.json", V2);
      const uri = "http://127.0.0.1:1/v2.json";
      const run = await proposed({ file, uri }, V2_HASH);
      expect(run.stderr).to.contain(`Warning: could not check --uri from here (could not fetch ${uri}: fetch failed`);
    });

    it("warns and proposes for a scheme guest agents do not fetch; with --hash, says nothing was checked", async function () {
      const uri = "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/app-compose.json";
      const run = await proposed({ hash: V2_HASH, uri }, V2_HASH);
      expect(run.stderr).to.contain(
        `Warning: ${uri} uses ipfs:, which guest agents cannot fetch (they fetch http, https, file): they will not ` +
          "be able to run this release from it, and it is not checked here",
      );
      expect(run.stderr).to.contain(
        `Warning: the compose file behind ${V2_HASH} was not checked at all: give --file, or a URI that can be fetched`,
      );
    });

    it("refuses a URI that is not an absolute URL", async function () {
      const file = await writeTempFile("app-compose.json", V2);
      const { message } = await refused({ file, uri: "releases/v2/app-compose.json" });
      expect(message).to.equal(
        '--uri "releases/v2/app-compose.json" is not valid: expected an absolute URL where guest agents and ' +
          "auditors can fetch the compose file, e.g. https://example.org/app-compose.json",
      );
    });

    it("refuses a URI with credentials before fetching it, without repeating the secret", async function () {
      const file = await writeTempFile("app-compose.json", V2);
      const uri = `${web.base.replace("http://", "http://deploy:s3cr3t@")}/v2.json`;
      const requests = web.requests();
      const { message, stdout, stderr } = await refused({ file, uri });
      expect(message).to.equal(
        `--uri http://deploy:…@${new URL(web.base).host}…: it holds credentials, and the URI is published on chain ` +
          "for anyone to read, for good: give a URL that needs none",
      );
      expect(`${message}${stdout}${stderr}`).to.not.contain("s3cr3t");
      expect(web.requests()).to.equal(requests);
    });
  });
});
