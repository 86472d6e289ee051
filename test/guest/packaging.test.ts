/**
 * What makes the agent's image reproducible and its deployment auditable, checked on every test run: the bundle is
 * the same bytes every time, the image's own lockfile pins the versions the tests ran, base images are pinned by
 * digest, and the example deployment's app-compose.json carries its docker-compose.yml verbatim.
 */
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";

import { expect } from "chai";

import { buildAgent } from "../../guest/build.mjs";
import { OPTION_SPECS } from "../../guest/src/options.js";
import { buildAgentBundle, cleanUp, REPO_ROOT, tempDir } from "../helpers/guestAgent.js";

const readJson = async (file: string) =>
  JSON.parse(await readFile(path.join(REPO_ROOT, file), "utf8")) as Record<string, unknown>;

describe("guest agent packaging", function () {
  this.timeout(20_000);
  after(cleanUp);

  it("bundles to the same bytes on every build", async function () {
    const dir = await tempDir("bundle-repro");
    const first = await buildAgent(path.join(dir, "a.mjs"));
    const second = await buildAgent(path.join(dir, "b.mjs"));
    expect(first).to.equal(second);
    const text = await readFile(path.join(dir, "a.mjs"), "utf8");
    expect(text).to.not.contain(REPO_ROOT);
  });

  it("pins in guest/package.json the versions installed here, and locks them in guest/package-lock.json", async function () {
    const guest = (await readJson("guest/package.json")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const lock = (await readJson("guest/package-lock.json")) as {
      packages: Record<string, { version: string; integrity?: string }>;
    };
    const root = (await readJson("package.json")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const rootPins = { ...root.dependencies, ...root.devDependencies };
    const rootLock = (await readJson("package-lock.json")) as typeof lock;
    for (const [name, version] of Object.entries({ ...guest.dependencies, ...guest.devDependencies })) {
      expect(version, name).to.match(/^\d+\.\d+\.\d+$/);
      expect(rootPins[name], `${name} in the root package.json`).to.equal(version);
      expect(rootLock.packages[`node_modules/${name}`]?.version, `${name} in the root lockfile`).to.equal(version);
      expect(lock.packages[`node_modules/${name}`]?.version, `${name} in guest/package-lock.json`).to.equal(version);
      expect(lock.packages[`node_modules/${name}`]?.integrity, `${name} integrity`).to.match(/^sha512-/);
    }
  });

  it("pins every base image of the Dockerfile by digest and installs with npm ci", async function () {
    const dockerfile = await readFile(path.join(REPO_ROOT, "guest/Dockerfile"), "utf8");
    const images = [...dockerfile.matchAll(/^ARG \w+_IMAGE=(\S+)$/gm)].map((match) => match[1]!);
    expect(images).to.have.length(2);
    for (const image of images) expect(image).to.match(/^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
    expect(dockerfile.match(/^FROM (\S+)/gm)).to.deep.equal([
      "FROM ${DOCKER_CLI_IMAGE}",
      "FROM ${NODE_IMAGE}",
      "FROM ${NODE_IMAGE}",
    ]);
    expect(dockerfile).to.contain("RUN npm ci ");
  });

  it("ships an example app-compose.json whose docker_compose_file is guest/deploy/docker-compose.yml", async function () {
    const app = await readJson("guest/deploy/app-compose.json");
    const yaml = await readFile(path.join(REPO_ROOT, "guest/deploy/docker-compose.yml"), "utf8");
    expect(app["docker_compose_file"]).to.equal(yaml);
    expect(app["runner"]).to.equal("docker-compose");
    for (const mount of ["/var/run/dstack.sock:/var/run/dstack.sock", "/var/run/docker.sock:/var/run/docker.sock"]) {
      expect(yaml).to.contain(mount);
    }
  });

  it("documents every option, with its variable and default, in guest/README.md", async function () {
    const readme = await readFile(path.join(REPO_ROOT, "guest/README.md"), "utf8");
    for (const spec of Object.values(OPTION_SPECS) as Array<{ flag: string; env: string; default?: string }>) {
      const row = readme.split("\n").find((line) => line.startsWith(`| \`--${spec.flag}\` | \`${spec.env}\` |`));
      expect(row, `--${spec.flag}`).to.not.equal(undefined);
      if (spec.default !== undefined) expect(row).to.contain(`\`${spec.default}\``);
    }
  });

  it("exits 2 with one line per bad option, before doing anything", async function () {
    const result = spawnSync(process.execPath, [await buildAgentBundle(), "--confirmations", "many"], {
      env: { PATH: process.env["PATH"] },
      encoding: "utf8",
    });
    expect(result.status, result.stderr).to.equal(2);
    expect(result.stderr).to.contain("--rpc-url / DEVPROOF_RPC_URLS: required: the chain's JSON-RPC URL(s)");
    expect(result.stderr).to.contain('--confirmations / DEVPROOF_CONFIRMATIONS: expected a whole number (got "many")');
    expect(result.stdout).to.equal("");
  });
});
