/** Human-readable times for people deciding whether to act (or leave) before a proposal lands. */

type Seconds = bigint | number;

const MINUTE = 60n;
const HOUR = 60n * MINUTE;
const DAY = 24n * HOUR;

function toBigInt(seconds: Seconds): bigint {
  return typeof seconds === "bigint" ? seconds : BigInt(Math.trunc(seconds));
}

/**
 * Formats a duration as days, hours and minutes ("6d 23h 59m", "3h 12m", "59m"); under a minute, as seconds
 * ("42s"). Rounds down, so a countdown never promises a moment that has not come yet.
 */
export function formatDuration(seconds: Seconds): string {
  let rest = toBigInt(seconds);
  if (rest < 0n) rest = -rest;
  if (rest < MINUTE) return `${rest}s`;
  const days = rest / DAY;
  const hours = (rest % DAY) / HOUR;
  const minutes = (rest % HOUR) / MINUTE;
  if (days > 0n) return `${days}d ${hours}h ${minutes}m`;
  if (hours > 0n) return `${hours}h ${minutes}m`;
  return `${minutes}m`;
}

/** Formats a unix timestamp (seconds) as an ISO 8601 UTC date without milliseconds. */
export function formatDate(unixSeconds: Seconds): string {
  return new Date(Number(toBigInt(unixSeconds)) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Formats a timestamp relative to now: "in 3h 12m", "2d 0h 5m ago" or "now". */
export function formatRelative(unixSeconds: Seconds, now: Seconds): string {
  const delta = toBigInt(unixSeconds) - toBigInt(now);
  if (delta === 0n) return "now";
  return delta > 0n ? `in ${formatDuration(delta)}` : `${formatDuration(delta)} ago`;
}

/** Formats a timestamp as a date with its distance from now: "2026-11-28T12:00:00Z (in 6d 23h 59m)". */
export function formatDateWithRelative(unixSeconds: Seconds, now: Seconds): string {
  return `${formatDate(unixSeconds)} (${formatRelative(unixSeconds, now)})`;
}

/**
 * Where a proposal with this window stands at `now`: "ready in 3h 12m", "ready since 1h 0m (expires in 13d 23h
 * 0m)" or "expired 2d 0h 0m ago". A proposal is ready in `[readyAt, expiresAt)`.
 */
export function formatCountdown(readyAt: Seconds, expiresAt: Seconds, now: Seconds): string {
  const ready = toBigInt(readyAt);
  const expires = toBigInt(expiresAt);
  const current = toBigInt(now);
  if (current < ready) return `ready in ${formatDuration(ready - current)}`;
  if (current < expires) {
    return `ready since ${formatDuration(current - ready)} (expires in ${formatDuration(expires - current)})`;
  }
  return `expired ${formatDuration(current - expires)} ago`;
}

/** Formats a notice period: "7d 0h 0m (604800 s)". */
export function formatNotice(seconds: Seconds): string {
  return `${formatDuration(seconds)} (${toBigInt(seconds)} s)`;
}

/** Shortens a long hex value for tables: "0x50a3…e5a5". Values that are short already are returned as they are. */
export function shortHex(hex: string, head = 4, tail = 4): string {
  return hex.length <= 2 + head + tail + 1 ? hex : `${hex.slice(0, 2 + head)}…${hex.slice(-tail)}`;
}

/** A plain-text table: a header row, then the rows, each column padded to its widest cell and indented by two. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `  ${cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ")}`.trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** A countdown clock to the second, for live displays: "6d 23:59:58", "03:12:05". Negative values count up. */
export function formatClock(seconds: Seconds): string {
  let rest = toBigInt(seconds);
  if (rest < 0n) rest = -rest;
  const days = rest / DAY;
  const pad = (n: bigint) => n.toString().padStart(2, "0");
  const clock = `${pad((rest % DAY) / HOUR)}:${pad((rest % HOUR) / MINUTE)}:${pad(rest % MINUTE)}`;
  return days > 0n ? `${days}d ${clock}` : clock;
}
