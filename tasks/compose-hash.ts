import { requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { hashComposeFileOption, printComposeReport } from "./shared/composeInput.js";

export interface ComposeHashArgs {
  file?: string | undefined;
}

export default defineAction(async (args: ComposeHashArgs) => {
  const path = requireOption("file", args.file, "the app-compose.json whose bytes are hashed");
  const report = await hashComposeFileOption("file", path);
  printComposeReport(path, report);
  return report;
});
