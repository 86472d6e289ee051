/**
 * Whether a release that `docker compose up` started is healthy: a command that must exit 0, or a URL that must
 * answer 2xx, tried every second until the timeout. Without either, a successful `up` counts as healthy.
 */
import { runCommand } from "./docker.js";

export type HealthCheck =
  | { kind: "none" }
  | { kind: "command"; argv: string[]; timeoutMs: number }
  | { kind: "url"; url: string; timeoutMs: number };

const RETRY_EVERY_MS = 1_000;

/** Resolves when healthy; rejects with the last failure once the timeout has passed. */
export async function waitHealthy(check: HealthCheck): Promise<void> {
  if (check.kind === "none") return;
  const deadline = Date.now() + check.timeoutMs;
  let lastFailure = "not checked yet";
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      if (check.kind === "command") {
        const [file, ...args] = check.argv;
        await runCommand(file!, args, remaining);
      } else {
        const response = await fetch(check.url, { signal: AbortSignal.timeout(Math.min(remaining, 10_000)) });
        await response.body?.cancel();
        if (!response.ok) throw new Error(`${check.url} answered HTTP ${response.status}`);
      }
      return;
    } catch (error) {
      lastFailure = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_EVERY_MS, Math.max(0, deadline - Date.now()))));
  }
  throw new Error(`not healthy within ${check.timeoutMs} ms: ${lastFailure}`);
}
