/**
 * `express-raw`: Express 5 with the `raw` loop in its route, and no ssekit: what Express
 * itself costs per stream and per event, to read `ssekit-express` against.
 */
import { createServer } from 'node:http';
import express from 'express';
import type { Variant } from '../variant.js';
import { rawBroadcast } from './raw-shared.js';

export function createVariant(): Variant {
  const { count, open, publish, settle } = rawBroadcast();
  const app = express();
  app.get('/events', (_req, res) => open(res));
  return { server: createServer(app), open: count, publish, settle };
}
