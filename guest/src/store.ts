/**
 * The agent's work directory. Every file is written atomically (temporary file in the same directory, fsync,
 * rename, fsync of the directory), so a crash or `kill -9` at any moment leaves either the old file or the new one,
 * never half of one.
 *
 *   <state-dir>/state.json                              what runs, since when, the last good release, the last block
 *   <state-dir>/releases/<hash>/app-compose.json        the verified bytes (sha256 = the on-chain compose hash)
 *   <state-dir>/releases/<hash>/docker-compose.yml      its `docker_compose_file`, which `docker compose -f` gets
 *   <state-dir>/project/                                the compose project directory (stable across releases)
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";

import { sha256Hex } from "../../lib/composeHash.js";

/** A release that was (or is) running, with the files it was started from. */
export interface ReleaseRecord {
  composeHash: string;
  uri: string;
  appComposeFile: string;
  composeFile: string;
  /** When it started running (ISO 8601). */
  since: string;
  /** The confirmed block at which the agent decided to run it. */
  block: number;
}

export interface AgentState {
  version: 1;
  /** What the agent last started successfully and still considers running; null when nothing runs. */
  running: ReleaseRecord | null;
  /** The last release that started and passed the health check: the rollback target. */
  lastGood: ReleaseRecord | null;
  /** Why nothing runs, when the agent stopped the app itself (e.g. its hash was removed). */
  stopped: { composeHash: string; block: number; at: string; reason: string } | null;
  /** The newest confirmed block the agent acted on; a view older than this is not acted on. */
  lastBlock: number;
}

export const EMPTY_STATE: AgentState = { version: 1, running: null, lastGood: null, stopped: null, lastBlock: -1 };

/**
 * Writes `data` to `file` atomically and durably, with permissions `mode` (default 0644; the shared secret is written
 * 0600, so it is never readable by others, not even for a moment as a temporary file).
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  const handle = await open(temp, "wx", options.mode ?? 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/** Removes the temporary files {@link writeFileAtomic} leaves in `dir` when a crash interrupts it; returns them. */
export async function removeTemporaryFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return removed;
    throw error;
  }
  for (const name of names) {
    if (/^\..+\.tmp-\d+-[0-9a-f]{8}$/.test(name)) {
      await rm(path.join(dir, name), { force: true });
      removed.push(path.join(dir, name));
    }
  }
  return removed;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class Store {
  readonly stateFile: string;
  readonly releasesDir: string;
  readonly projectDir: string;

  constructor(readonly dir: string) {
    this.stateFile = path.join(dir, "state.json");
    this.releasesDir = path.join(dir, "releases");
    this.projectDir = path.join(dir, "project");
  }

  /** Creates the directories and removes temporary files a crash may have left behind. */
  async init(): Promise<string[]> {
    await mkdir(this.releasesDir, { recursive: true });
    await mkdir(this.projectDir, { recursive: true });
    const removed: string[] = [];
    for (const dir of [this.dir, ...(await this.releaseDirs())]) removed.push(...(await removeTemporaryFiles(dir)));
    return removed;
  }

  private async releaseDirs(): Promise<string[]> {
    const names = await readdir(this.releasesDir);
    return names.map((name) => path.join(this.releasesDir, name));
  }

  /** The saved state; the empty state when there is none yet. */
  async loadState(): Promise<AgentState> {
    let text: string;
    try {
      text = await readFile(this.stateFile, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { ...EMPTY_STATE };
      throw error;
    }
    const parsed = JSON.parse(text) as AgentState;
    if (parsed.version !== 1) throw new Error(`${this.stateFile} has version ${String(parsed.version)}, expected 1`);
    return parsed;
  }

  async saveState(state: AgentState): Promise<void> {
    await writeFileAtomic(this.stateFile, `${JSON.stringify(state, null, 2)}\n`);
  }

  releaseFiles(composeHash: string): { appComposeFile: string; composeFile: string } {
    const dir = path.join(this.releasesDir, composeHash.replace(/^0x/, ""));
    return { appComposeFile: path.join(dir, "app-compose.json"), composeFile: path.join(dir, "docker-compose.yml") };
  }

  /**
   * The verified app-compose bytes of a release kept from an earlier fetch, or undefined when they are missing or
   * no longer hash to `composeHash` (a file changed on disk is never used).
   */
  async readVerifiedRelease(composeHash: string): Promise<Uint8Array | undefined> {
    const { appComposeFile } = this.releaseFiles(composeHash);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(appComposeFile);
    } catch {
      return undefined;
    }
    return sha256Hex(bytes) === composeHash.toLowerCase() ? bytes : undefined;
  }

  /** Writes a verified release: its app-compose.json bytes, then the compose file extracted from them. */
  async writeRelease(
    composeHash: string,
    appComposeBytes: Uint8Array,
    dockerCompose: string,
  ): Promise<{ appComposeFile: string; composeFile: string }> {
    const files = this.releaseFiles(composeHash);
    await mkdir(path.dirname(files.appComposeFile), { recursive: true });
    await writeFileAtomic(files.appComposeFile, appComposeBytes);
    await writeFileAtomic(files.composeFile, dockerCompose);
    return files;
  }
}
