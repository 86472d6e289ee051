/**
 * The watcher's cursor file: what has been handled, for which chain and contracts, written atomically (a temporary
 * file renamed over the old one) so that a crash leaves either the old cursor or the new one, never half of one.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";

import { UserError } from "./errors.js";
import { positionBefore, type WatchPosition } from "./watch.js";

export interface CursorFile {
  type: "dstack-devproof/watch-cursor";
  version: 1;
  chainId: string;
  app: string;
  registry: string | null;
  position: WatchPosition;
}

/** Reads a cursor file; undefined when there is none yet. Refuses one written for another chain or contract. */
export async function readCursor(
  path: string,
  expected: { chainId: bigint; app: string; registry: string | undefined },
): Promise<WatchPosition | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UserError(`cannot read the cursor file ${path}: ${(error as Error).message}`);
  }
  let cursor: Partial<CursorFile>;
  try {
    cursor = JSON.parse(text) as Partial<CursorFile>;
  } catch {
    throw new UserError(`the cursor file ${path} is not JSON: delete it to start from the head`);
  }
  const position = cursor.position;
  if (
    cursor.type !== "dstack-devproof/watch-cursor" ||
    position === undefined ||
    !Number.isSafeInteger(position.blockNumber) ||
    !(position.logIndex === null || Number.isSafeInteger(position.logIndex))
  ) {
    throw new UserError(`the cursor file ${path} is not a watch cursor: delete it to start from the head`);
  }
  const same = (a: string | null | undefined, b: string | undefined) =>
    (a ?? "").toLowerCase() === (b ?? "").toLowerCase();
  if (
    cursor.chainId !== expected.chainId.toString() ||
    !same(cursor.app, expected.app) ||
    !same(cursor.registry, expected.registry)
  ) {
    throw new UserError(
      `the cursor file ${path} is for app ${cursor.app}${cursor.registry ? ` and registry ${cursor.registry}` : ""} ` +
        `on chain ${cursor.chainId}, not for this watch: use another --cursor-file`,
    );
  }
  return { blockNumber: position.blockNumber, logIndex: position.logIndex };
}

/** Writes the cursor atomically. */
export async function writeCursor(
  path: string,
  cursor: { chainId: bigint; app: string; registry: string | undefined; position: WatchPosition },
): Promise<void> {
  const file: CursorFile = {
    type: "dstack-devproof/watch-cursor",
    version: 1,
    chainId: cursor.chainId.toString(),
    app: cursor.app,
    registry: cursor.registry ?? null,
    position: cursor.position,
  };
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Orders positions: negative when `a` covers less than `b` (a whole block, `logIndex` null, covers every log). */
function comparePositions(a: WatchPosition, b: WatchPosition): number {
  if (a.blockNumber !== b.blockNumber) return a.blockNumber - b.blockNumber;
  return (a.logIndex ?? Number.POSITIVE_INFINITY) - (b.logIndex ?? Number.POSITIVE_INFINITY) || 0;
}

/**
 * Keeps a cursor file at what is done: the watcher's position, but never past an event that still waits for
 * delivery (the oldest one in a webhook queue), so that a restart reports it again instead of losing it. `save()`
 * is called whenever either moves; writes happen one at a time, each with the latest values, and only when the
 * position changed.
 */
export class CursorKeeper {
  readonly #path: string;
  readonly #key: { chainId: bigint; app: string; registry: string | undefined };
  readonly #handled: () => WatchPosition | undefined;
  readonly #oldestUndelivered: () => { blockNumber: number; logIndex: number } | undefined;
  #written: string | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(options: {
    path: string;
    key: { chainId: bigint; app: string; registry: string | undefined };
    /** The watcher's position: every event up to it was handed over. */
    handled: () => WatchPosition | undefined;
    /** The oldest event handed over but not delivered yet, if any. */
    oldestUndelivered: () => { blockNumber: number; logIndex: number } | undefined;
  }) {
    this.#path = options.path;
    this.#key = options.key;
    this.#handled = options.handled;
    this.#oldestUndelivered = options.oldestUndelivered;
  }

  /** What the file should say now: the handled position, held before the oldest undelivered event. */
  get position(): WatchPosition | undefined {
    const handled = this.#handled();
    const oldest = this.#oldestUndelivered();
    if (oldest === undefined) return handled;
    const before = positionBefore(oldest);
    return handled !== undefined && comparePositions(handled, before) < 0 ? handled : before;
  }

  /** Writes the current position (after any write under way); rejects when this write fails. */
  save(): Promise<void> {
    const next = this.#writing
      .catch(() => {})
      .then(async () => {
        const position = this.position;
        if (position === undefined) return;
        const text = JSON.stringify(position);
        if (text === this.#written) return;
        await writeCursor(this.#path, { ...this.#key, position });
        this.#written = text;
      });
    this.#writing = next;
    return next;
  }
}
