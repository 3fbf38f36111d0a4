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

/**
 * One interval per heartbeat period checks every stream that has that period, by one function
 * for all of them: a closure per stream would cost memory at 10k streams.
 */
const sharedChecks = new Map<number, { timer: ReturnType<typeof setInterval>; targets: Set<object> }>();
/**
 * Where timers cannot be shared: one per stream, keyed by the stream. Weak, so that a stream
 * whose request the runtime dropped without telling it is not kept alive here.
 */
const ownTimers = new WeakMap<object, ReturnType<typeof setInterval>>();

/**
 * Runs `check(target)` every `intervalMs` until {@link stopHeartbeatChecks}. A timer per stream
 * costs memory and timer-list work at 10k streams, so streams share one timer per period,
 * except where a timer belongs to one request (workerd). Every target of a period is checked
 * by the same `check` (there is one kind of target: the stream).
 */
export function startHeartbeatChecks<T extends object>(
  intervalMs: number,
  target: T,
  check: (target: T) => void,
): void {
  if (TIMERS_PER_REQUEST) {
    ownTimers.set(target, setInterval(check, intervalMs, target));
    return;
  }
  let shared = sharedChecks.get(intervalMs);
  if (!shared) {
    const targets = new Set<object>();
    const timer = setInterval(() => targets.forEach(check as (target: object) => void), intervalMs);
    // A stream's connection keeps the process alive while it lasts; its checks need not.
    (timer as { unref?: () => void }).unref?.();
    shared = { timer, targets };
    sharedChecks.set(intervalMs, shared);
  }
  shared.targets.add(target);
}

/** Stops what {@link startHeartbeatChecks} started for `target` and `intervalMs`; harmless twice. */
export function stopHeartbeatChecks(intervalMs: number, target: object): void {
  if (TIMERS_PER_REQUEST) {
    clearInterval(ownTimers.get(target));
    ownTimers.delete(target);
    return;
  }
  const shared = sharedChecks.get(intervalMs);
  if (!shared?.targets.delete(target) || shared.targets.size > 0) return;
  clearInterval(shared.timer);
  sharedChecks.delete(intervalMs);
}
