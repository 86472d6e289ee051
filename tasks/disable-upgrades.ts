import type { ContractCall } from "../lib/appAuth.js";
import { UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { applyNarrowing } from "./shared/changes.js";
import { openApp, parseAppOptions, requireOwner, type AppOptions } from "./shared/session.js";

export interface DisableUpgradesArgs extends AppOptions {
  yes?: boolean | undefined;
}

export default defineAction(async (args: DisableUpgradesArgs, hre) => {
  const session = await openApp(hre, parseAppOptions(args), true);
  const call: ContractCall = { method: "disableUpgrades", args: [] };
  await requireOwner(session, call, "disable upgrades");
  if (await session.appAuth.upgradesDisabled()) throw new UserError("upgrades are already disabled");
  if (args.yes !== true) {
    const open = (await session.appAuth.getProposals()).length;
    throw new UserError(
      "disable-upgrades is one-way: no compose hash, device or policy change can ever be proposed or activated " +
        `again, and the ${open} open proposal(s) become void (removals stay possible). Re-run with --yes to confirm`,
    );
  }
  return applyNarrowing(session, call, "disable upgrades for good");
});
