import { OS_FIELDS } from "../lib/appAuth.js";
import { UserError } from "../lib/errors.js";
import { osMeasurementsFromInfo, osMeasurementsFromQuote, type OsMeasurements } from "../lib/osPin.js";
import { exactlyOneOf } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { readFileOption } from "./shared/files.js";

export interface OsMeasurementsArgs {
  quote?: string | undefined;
  eventLog?: string | undefined;
  info?: string | undefined;
}

/** A quote file: raw bytes, or hex text (as the guest API's GetQuote returns it). */
function quoteBytes(file: Buffer): Uint8Array {
  const text = file.toString("latin1").trim();
  return /^(0x)?([0-9a-fA-F]{2})+$/.test(text) ? Uint8Array.from(Buffer.from(text.replace(/^0x/, ""), "hex")) : file;
}

function parseJson(option: string, file: Buffer): unknown {
  try {
    return JSON.parse(file.toString("utf8"));
  } catch (error) {
    throw new UserError(`--${option}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

export default defineAction(async (args: OsMeasurementsArgs): Promise<OsMeasurements> => {
  const source = exactlyOneOf(
    { quote: args.quote, info: args.info },
    "a quote with its event log (--quote and --event-log), or a running CVM's Info (--info)",
  );
  let measurements: OsMeasurements;
  if (source.option === "quote") {
    if (args.eventLog === undefined || args.eventLog.trim() === "") {
      throw new UserError("--quote needs --event-log: the log that replays to the quote's RTMR3");
    }
    const quote = quoteBytes(await readFileOption("quote", source.value));
    const eventLog = parseJson("event-log", await readFileOption("event-log", args.eventLog));
    measurements = osMeasurementsFromQuote(quote, eventLog as readonly unknown[]);
  } else {
    if (args.eventLog !== undefined) throw new UserError("--event-log goes with --quote; --info carries its own log");
    measurements = osMeasurementsFromInfo(parseJson("info", await readFileOption("info", source.value)));
  }
  console.log("The OS this CVM booted, as dstack's KMS passes it to isAppAllowed when it releases the app's keys:");
  console.log(`  mrSystem:      ${measurements.mrSystem}  (firmware, VM size, kernel, command line, initrd)`);
  console.log(`  osImageHash:   ${measurements.osImageHash ?? "(not measured: no os-image-hash event in the log)"}`);
  console.log("To pin it (at once; every other value is then refused, and each new one waits the notice):");
  const values: Array<[number, string | undefined]> = [
    [0, measurements.mrSystem],
    [1, measurements.osImageHash],
  ];
  for (const [field, value] of values) {
    if (value === undefined) continue;
    console.log(
      `  npx hardhat pin-os --app <app> --field ${OS_FIELDS[field]!.option} --value ${value} --network <network>`,
    );
  }
  return measurements;
});
