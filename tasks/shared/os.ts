/**
 * The options of the OS-pin tasks: `--field mr-system|os-image` and, where a value is needed, `--value`.
 */
import { OS_FIELDS, type OsField } from "../../lib/appAuth.js";
import { InvalidOptionError } from "../../lib/errors.js";
import { parseBytes32, requireOption } from "../../lib/validate.js";
import { parseAppOptions, type AppOptions } from "./session.js";

export interface OsFieldArgs extends AppOptions {
  field?: string | undefined;
}

export interface OsValueArgs extends OsFieldArgs {
  value?: string | undefined;
}

const FIELD_NAMES = OS_FIELDS.map((f) => f.option).join(" or ");

/** The OS measurement `--field` names. */
export function parseOsField(value: string | undefined): OsField {
  const given = requireOption("field", value, `which OS measurement: ${FIELD_NAMES}`).trim();
  const field = OS_FIELDS.findIndex((f) => f.option === given);
  if (field === -1) throw new InvalidOptionError("field", given, FIELD_NAMES);
  return field as OsField;
}

export function parseOsFieldArgs(args: OsFieldArgs) {
  return { app: parseAppOptions(args), field: parseOsField(args.field) };
}

/** The app, the field and its value (32 bytes, not zero: zero marks "none" and the contract refuses it). */
export function parseOsValueArgs(args: OsValueArgs) {
  const { app, field } = parseOsFieldArgs(args);
  const value = parseBytes32(
    "value",
    requireOption("value", args.value, `the ${OS_FIELDS[field].label} (bytes32); os-measurements computes it`),
  );
  if (BigInt(value) === 0n) throw new InvalidOptionError("value", value, "a non-zero 32-byte value");
  return { app, field, value };
}
