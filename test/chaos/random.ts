// Seeded randomness for the chaos run. Every decision draws from a generator derived from the
// run's seed and a name that does not depend on timing (a client's id and attempt, a Redis
// connection's number), so a seed replays the same fault plans even though the interleaving
// of a live run differs.

/** A generator of floats in [0, 1), with helpers. */
export interface Random {
  (): number;
  /** A whole number in [min, max]. */
  int(min: number, max: number): number;
  /** A float in [min, max). */
  between(min: number, max: number): number;
  /** An exponentially distributed delay with this mean (clamped to 10× the mean). */
  exponential(mean: number): number;
  pick<T>(items: readonly T[]): T;
  /** An item, chosen with probability proportional to its weight. */
  weighted<T extends string>(weights: Readonly<Record<T, number>>): T;
}

/** FNV-1a over the text: a 32-bit seed for a named stream. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A generator for `seed` and `name` (mulberry32: small, fast and good enough for test plans). */
export function createRandom(seed: number, name = ''): Random {
  let state = (hash(`${seed}/${name}`) ^ seed) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const random = next as Random;
  random.int = (min, max) => min + Math.floor(next() * (max - min + 1));
  random.between = (min, max) => min + next() * (max - min);
  random.exponential = (mean) => Math.min(-Math.log(1 - next()) * mean, mean * 10);
  random.pick = (items) => items[Math.floor(next() * items.length)] as (typeof items)[number];
  random.weighted = <T extends string>(weights: Readonly<Record<T, number>>): T => {
    const entries = Object.entries(weights) as [T, number][];
    let left = next() * entries.reduce((sum, [, weight]) => sum + weight, 0);
    for (const [item, weight] of entries) {
      left -= weight;
      if (left < 0) return item;
    }
    return (entries[entries.length - 1] as [T, number])[0];
  };
  return random;
}

/** A seed from `CHAOS_SEED`, or a fresh one. */
export function chooseSeed(fromEnv = process.env.CHAOS_SEED): number {
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`CHAOS_SEED must be a whole number, got "${fromEnv}"`);
    return seed >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}
