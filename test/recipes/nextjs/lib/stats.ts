// How many event streams this process serves, and when the last one's handler finished: what
// the test reads at /api/stats to see that a client that left ends the handler's work. On
// globalThis for the same reason as the registry (lib/registry.ts): one count per process.
export interface StreamStats {
  /** Handlers running now. */
  open: number;
  /** Handlers started since the server started. */
  opened: number;
  /** When the last handler finished (ms since the epoch), or null before any did. */
  lastEndedAt: number | null;
}

const KEY: unique symbol = Symbol.for('ssekit.recipe-nextjs.stats');
const store = globalThis as typeof globalThis & { [KEY]?: StreamStats };

export const stats: StreamStats = store[KEY] ?? { open: 0, opened: 0, lastEndedAt: null };
store[KEY] = stats;
