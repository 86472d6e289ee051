import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { expect } from "chai";

import {
  dockerComposeOf,
  fetchComposeBytes,
  ReleaseRefusedError,
  verifyComposeBytes,
} from "../../guest/src/appCompose.js";
import { sha256Hex } from "../../lib/composeHash.js";
import { cleanUp, EXAMPLE_V1, releaseFromFile, tempDir } from "../helpers/guestAgent.js";

const LIMITS = { timeoutMs: 500, maxBytes: 1_000 };

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(ReleaseRefusedError);
    return (error as Error).message;
  }
  throw new Error("expected a refusal");
}

describe("guest agent: fetching and checking app-compose.json", function () {
  let server: Server;
  let base: string;

  before(async function () {
    server = createServer((req, res) => {
      if (req.url === "/big") {
        res.writeHead(200, { "content-length": 5_000 });
        res.end("x".repeat(5_000));
      } else if (req.url === "/big-chunked") {
        res.writeHead(200);
        for (let i = 0; i < 20; i++) res.write("y".repeat(100));
        res.end();
      } else if (req.url === "/slow") {
        setTimeout(() => res.end("late"), 2_000).unref();
      } else if (req.url === "/ok") {
        res.end('{"a":1}');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async function () {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await cleanUp();
  });

  it("fetches http and file URIs", async function () {
    expect(Buffer.from(await fetchComposeBytes(`${base}/ok`, LIMITS)).toString()).to.equal('{"a":1}');
    const v1 = await releaseFromFile("v1", EXAMPLE_V1);
    expect(sha256Hex(await fetchComposeBytes(v1.fileUri, { timeoutMs: 500, maxBytes: 1 << 20 }))).to.equal(v1.hash);
  });

  it("refuses files over the size limit, whether declared, streamed or on disk", async function () {
    expect(await refusal(fetchComposeBytes(`${base}/big`, LIMITS))).to.match(
      /is 5000 bytes, more than the limit of 1000/,
    );
    expect(await refusal(fetchComposeBytes(`${base}/big-chunked`, LIMITS))).to.match(
      /more than the limit of 1000 bytes/,
    );
    const file = path.join(await tempDir("compose"), "big.json");
    await writeFile(file, "z".repeat(1_001));
    expect(await refusal(fetchComposeBytes(pathToFileURL(file).href, LIMITS))).to.match(
      /is 1001 bytes, more than the limit/,
    );
  });

  it("refuses a server that is too slow, missing files, unreachable hosts and other schemes", async function () {
    expect(await refusal(fetchComposeBytes(`${base}/slow`, LIMITS))).to.match(/no answer within 500 ms/);
    expect(await refusal(fetchComposeBytes(`${base}/missing`, LIMITS))).to.match(/answered HTTP 404/);
    expect(await refusal(fetchComposeBytes("http://127.0.0.1:1/app-compose.json", LIMITS))).to.match(/could not fetch/);
    expect(await refusal(fetchComposeBytes("file:///nonexistent/app-compose.json", LIMITS))).to.match(/could not open/);
    expect(await refusal(fetchComposeBytes("ipfs://bafy/app-compose.json", LIMITS))).to.match(
      /uses ipfs:, which the agent cannot fetch/,
    );
    expect(await refusal(fetchComposeBytes("not a uri", LIMITS))).to.match(/is not a URL/);
  });

  it("accepts only bytes whose sha256 is the on-chain hash", async function () {
    const bytes = new TextEncoder().encode('{"runner":"docker-compose"}');
    expect(() => verifyComposeBytes(bytes, sha256Hex(bytes).toUpperCase().replace("0X", "0x"), "u")).to.not.throw();
    expect(() => verifyComposeBytes(bytes, `0x${"00".repeat(32)}`, "https://x/app.json")).to.throw(
      ReleaseRefusedError,
      `the bytes at https://x/app.json hash to ${sha256Hex(bytes)}, not to the on-chain compose hash 0x${"00".repeat(32)}: refusing them`,
    );
  });

  it("extracts docker_compose_file unchanged, and refuses what the agent would not run as dstack does", async function () {
    const v1 = await releaseFromFile("v1", EXAMPLE_V1);
    expect(dockerComposeOf(v1.bytes, v1.hash)).to.equal(v1.dockerCompose);
    const of = (value: unknown) => () => dockerComposeOf(new TextEncoder().encode(JSON.stringify(value)), "0xh");
    expect(of({ runner: "bash", bash_script: "echo" })).to.throw(/runner "bash"; the agent runs only "docker-compose"/);
    expect(of({ runner: "docker-compose" })).to.throw(/has no docker_compose_file/);
    expect(
      of({ runner: "docker-compose", docker_compose_file: "services: {}", pre_launch_script: "curl x | sh" }),
    ).to.throw(/pre_launch_script, which the agent does not run/);
    expect(of({ runner: "docker-compose", docker_compose_file: "services: {}", pre_launch_script: "" })()).to.equal(
      "services: {}",
    );
    expect(of([1])).to.throw(/not an app-compose object/);
    expect(() => dockerComposeOf(new Uint8Array([0xff, 0xfe]), "0xh")).to.throw(/not a UTF-8 JSON/);
  });
});
