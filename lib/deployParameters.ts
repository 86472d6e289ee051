/**
 * The Ignition parameters of one app's TimelockedAppAuth (`ignition/parameters/<network>.json`), checked before
 * anything is sent: a typo in a parameter name, a notice outside the contract's bounds or a compose hash without a
 * URI is caught on the operator's machine, not by a reverted (and paid-for) deployment.
 */
import { readFile } from "node:fs/promises";

import { getAddress, isAddress } from "ethers";

import { UserError } from "./errors.js";
import { formatDuration } from "./format.js";

/** The Ignition module id, which is also the key of its parameters in the file. */
export const MODULE_ID = "TimelockedAppAuth";

/** The contract's `MIN_NOTICE_PERIOD` (1 hour); a test checks it against the contract. */
export const MIN_NOTICE_SECONDS = 60n * 60n;
/** The contract's `MAX_NOTICE_PERIOD` (365 days); a test checks it against the contract. */
export const MAX_NOTICE_SECONDS = 365n * 24n * 60n * 60n;
/** Seven days: the ERC-733 / L2BEAT Stage-1 notice, and the recommended production default. */
export const RECOMMENDED_NOTICE_SECONDS = 7n * 24n * 60n * 60n;

const ZERO_HASH = `0x${"0".repeat(64)}`;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** The module's parameters, checked and normalized (bigint notice, lower-case hashes, checksummed owner). */
export interface AppDeployParameters {
  /** Undefined: the deploying account becomes the owner (the module's default). */
  owner?: string;
  noticePeriod: bigint;
  initialComposeHash: string;
  initialComposeUri: string;
  initialDevices: string[];
  allowAnyDevice: boolean;
  requireTcbUpToDate: boolean;
}

export interface CheckedParameters {
  parameters: AppDeployParameters;
  /** Legal but worth a second look (a notice below the Stage-1 bar, no owner set, ...). */
  warnings: string[];
}

/** The module's parameters, in the order of the contract's constructor arguments (ignition/modules/TimelockedAppAuth.ts). */
export const MODULE_PARAMETERS = [
  "owner",
  "noticePeriod",
  "initialComposeHash",
  "initialComposeUri",
  "initialDevices",
  "allowAnyDevice",
  "requireTcbUpToDate",
] as const;

/**
 * Reads and checks a parameters file; every problem found is listed in one {@link UserError}.
 * @param name how to name the file in messages (default: its path).
 */
