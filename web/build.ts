/**
 * Builds the status page: web/src/main.ts bundled for browsers by esbuild (with ethers, yaml and the shared lib/),
 * next to index.html and style.css. In memory for `npx hardhat status-page`, or written to web/dist by
 * `npm run build:web` for any static host. The bundle is built for the browser platform, so a node: import creeping
 * into the shared library fails the build (and the tests) instead of the page.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

export const WEB_DIR = path.dirname(fileURLToPath(import.meta.url));
export const DIST_DIR = path.join(WEB_DIR, "dist");

/** The page's files, by URL path ("/index.html", "/app.js", "/style.css"). */
export type StaticFiles = Map<string, Uint8Array>;

export async function buildStatusPage(): Promise<StaticFiles> {
  const result = await build({
    entryPoints: [path.join(WEB_DIR, "src", "main.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    write: false,
    outfile: "app.js",
    logLevel: "silent",
  });
  const bundle = result.outputFiles[0];
  if (bundle === undefined) throw new Error("esbuild produced no output");
  return new Map<string, Uint8Array>([
    ["/index.html", await readFile(path.join(WEB_DIR, "index.html"))],
    ["/style.css", await readFile(path.join(WEB_DIR, "style.css"))],
    ["/app.js", bundle.contents],
  ]);
}

/** Writes the page to `outDir` (default web/dist) and returns the files written. */
export async function writeStatusPage(outDir = DIST_DIR): Promise<string[]> {
  const files = await buildStatusPage();
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  for (const [name, contents] of files) {
    const file = path.join(outDir, name.slice(1));
    await writeFile(file, contents);
    written.push(file);
  }
  return written;
}
