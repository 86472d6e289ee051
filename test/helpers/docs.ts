/**
 * The shell examples of the README and docs/, and how each is tested. Every ```sh block must be preceded by an
 * HTML comment that says so, which renders as nothing:
 *
 *   <!-- docs-test: shell [chain=base] [tty] [setup=<name>] [exit=<code>] [stderr=<regex>] -->
 *       run as written, in bash, in a scratch copy of the repository (test/docs/commands.test.ts). `chain=base`: with
 *       BASE_RPC_URL pointing at a local node with Base's chain id and type, and the variables of the Base scenario
 *       set (lines that assign one of them are the reader's placeholders and are skipped). `setup`: a step the test
 *       takes first (e.g. what the prose asks the reader to do by hand). `exit`/`stderr`: the block's one command is
 *       expected to fail so, because it needs what this machine cannot reach. `tty`: each command runs on a terminal
 *       and the test types what it prompts for (the keystore's password, the secret named on the command line).
 *   <!-- docs-test: elsewhere <file> [<file>…] -->
 *       run by those files: each must name every task and option of each `npx hardhat` command of the block, or
 *       contain the command verbatim when it is not a Hardhat task.
 *
 * A command whose comment says "runs until stopped" is started in the background; it must print a line and still
 * run when the block's later commands (and the file's later blocks) run, and is stopped when the file is done.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

import { lexer, walkTokens, type Token, type Tokens } from "marked";

export type Annotation =
  | {
      kind: "shell";
      chain: "base" | undefined;
      /** Each command runs on a terminal and the test answers its prompts (the keystore's password and secrets). */
      tty: boolean;
      setup: string | undefined;
      exit: number;
      stderr: RegExp | undefined;
    }
  | { kind: "elsewhere"; files: string[] };

export interface DocBlock {
  /** Path relative to the repository root. */
  file: string;
  /** Line of the opening fence, 1-based. */
  line: number;
  annotation: Annotation | undefined;
  /** Problems with the annotation itself. */
  annotationError: string | undefined;
  commands: DocCommand[];
}

export interface DocCommand {
  /** The command as written, continuation lines joined, without its trailing comment. */
  text: string;
  /** Its trailing comment, if any. */
  comment: string;
  longRunning: boolean;
}

const ANNOTATION = /^<!--\s*docs-test:\s*(.*?)\s*-->\s*$/s;

/** Every ```sh block of `file`, in order, with the annotation right before it. */
export async function readDocBlocks(root: string, file: string): Promise<DocBlock[]> {
  const markdown = await readFile(path.join(root, file), "utf8");
  const blocks: DocBlock[] = [];
  let searchFrom = 0;
  const visit = (tokens: Token[]) => {
    let previous: Token | undefined;
    for (const token of tokens) {
      if (token.type === "code" && (token as Tokens.Code).lang === "sh") {
        const at = markdown.indexOf(token.raw.split("\n")[0]!, searchFrom);
        searchFrom = at + 1;
        const line = markdown.slice(0, at).split("\n").length;
        const comment = previous?.type === "html" ? ANNOTATION.exec(previous.raw.trim()) : null;
        const { annotation, error } =
          comment === null ? { annotation: undefined, error: undefined } : parseAnnotation(comment[1]!);
        blocks.push({
          file,
          line,
          annotation,
          annotationError: error,
          commands: splitCommands((token as Tokens.Code).text),
        });
      }
      const nested = (token as { tokens?: Token[] }).tokens ?? (token as { items?: Token[] }).items;
      if (nested !== undefined) visit(nested);
      if (token.type !== "space") previous = token;
    }
  };
  visit(lexer(markdown));
  return blocks;
}

