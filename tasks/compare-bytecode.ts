import path from "node:path";

import { compareRuntimeBytecode, type MetadataTrailer } from "../lib/bytecode.js";
import { NegativeAnswer, UserError } from "../lib/errors.js";
import { parseAddress, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { openNetwork } from "./shared/session.js";

export interface CompareBytecodeArgs {
  app?: string | undefined;
}

export interface CompareBytecodeResult {
  app: string;
  trailer: MetadataTrailer | undefined;
  buildInfo: string;
}

/**
 * Rebuilds TimelockedAppAuth from this checkout with the production profile and compares its runtime bytecode, byte
 * for byte and metadata hash included, with the code at `--app`. Exit code 1 when they differ.
 */
export default defineAction(async (args: CompareBytecodeArgs, hre): Promise<CompareBytecodeResult> => {
  const app = parseAddress("app", requireOption("app", args.app, "the address of the deployed TimelockedAppAuth"));
  const session = await openNetwork(hre, undefined, false);
  const onChain = await session.ethers.provider.getCode(app);
  if (onChain === "0x")
    throw new UserError(`no contract at --app ${app} on ${session.where}: check --app and --network`);

  const profile = hre.globalOptions.buildProfile ?? "production";
  console.log(`Rebuilding TimelockedAppAuth from this checkout with the "${profile}" build profile...`);
  await hre.tasks.getTask("build").run({ quiet: true, noTests: true, defaultBuildProfile: "production" });
  const artifact = await hre.artifacts.readArtifact("TimelockedAppAuth");
  const buildInfo = path.relative(
    hre.config.paths.root,
    path.join(hre.config.paths.artifacts, "build-info", `${artifact.buildInfoId ?? "?"}.json`),
  );
  if (Object.keys(artifact.immutableReferences ?? {}).length > 0) {
    throw new Error("TimelockedAppAuth has immutables: their deployed values must be masked before comparing");
  }

  const comparison = compareRuntimeBytecode(artifact.deployedBytecode, onChain);
  console.log(`Code at ${app} on ${session.where}: ${(onChain.length - 2) / 2} bytes`);
  console.log(
    `Built from source (solc standard JSON input in ${buildInfo}): ${(artifact.deployedBytecode.length - 2) / 2} bytes`,
  );
  if (comparison.match) {
    const trailer = comparison.trailer;
    console.log(
      "match: the runtime bytecode is identical, metadata hash included" +
        (trailer?.ipfsCid === undefined ? "" : ` (metadata ipfs://${trailer.ipfsCid}, solc ${trailer.solc ?? "?"})`),
    );
    return { app, trailer, buildInfo };
  }
  if (comparison.reason === "metadata") {
    console.log(
      "differs: the code is the same but the metadata hash is not, so the sources, their names, the settings or " +
        `the compiler differ (built: ipfs://${comparison.expected.trailer?.ipfsCid ?? "none"}, on chain: ` +
        `ipfs://${comparison.actual.trailer?.ipfsCid ?? "none"})`,
    );
  } else {
    console.log(
      "differs: the executable code itself is different: this checkout does not build what is deployed " +
        "(check out the commit of the deployment, and rebuild with the production profile)",
    );
  }
  throw new NegativeAnswer(`the bytecode at ${app} differs from this checkout's build (${comparison.reason})`);
});
