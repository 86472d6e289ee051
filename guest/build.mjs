// Bundles the agent (guest/src/main.ts and the parts of lib/ it imports, with its npm dependencies) into one ES
// module file that runs on Node 24 with nothing else installed. The same inputs give the same bytes: esbuild is
// pinned, no timestamps or absolute paths end up in the output, and the TypeScript settings are fixed here rather
// than read from whatever tsconfig.json is around. Used by the Dockerfile, the tests and the demo.
//
//   node guest/build.mjs [outfile]      default: guest/dist/agent.mjs; prints the file's sha256
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Builds the bundle at `outfile`; returns its sha256 (hex). */
export async function buildAgent(outfile = path.join(ROOT, "guest/dist/agent.mjs")) {
  await build({
    absWorkingDir: ROOT,
    entryPoints: ["guest/src/main.ts"],
    outfile,
    bundle: true,
    platform: "node",
    target: "node22",
    format: "esm",
    // CommonJS dependencies (pino) call require(); give the ES module bundle one.
    banner: {
      js: "import { createRequire as __agentCreateRequire } from 'node:module'; const require = __agentCreateRequire(import.meta.url);",
    },
    // debug (under @ethereumjs/mpt) tries require("supports-color") and carries on without it. The repository's
    // node_modules has it (for the tools), the image's does not: left out of both, the bundle is the same bytes.
    external: ["supports-color"],
    tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true, target: "es2023" } },
    legalComments: "eof",
    sourcemap: false,
    minify: false,
    logLevel: "warning",
  });
  return createHash("sha256")
    .update(await readFile(outfile))
    .digest("hex");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outfile = path.resolve(process.argv[2] ?? path.join(ROOT, "guest/dist/agent.mjs"));
  const sha256 = await buildAgent(outfile);
  console.log(`${outfile}\nsha256 ${sha256}`);
}