function parseAnnotation(text: string): { annotation: Annotation | undefined; error: string | undefined } {
  const [kind, ...rest] = text.match(/\S+="[^"]*"|\S+/g) ?? [];
  if (kind === "elsewhere") {
    if (rest.length === 0) return { annotation: undefined, error: "elsewhere names no file" };
    return { annotation: { kind, files: rest }, error: undefined };
  }
  if (kind !== "shell") return { annotation: undefined, error: `unknown kind "${kind ?? ""}"` };
  const options = new Map<string, string>();
  const tty = rest.includes("tty");
  for (const word of rest.filter((word) => word !== "tty")) {
    const match = /^([a-z]+)=(?:"([^"]*)"|(\S+))$/.exec(word);
    if (match === null) return { annotation: undefined, error: `"${word}" is not key=value` };
    options.set(match[1]!, match[2] ?? match[3]!);
  }
  const unknown = [...options.keys()].filter((key) => !["chain", "setup", "exit", "stderr"].includes(key));
  if (unknown.length > 0) return { annotation: undefined, error: `unknown option ${unknown.join(", ")}` };
  const chain = options.get("chain");
  if (chain !== undefined && chain !== "base") return { annotation: undefined, error: `unknown chain "${chain}"` };
  const stderr = options.get("stderr");
  return {
    annotation: {
      kind,
      chain,
      tty,
      setup: options.get("setup"),
      exit: Number(options.get("exit") ?? "0"),
      stderr: stderr === undefined ? undefined : new RegExp(stderr),
    },
    error: undefined,
  };
}

/** The commands of a block: `\` continuations joined, blank and comment-only lines dropped. */
export function splitCommands(text: string): DocCommand[] {
  const commands: DocCommand[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\s+$/, "");
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1).trimEnd()} `;
      continue;
    }
    const whole = (pending + line.trim()).trim();
    pending = "";
    if (whole === "" || whole.startsWith("#")) continue;
    const { command, comment } = splitComment(whole);
    commands.push({ text: command, comment, longRunning: /runs until stopped/.test(comment) });
  }
  return commands;
}

/** Splits off a trailing `# comment` that is outside quotes. */
function splitComment(line: string): { command: string; comment: string } {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) {
      return { command: line.slice(0, i).trimEnd(), comment: line.slice(i + 1).trim() };
    }
  }
  return { command: line, comment: "" };
}

/** `NAME=value` or `export NAME=value`: the variable's name, else undefined. */
export function assignedVariable(command: string): string | undefined {
  return /^(?:export\s+)?([A-Z_][A-Z0-9_]*)=\S*$/.exec(command)?.[1];
}

/** The task and option names of an `npx hardhat` / `./dev hardhat` command, or undefined for another command. */
export function hardhatTask(words: string[]): { task: string[]; options: string[] } | undefined {
  const start =
    words[0] === "npx" && words[1] === "hardhat" ? 2 : words[0] === "./dev" && words[1] === "hardhat" ? 2 : -1;
  if (start === -1) return undefined;
  const task: string[] = [];
  const options: string[] = [];
  let inTaskName = true; // the task's words (`ignition deploy`) come first, before any option or value
  for (const word of words.slice(start)) {
    if (word.startsWith("--")) options.push(word.slice(2).split("=")[0]!);
    if (inTaskName && /^[a-z][a-z0-9-]*$/.test(word)) task.push(word);
    else inTaskName = false;
  }
  return { task, options };
}

/** `from-block` → `fromBlock`, as Hardhat names an option's argument. */
export const camelCase = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Inline code in the prose that is a command (`npx hardhat …`, `./dev …`): it must match a tested block. */
export async function readInlineCommands(root: string, file: string): Promise<string[]> {
  const found: string[] = [];
  walkTokens(lexer(await readFile(path.join(root, file), "utf8")), (token) => {
    if (token.type !== "codespan") return;
    const text = unescapeHtml((token as Tokens.Codespan).text);
    if (/^(npx hardhat|\.\/dev) /.test(text)) found.push(text);
  });
  return found;
}

/** The targets of the relative links of `file` (no scheme, no pure #anchor), anchors dropped. */
export async function readRelativeLinks(root: string, file: string): Promise<string[]> {
  const found: string[] = [];
  walkTokens(lexer(await readFile(path.join(root, file), "utf8")), (token) => {
    const href = token.type === "link" ? (token as Tokens.Link).href : undefined;
    if (href !== undefined && !/^[a-z]+:|^#/.test(href)) found.push(href.split("#")[0]!);
  });
  return found;
}

/** marked escapes code spans for HTML; the commands are wanted as written. */
function unescapeHtml(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}
