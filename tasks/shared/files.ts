import { readFile, stat, writeFile } from "node:fs/promises";

import { UserError } from "../../lib/errors.js";

/** Checks that the file named by an option exists and is a regular file, with a clear error otherwise. */
export async function requireFileOption(option: string, path: string): Promise<void> {
  let isFile = false;
  try {
    isFile = (await stat(path)).isFile();
  } catch {
    throw new UserError(`--${option} ${path}: no such file`);
  }
  if (!isFile) throw new UserError(`--${option} ${path}: not a regular file`);
}

/** The bytes of the file named by an option. */
export async function readFileOption(option: string, path: string): Promise<Buffer> {
  await requireFileOption(option, path);
  return readFile(path);
}

/** Writes the file named by an option (replacing it), with a clear error when that fails. */
export async function writeFileOption(option: string, path: string, contents: string): Promise<void> {
  try {
    await writeFile(path, contents);
  } catch (error) {
    throw new UserError(`--${option} ${path}: cannot write it (${error instanceof Error ? error.message : error})`);
  }
}
