import { TIMERS_PER_REQUEST } from './runtime.js';

// Tells bursts from slow clients. A "turn" ends when the event loop goes on to other tasks,
// I/O among them: the frames a stream receives within one turn are one burst, which its
// client has had no chance to take yet, however fast it reads.

let turn = 0;
let advancing = false;

// setImmediate runs after the I/O that was waiting (Node, Bun); elsewhere a zero timeout.
const afterIo: (callback: () => void) => unknown =
  typeof setImmediate === 'function' ? setImmediate : (callback) => setTimeout(callback, 0);

function advance(): void {
  advancing = false;
  turn++;
}

/**
 * Marks the start of a burst, for {@link inBurst}. Where timers are shared, one counter,
 * advanced once per turn, serves every stream. On workerd a timer belongs to the request
 * that set it and may never fire once that request is gone, so each burst has a zero timeout
 * of its own, in its stream's request, which calls `end`.
 */
export function startBurst(end: () => void): number {
  if (TIMERS_PER_REQUEST) {
    setTimeout(end, 0);
    return 0;
  }
  if (!advancing) {
    advancing = true;
    afterIo(advance);
  }
  return turn;
}

/** Whether the burst that {@link startBurst} marked (-1: none) is still in its turn. */
export function inBurst(mark: number): boolean {
  return mark >= 0 && (TIMERS_PER_REQUEST || mark === turn);
}
