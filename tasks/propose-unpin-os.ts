import { OS_FIELDS, unpinOsChange } from "../lib/appAuth.js";
import { UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { proposeChange } from "./shared/changes.js";
import { parseOsFieldArgs, type OsFieldArgs } from "./shared/os.js";
import { openApp } from "./shared/session.js";

export default defineAction(async (args: OsFieldArgs, hre) => {
  const { app, field } = parseOsFieldArgs(args);
  const session = await openApp(hre, app, true);
  if (!(await session.appAuth.osPinned(field))) {
    throw new UserError(`the ${OS_FIELDS[field].label} is not pinned: every value is allowed already`);
  }
  return proposeChange(session, unpinOsChange(field));
});
