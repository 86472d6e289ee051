import { getAddress, isAddress } from "ethers";

import { ConflictingOptionsError, InvalidOptionError, MissingOptionError } from "./errors.js";

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** Parses a 32-byte hex value (a compose hash or device id); returns it lower-cased. */
export function parseBytes32(option: string, value: string): string {
  const trimmed = value.trim();
  if (BYTES32.test(trimmed)) return trimmed.toLowerCase();
  const digits = trimmed.replace(/^0x/i, "");
  const detail = /^[0-9a-fA-F]*$/.test(digits)
    ? `got ${digits.length} hex digits${trimmed.startsWith("0x") ? "" : " and no 0x prefix"}`
    : "got characters that are not hex digits";
  throw new InvalidOptionError(option, value, `0x followed by 64 hex digits (32 bytes); ${detail}`);
}

/** Parses an Ethereum address; returns it checksummed. A mixed-case address must have a valid checksum. */
export function parseAddress(option: string, value: string): string {
  const trimmed = value.trim();
  if (!/^0x[0-9a-fA-F]{40}$/.test(trimmed)) {
    throw new InvalidOptionError(option, value, "an address: 0x followed by 40 hex digits");
  }
  // isAddress is false for a mixed-case address whose EIP-55 checksum fails: most likely a typo. Suggesting the
  // "corrected" checksum would bless the typo, so we only say so.
  if (!isAddress(trimmed)) {
    throw new InvalidOptionError(
      option,
      value,
      "an address whose EIP-55 checksum holds; this one fails it: check for a typo",
    );
  }
  return getAddress(trimmed);
}

const DURATION_UNITS: Record<string, bigint> = { w: 604_800n, d: 86_400n, h: 3_600n, m: 60n, s: 1n };

/**
 * Parses a duration: plain seconds ("3600") or units ("7d", "12h", "1d12h", "90m", "2w"). Returns seconds.
 * Contract bounds are checked by the caller, against the deployed contract's own constants.
 */
export function parseDuration(option: string, value: string): bigint {
  const text = value.trim().toLowerCase();
  const expected = 'a duration such as "7d", "36h", "1d12h", "90m" or a number of seconds ("3600")';
  let seconds = 0n;
  if (/^\d+$/.test(text)) {
    seconds = BigInt(text);
  } else if (/^(\d+[wdhms])+$/.test(text)) {
    for (const [, amount, unit] of text.matchAll(/(\d+)([wdhms])/g)) {
      seconds += BigInt(amount!) * DURATION_UNITS[unit!]!;
    }
  } else {
    throw new InvalidOptionError(option, value, expected);
  }
  if (seconds === 0n) throw new InvalidOptionError(option, value, "a duration longer than zero");
  return seconds;
}

/**
 * Checks an integer option against its range; returns it. Hardhat has parsed the command line's text already (an INT
 * option); a programmatic caller may still pass a negative, a fraction or an unsafe integer.
 * @param expected what the option takes, for the message.
 */
export function checkInteger(
  option: string,
  value: number,
  expected: string,
  { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, String(value), expected);
  }
  return value;
}

/** Checks a block number: a non-negative integer. */
export function checkBlockNumber(option: string, value: number): number {
  return checkInteger(option, value, "a block number (a non-negative integer)");
}

/** Checks a moment in unix seconds: a non-negative integer (e.g. 1750809600 for 2025-06-25T00:00:00Z). */
export function checkUnixTime(option: string, value: number): number {
  return checkInteger(option, value, "a unix time in seconds (e.g. 1750809600)");
}

/** Returns the value of a required option, or throws naming it and why it is needed. */
export function requireOption(option: string, value: string | undefined, why: string): string {
  if (value === undefined || value.trim() === "") throw new MissingOptionError(option, why);
  return value;
}

/**
 * Picks the one option given among mutually exclusive ones.
 * @returns the name and value of the option that was given.
 */
export function exactlyOneOf<const Name extends string>(
  options: Record<Name, string | undefined>,
  why: string,
): { option: Name; value: string } {
  const given = atMostOneOf(options);
  if (given === undefined) throw new MissingOptionError(Object.keys(options).join(" or --"), why);
  return given;
}

/**
 * Picks the option given among mutually exclusive optional ones.
 * @returns the name and value of the option that was given; undefined when none was.
 */
export function atMostOneOf<const Name extends string>(
  options: Record<Name, string | undefined>,
): { option: Name; value: string } | undefined {
  const given = (Object.entries(options) as Array<[Name, string | undefined]>).filter(
    (entry): entry is [Name, string] => entry[1] !== undefined && entry[1].trim() !== "",
  );
  if (given.length > 1) throw new ConflictingOptionsError(given.map(([name]) => name));
  const [first] = given;
  return first === undefined ? undefined : { option: first[0], value: first[1] };
}

const MILLISECOND_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a timeout or interval for long-running tools: units ("500ms", "12s", "5m", "1h30m") or plain seconds
 * ("30", as {@link parseDuration} reads them). Returns milliseconds; zero only when `allowZero`.
 */
export function parseMilliseconds(option: string, value: string, { allowZero = false } = {}): number {
  const text = value.trim().toLowerCase();
  let ms = 0;
  if (/^\d+$/.test(text)) {
    ms = Number(text) * 1_000;
  } else if (/^(\d+(ms|s|m|h|d))+$/.test(text)) {
    for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) {
      ms += Number(amount) * MILLISECOND_UNITS[unit!]!;
    }
  } else {
    throw new InvalidOptionError(option, value, 'a duration such as "500ms", "12s", "5m", "1h30m" or seconds ("30")');
  }
  if (!Number.isSafeInteger(ms)) throw new InvalidOptionError(option, value, "a shorter duration");
  if (ms === 0 && !allowZero) throw new InvalidOptionError(option, value, "a duration longer than zero");
  return ms;
}
