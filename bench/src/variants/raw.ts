/**
 * `raw`: the practical limit of plain `node:http`. Each event is encoded once into a Buffer
 * and the same Buffer is written to every response; a response whose `write` returns false
 * is waited for (`drain`) before the next event, and cut off if it stalls.
 */
import { createServer } from 'node:http';
import type { Variant } from '../variant.js';
import { rawBroadcast } from './raw-shared.js';

export function createVariant(): Variant {
  const { count, open, publish, settle } = rawBroadcast();
  return { server: createServer((_req, res) => open(res)), open: count, publish, settle };
}
