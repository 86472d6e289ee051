/**
 * A problem the person running a command can fix: bad input, the wrong signer, a proposal that is not ready.
 * Tasks print its message as one line and exit non-zero; anything else is a bug and keeps its stack trace.
 */
export class UserError extends Error {
  override name = "UserError";
}

/** An option whose value has the wrong format. */
export class InvalidOptionError extends UserError {
  override name = "InvalidOptionError";

  constructor(
    readonly option: string,
    readonly value: string,
    expected: string,
  ) {
    super(`--${option} ${JSON.stringify(value)} is not valid: expected ${expected}`);
  }
}

/** A required option that was not given. */
export class MissingOptionError extends UserError {
  override name = "MissingOptionError";

  constructor(
    readonly option: string,
    why: string,
  ) {
    super(`--${option} is required: ${why}`);
  }
}

/** Options that cannot be given together. */
export class ConflictingOptionsError extends UserError {
  override name = "ConflictingOptionsError";

  constructor(readonly options: readonly string[]) {
    super(`${options.map((o) => `--${o}`).join(" and ")} cannot be used together: give exactly one`);
  }
}

/**
 * A "no" that the command has already printed as its answer (e.g. `check-boot`: "denied: Device not allowed"). It is
 * not a mistake of the user: tasks print no error line for it, but still exit with code 1, so scripts can test it.
 */
export class NegativeAnswer extends UserError {
  override name = "NegativeAnswer";
}
