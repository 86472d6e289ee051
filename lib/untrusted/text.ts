/**
 * Showing text that came from the chain. Anyone who can put a string on chain (a node's `tcbStatus`, an owner's
 * compose URI) chooses every byte of it, so before it reaches a terminal, a log line or a page it is escaped and
 * capped here: control characters and terminal escapes (ESC, C1 controls such as CSI), bidirectional overrides and
 * other invisible format characters become visible escapes, and a 100 kB string becomes its first characters and a
 * count. Only strings: browser-safe, no imports.
 */

/** Most characters of one chain string shown in a line of text. */
export const MAX_SHOWN_CHARS = 200;
/** Most characters of one chain string kept in JSON output (`watch --json`, webhooks). */
export const MAX_JSON_CHARS = 2048;
/** Most items of one chain array kept in JSON output. */
export const MAX_JSON_ITEMS = 64;

/**
 * Control characters (C0, DEL, C1), format characters (bidirectional overrides and isolates, zero-width characters,
 * the BOM), line and paragraph separators, and lone surrogates: everything that can move the cursor, change a
 * terminal's state or reorder what a reader sees.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
/** What {@link UNSAFE} matches that `JSON.stringify` leaves as it is (it escapes C0 controls and lone surrogates). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeCodePoint(char: string): string {
  const named = NAMED[char];
  if (named !== undefined) return named;
  const code = char.codePointAt(0) ?? 0;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
}

/**
 * `text` as it may be shown: unsafe characters escaped (`\x1b`, `\u{202e}`, `\n`), and cut after `max` characters
 * with a note of how many more there were ("… (+99800 more characters)").
 */
export function shown(text: string, max = MAX_SHOWN_CHARS): string {
  const chars = Array.from(text);
  const kept = chars.length > max ? chars.slice(0, max).join("") : text;
  const escaped = kept.replace(UNSAFE, escapeCodePoint);
  return chars.length > max ? `${escaped}… (+${chars.length - max} more characters)` : escaped;
}

/** `text` shown between double quotes, so that leading or trailing spaces, or an empty string, are visible. */
export function quoted(text: string, max = MAX_SHOWN_CHARS): string {
  return `"${shown(text, max)}"`;
}

/** Items of a chain array shown each with {@link shown}, the first `maxItems` of them and a count of the rest. */
export function shownList(items: readonly string[], maxItems = 20, maxChars = 64): string {
  const kept = items.slice(0, maxItems).map((item) => shown(item, maxChars));
  return items.length > maxItems ? `${kept.join(", ")}, … (+${items.length - maxItems} more)` : kept.join(", ");
}

/**
 * Caps what JSON output carries of chain data: strings longer than {@link MAX_JSON_CHARS} are cut with a note, arrays
 * longer than {@link MAX_JSON_ITEMS} keep their first items and a note. Other values are copied as they are.
 */
export function capped(value: unknown, limits = { chars: MAX_JSON_CHARS, items: MAX_JSON_ITEMS }): unknown {
  if (typeof value === "string") {
    const chars = Array.from(value);
    return chars.length > limits.chars
      ? `${chars.slice(0, limits.chars).join("")}… (+${chars.length - limits.chars} more characters)`
      : value;
  }
  if (Array.isArray(value)) {
    const kept = value.slice(0, limits.items).map((item) => capped(item, limits));
    return value.length > limits.items ? [...kept, `… (+${value.length - limits.items} more items)`] : kept;
  }
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, capped(item, limits)]));
  }
  return value;
}

/**
 * `JSON.stringify`, with every character a terminal could act on escaped as `\uXXXX`: JSON.stringify escapes C0
 * controls already, but not DEL, the C1 controls (U+009B is CSI, like ESC [) nor bidirectional overrides. The result
 * parses to the same value.
 */
export function safeJson(value: unknown, space?: number): string {
  const text = JSON.stringify(
    value,
    (_key, item: unknown) => (typeof item === "bigint" ? item.toString() : item),
    space,
  );
  return text.replace(UNSAFE_IN_JSON, (char) =>
    Array.from({ length: char.length }, (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`).join(""),
  );
}
