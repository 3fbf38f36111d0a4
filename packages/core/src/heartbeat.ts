import { TIMERS_PER_REQUEST, WORKERD_MAX_SILENCE_MS } from './runtime.js';

/** How a stream checks for silence. */
export interface HeartbeatPlan {
  /** Milliseconds between checks; a check that finds no write since the last sends a heartbeat. */
  checkEvery: number;
  /** Checks in a row without progress after which a client that stopped reading is cut off. */
  cutOffAfterChecks: number;
}

/**
 * Checks run twice per heartbeat period, so that no silence lasts longer than the period,
 * and a client that takes nothing for four periods is cut off. On workerd the period is
 * capped for every stream, even one without heartbeats (see `runtime.ts`).
 *
 * @returns undefined when the stream needs no checks at all.
 */
export function planHeartbeat(heartbeat: number | false): HeartbeatPlan | undefined {
  const stallMs = heartbeat === false ? Number.POSITIVE_INFINITY : heartbeat * 4;
  const period = TIMERS_PER_REQUEST
    ? Math.min(heartbeat === false ? WORKERD_MAX_SILENCE_MS : heartbeat, WORKERD_MAX_SILENCE_MS)
    : heartbeat;
  if (period === false) return undefined;
  return { checkEvery: period / 2, cutOffAfterChecks: stallMs / (period / 2) };
}

/** One interval per heartbeat period checks every stream that has that period. */
const sharedChecks = new Map<number, { timer: ReturnType<typeof setInterval>; checks: Set<() => void> }>();
/**
 * Where timers cannot be shared: one per stream, keyed by the stream's check. Weak, so that
 * a stream whose request the runtime dropped without telling it is not kept alive here.
 */
const ownTimers = new WeakMap<() => void, ReturnType<typeof setInterval>>();

/**
 * Runs `check` every `intervalMs` until {@link stopHeartbeatChecks}. A timer per stream costs
 * memory and timer-list work at 10k streams, so streams share one timer per period, except
 * where a timer belongs to one request (workerd).
 */
export function startHeartbeatChecks(intervalMs: number, check: () => void): void {
  if (TIMERS_PER_REQUEST) {
    ownTimers.set(check, setInterval(check, intervalMs));
    return;
  }
  let shared = sharedChecks.get(intervalMs);
  if (!shared) {
    const checks = new Set<() => void>();
    const timer = setInterval(() => checks.forEach(runCheck), intervalMs);
    // A stream's connection keeps the process alive while it lasts; its checks need not.
    (timer as { unref?: () => void }).unref?.();
    shared = { timer, checks };
    sharedChecks.set(intervalMs, shared);
  }
  shared.checks.add(check);
}

function runCheck(check: () => void): void {
  check();
}

/** Stops what {@link startHeartbeatChecks} started with the same arguments; harmless twice. */
export function stopHeartbeatChecks(intervalMs: number, check: () => void): void {
  if (TIMERS_PER_REQUEST) {
    clearInterval(ownTimers.get(check));
    ownTimers.delete(check);
    return;
  }
  const shared = sharedChecks.get(intervalMs);
  if (!shared?.checks.delete(check) || shared.checks.size > 0) return;
  clearInterval(shared.timer);
  sharedChecks.delete(intervalMs);
}
