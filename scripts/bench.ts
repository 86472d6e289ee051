// `npm run bench [-- --json] [-- --skip-suite]`: runs scripts/bench/main.ts on the production build. `hardhat run`
// passes no arguments to a script, so they travel in BENCH_ARGS. Plain Node (no imports of the project), so that it
// runs without Hardhat's TypeScript loader.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const pkgPath = require.resolve("hardhat/package.json");
const { bin } = require(pkgPath) as { bin: Record<string, string> };
const cli = path.join(path.dirname(pkgPath), bin["hardhat"] ?? "dist/src/cli.js");

const { status, error } = spawnSync(
  process.execPath,
  [cli, "run", "--build-profile", "production", "scripts/bench/main.ts"],
  { stdio: "inherit", env: { ...process.env, BENCH_ARGS: JSON.stringify(process.argv.slice(2)) } },
);
if (error !== undefined) throw error;
process.exit(status ?? 1);
