import { readFile } from "node:fs/promises";
import { styleText } from "node:util";

import { composeHashOfBytes } from "../lib/composeHash.js";
import {
  buildReport,
  notAnAppAuth,
  renderReport,
  reportJson,
  type DevProofReport,
  type Level,
} from "../lib/devproof-report.js";
import { readDevProofSnapshot } from "../lib/devproof-snapshot.js";
import { NegativeAnswer, UserError } from "../lib/errors.js";
import { connectKms } from "../lib/kms.js";
import { parseAddress, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { openNetwork } from "./shared/session.js";

export interface DevProofReportArgs {
  app?: string | undefined;
  compose?: string | undefined;
  kms?: string | undefined;
  json?: boolean | undefined;
}

/**
 * A report below Stage 1, or a Stage 1 that rests on what the report could not verify (another timelock's own word):
 * printed already, so the CLI only exits with code 1; tests read the report here.
 */
export class BelowStageOne extends NegativeAnswer {
  override name = "BelowStageOne";

  constructor(readonly report: DevProofReport) {
    super(
      report.stage === 0
        ? `${report.stageTitle}: ${report.lines.filter((line) => line.level === "FAIL").length} line(s) FAIL`
        : `${report.stageTitle}: not verified from the chain, so not a pass`,
    );
  }
}

const COLOURS: Record<Level, Parameters<typeof styleText>[0]> = {
  PASS: "green",
  WARN: "yellow",
  FAIL: "red",
  INFO: "cyan",
};

/**
 * Which ERC-733 stage an app meets, line by line; works on any dstack AppAuth. Exit code 0 only when no line FAILs
 * and the stage was verified from the chain (Stage 1 or better); an address that is not an AppAuth (no code, the KMS, a contract whose isAppAllowed reverts) is
 * refused with one line and exit code 1, not graded. The rules are lib/devproof-report.ts; this reads the chain and
 * the compose file and prints.
 */
export default defineAction(async (args: DevProofReportArgs, hre): Promise<DevProofReport> => {
  const app = parseAddress("app", requireOption("app", args.app, "the app id: the address of its auth contract"));
  const kmsAddress = args.kms === undefined ? undefined : parseAddress("kms", args.kms);
  let compose: { source: string; text: string; sha256: string } | undefined;
  if (args.compose !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(args.compose);
    } catch (error) {
      throw new UserError(`cannot read --compose ${args.compose}: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
    compose = {
      source: args.compose,
      text: new TextDecoder().decode(bytes),
      sha256: composeHashOfBytes(bytes).bytesHash,
    };
  }

  const session = await openNetwork(hre, undefined, false);
  if (kmsAddress !== undefined) await connectKms(kmsAddress, session.ethers.provider, session.where);
  const snapshot = await readDevProofSnapshot(session.ethers.provider, app, { kms: kmsAddress, compose });
  const notAppAuth = notAnAppAuth(snapshot);
  if (notAppAuth !== undefined) {
    // Grading it would describe a policy that is not there ("instant upgrade path"): say what it is instead.
    throw new UserError(`nothing to report: ${notAppAuth}; check --app (the app id) and --network`);
  }
  const report = buildReport(snapshot);

  if (args.json === true) {
    console.log(reportJson(report));
  } else {
    console.log(`On ${session.where}`);
    console.log(
      renderReport(report)
        .split("\n")
        .map((line) => {
          const level = line.slice(0, 4).trim() as Level;
          return level in COLOURS ? styleText(COLOURS[level], line.slice(0, 4)) + line.slice(4) : line;
        })
        .join("\n"),
    );
  }
  // A claim is not evidence: a stage the chain does not show is not a pass, whatever the contract says of itself.
  if (report.stage === 0 || report.unverified === true) throw new BelowStageOne(report);
  return report;
});
