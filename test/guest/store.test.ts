import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { expect } from "chai";

import { EMPTY_STATE, Store, writeFileAtomic } from "../../guest/src/store.js";
import { sha256Hex } from "../../lib/composeHash.js";
import { cleanUp, tempDir } from "../helpers/guestAgent.js";

describe("guest agent: the state directory", function () {
  after(cleanUp);

  it("writes files atomically and leaves no temporary file behind", async function () {
    const dir = await tempDir("store");
    const file = path.join(dir, "state.json");
    await writeFileAtomic(file, "one");
    await writeFileAtomic(file, "two");
    expect(await readFile(file, "utf8")).to.equal("two");
    expect(await readdir(dir)).to.deep.equal(["state.json"]);
  });

  it("removes the temporary files an interrupted write left, and keeps the last whole state", async function () {
    const store = new Store(await tempDir("store"));
    await store.init();
    const state = { ...EMPTY_STATE, lastBlock: 7 };
    await store.saveState(state);
    // What a kill -9 between open and rename leaves: a temporary file next to the real one.
    await writeFile(path.join(store.dir, `.state.json.tmp-4242-deadbeef`), '{"version":1,"runn');
    const removed = await store.init();
    expect(removed).to.deep.equal([path.join(store.dir, ".state.json.tmp-4242-deadbeef")]);
    expect(await store.loadState()).to.deep.equal(state);
  });

  it("starts from the empty state, and refuses a state file of another version", async function () {
    const store = new Store(await tempDir("store"));
    await store.init();
    expect(await store.loadState()).to.deep.equal(EMPTY_STATE);
    await writeFile(store.stateFile, '{"version":2}');
    let message = "";
    await store.loadState().catch((error: Error) => (message = error.message));
    expect(message).to.match(/has version 2, expected 1/);
  });

  it("keeps verified releases and never hands back bytes that changed on disk", async function () {
    const store = new Store(await tempDir("store"));
    await store.init();
    const bytes = new TextEncoder().encode('{"docker_compose_file":"services: {}","runner":"docker-compose"}');
    const hash = sha256Hex(bytes);
    const files = await store.writeRelease(hash, bytes, "services: {}");
    expect(files.composeFile).to.equal(path.join(store.releasesDir, hash.slice(2), "docker-compose.yml"));
    expect(await readFile(files.composeFile, "utf8")).to.equal("services: {}");
    expect(Buffer.from((await store.readVerifiedRelease(hash))!)).to.deep.equal(Buffer.from(bytes));
    await writeFile(files.appComposeFile, '{"docker_compose_file":"services: {evil: {}}","runner":"docker-compose"}');
    expect(await store.readVerifiedRelease(hash)).to.equal(undefined);
    expect(await store.readVerifiedRelease(`0x${"12".repeat(32)}`)).to.equal(undefined);
  });
});
