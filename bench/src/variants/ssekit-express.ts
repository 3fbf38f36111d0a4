/**
 * `ssekit-express`: Express 5 with `@ssekit/express`'s `sse()` and a `ChannelRegistry`
 * channel; each event is published once to the channel. When bursting, the publisher waits
 * on the subscribers' `drain()`.
 */
import { createServer } from 'node:http';
import { ChannelRegistry } from '@ssekit/core';
import { sse } from '@ssekit/express';
import express from 'express';
import type { Variant } from '../variant.js';
import { channelFanout } from './ssekit-shared.js';

export function createVariant(): Variant {
  const { subscribe, ...fanout } = channelFanout(new ChannelRegistry().channel('bench'));
  const app = express();
  app.get('/events', sse(), (_req, res) => subscribe(res.sse));
  return { server: createServer(app), ...fanout };
}
