/**
 * What Hardhat's argument types cannot say about an option. Hardhat 3 options are always optional (only positional
 * arguments can be required), so a required option says "(required)" in its description and its action checks it;
 * and an INT option needs a number as its default, so an integer option whose absence means something else (watch's
 * `--from-block`: the confirmed head; `--at`: the time of the check) defaults to {@link UNSET}.
 */

/** The default of an integer option that has no number as its default. The command line cannot pass a negative. */
export const UNSET = -1;

/** The value of an integer option that defaults to {@link UNSET}; undefined when it was not given. */
export function givenInt(value: number | undefined): number | undefined {
  return value === undefined || value === UNSET ? undefined : value;
}