export async function readDeployParameters(filePath: string, name = filePath): Promise<CheckedParameters> {
  const file = name;
  let text: string;
  try {
    text = await readFile(filePath, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(
      code === "ENOENT"
        ? `parameters file ${file} does not exist: create it (see ignition/parameters/base.example.json) or pass --parameters <file>`
        : `cannot read parameters file ${file}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UserError(`parameters file ${file} is not valid JSON: ${error instanceof Error ? error.message : error}`);
  }
  return checkDeployParameters(json, file);
}

/**
 * Checks the parsed contents of a parameters file: `{ "TimelockedAppAuth": { ... } }`, the shape Ignition reads.
 * @param file how to name the file in messages.
 */
export function checkDeployParameters(json: unknown, file: string): CheckedParameters {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (!isObject(json)) throw new UserError(`parameters file ${file}: expected an object with a "${MODULE_ID}" key`);
  for (const key of Object.keys(json)) {
    if (key !== MODULE_ID && !key.startsWith("$")) {
      problems.push(`unknown module "${key}" (this deployment has one module, "${MODULE_ID}")`);
    }
  }
  const raw = json[MODULE_ID];
  if (!isObject(raw)) {
    throw new UserError(`parameters file ${file}: expected an object with a "${MODULE_ID}" key, the module id`);
  }
  for (const key of Object.keys(raw)) {
    if (!(MODULE_PARAMETERS as readonly string[]).includes(key) && !key.startsWith("$")) {
      problems.push(`unknown parameter "${key}" (known: ${MODULE_PARAMETERS.join(", ")})`);
    }
  }

  let owner: string | undefined;
  if (raw["owner"] === undefined) {
    warnings.push("no owner set: the deploying account becomes the owner (a multisig is recommended)");
  } else if (typeof raw["owner"] !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(raw["owner"])) {
    problems.push(`owner ${JSON.stringify(raw["owner"])} is not an address (0x + 40 hex digits)`);
  } else if (!isAddress(raw["owner"])) {
    problems.push(`owner ${raw["owner"]} fails its EIP-55 checksum: check for a typo`);
  } else if (/^0x0{40}$/.test(raw["owner"])) {
    problems.push("owner is the zero address: nobody could ever propose or revoke anything");
  } else {
    owner = getAddress(raw["owner"]);
  }

  let noticePeriod = RECOMMENDED_NOTICE_SECONDS;
  if (raw["noticePeriod"] === undefined) {
    warnings.push(`no noticePeriod set: using the recommended ${formatDuration(RECOMMENDED_NOTICE_SECONDS)}`);
  } else {
    const notice = parseSeconds(raw["noticePeriod"]);
    if (notice === undefined) {
      problems.push(
        `noticePeriod ${JSON.stringify(raw["noticePeriod"])} is not a whole number of seconds (e.g. 604800 for 7 days)`,
      );
    } else if (notice < MIN_NOTICE_SECONDS || notice > MAX_NOTICE_SECONDS) {
      problems.push(
        `noticePeriod ${notice} s (${formatDuration(notice)}) is outside the contract's bounds: ` +
          `${MIN_NOTICE_SECONDS} s (${formatDuration(MIN_NOTICE_SECONDS)}) to ${MAX_NOTICE_SECONDS} s ` +
          `(${formatDuration(MAX_NOTICE_SECONDS)})`,
      );
    } else {
      noticePeriod = notice;
      if (notice < RECOMMENDED_NOTICE_SECONDS) {
        warnings.push(
          `noticePeriod ${formatDuration(notice)} is below the 7-day Stage-1 bar (ERC-733 / L2BEAT): ` +
            "users get less time to read a change and leave than Stage 1 asks for",
        );
      }
    }
  }

  let initialComposeHash = ZERO_HASH;
  if (raw["initialComposeHash"] !== undefined) {
    if (typeof raw["initialComposeHash"] !== "string" || !BYTES32.test(raw["initialComposeHash"])) {
      problems.push(
        `initialComposeHash ${JSON.stringify(raw["initialComposeHash"])} is not 0x followed by 64 hex digits`,
      );
    } else {
      initialComposeHash = raw["initialComposeHash"].toLowerCase();
    }
  }
  let initialComposeUri = "";
  if (raw["initialComposeUri"] !== undefined) {
    if (typeof raw["initialComposeUri"] !== "string") {
      problems.push("initialComposeUri must be a string");
    } else if (raw["initialComposeUri"] !== raw["initialComposeUri"].trim()) {
      // The contract stores the string as written (Ignition passes the file's value): no silent trimming.
      problems.push(`initialComposeUri ${JSON.stringify(raw["initialComposeUri"])} starts or ends with spaces`);
    } else {
      initialComposeUri = raw["initialComposeUri"];
    }
  }
  if (initialComposeHash !== ZERO_HASH && initialComposeUri === "") {
    problems.push(
      "initialComposeHash needs an initialComposeUri: where guest agents and auditors fetch the compose file",
    );
  }
  if (initialComposeHash === ZERO_HASH && initialComposeUri !== "") {
    problems.push("initialComposeUri is set but initialComposeHash is not: give both, or neither");
  }

  const initialDevices: string[] = [];
  if (raw["initialDevices"] !== undefined) {
    if (!Array.isArray(raw["initialDevices"])) {
      problems.push("initialDevices must be an array of device ids");
    } else {
      for (const device of raw["initialDevices"] as unknown[]) {
        if (typeof device !== "string" || !BYTES32.test(device)) {
          problems.push(`initialDevices: ${JSON.stringify(device)} is not 0x followed by 64 hex digits`);
        } else if (initialDevices.includes(device.toLowerCase())) {
          problems.push(`initialDevices: ${device} is listed twice (the contract would revert)`);
        } else {
          initialDevices.push(device.toLowerCase());
        }
      }
    }
  }

  const flag = (name: "allowAnyDevice" | "requireTcbUpToDate", fallback: boolean): boolean => {
    const value = raw[name];
    if (value === undefined) return fallback;
    if (typeof value !== "boolean") {
      problems.push(`${name} must be true or false, not ${JSON.stringify(value)}`);
      return fallback;
    }
    return value;
  };
  const allowAnyDevice = flag("allowAnyDevice", false);
  const requireTcbUpToDate = flag("requireTcbUpToDate", true);
  if (allowAnyDevice) warnings.push("allowAnyDevice is true: any TDX machine may run the app from the start");
  if (!requireTcbUpToDate) warnings.push('requireTcbUpToDate is false: CVMs whose TCB is not "UpToDate" get keys');

  if (problems.length > 0) {
    throw new UserError(`parameters file ${file} is not valid; nothing was sent:\n  - ${problems.join("\n  - ")}`);
  }
  return {
    parameters: {
      ...(owner === undefined ? {} : { owner }),
      noticePeriod,
      initialComposeHash,
      initialComposeUri,
      initialDevices,
      allowAnyDevice,
      requireTcbUpToDate,
    },
    warnings,
  };
}

/** A whole number of seconds: a JSON integer, or a string of digits (Ignition also writes bigints as "123n"). */
function parseSeconds(value: unknown): bigint | undefined {
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^\d+n?$/.test(value)) return BigInt(value.replace(/n$/, ""));
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
