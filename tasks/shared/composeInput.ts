import { styleText } from "node:util";

import { composeHashOfBytes, type ComposeHashReport } from "../../lib/composeHash.js";
import { exactlyOneOf, parseBytes32 } from "../../lib/validate.js";
import { readFileOption } from "./files.js";

/** Reads and hashes a compose file named by an option, with a clear error when it is missing. */
export async function hashComposeFileOption(option: string, path: string): Promise<ComposeHashReport> {
  return composeHashOfBytes(await readFileOption(option, path));
}

/** Prints the hash of a compose file's bytes and, when the file is not canonical, what the SDK would say. */
export function printComposeReport(path: string, report: ComposeHashReport): void {
  console.log(`${path}: ${report.byteLength} bytes`);
  console.log(
    `sha256 of the exact bytes (what a CVM deployed with this file measures and reports): ${report.bytesHash}`,
  );
  if (report.canonical) {
    console.log("The file is in the dstack SDK's canonical form: the SDK's getComposeHash() gives the same hash.");
    return;
  }
  const sdk =
    report.sdkHash === undefined
      ? "The dstack SDK cannot hash it (getComposeHash() needs a JSON object)."
      : `The dstack SDK's getComposeHash() gives ${report.sdkHash} instead: a CVM reports that hash only if it is ` +
        "deployed with the SDK's re-serialization (as SDK-based deploy tools do), not with this file as it is.";
  console.warn(
    styleText(
      "yellow",
      `Warning: the file is not in the dstack SDK's canonical form (${report.differences.join("; ")}).\n  ${sdk}\n` +
        "  Propose the hash of the exact bytes you deploy.",
    ),
  );
}

/**
 * Resolves `--hash 0x…` or `--file app-compose.json` (exactly one) to a compose hash; a file is hashed over its
 * exact bytes and its report printed.
 */
export async function composeHashFromOptions(options: {
  hash?: string | undefined;
  file?: string | undefined;
}): Promise<{ composeHash: string; file: string | undefined; bytes: Uint8Array | undefined }> {
  const given = exactlyOneOf(
    { hash: options.hash, file: options.file },
    "the compose hash, or the app-compose.json whose exact bytes are hashed",
  );
  if (given.option === "hash") {
    return { composeHash: parseBytes32("hash", given.value), file: undefined, bytes: undefined };
  }
  const bytes = await readFileOption("file", given.value);
  const report = composeHashOfBytes(bytes);
  printComposeReport(given.value, report);
  return { composeHash: report.bytesHash, file: given.value, bytes };
}
