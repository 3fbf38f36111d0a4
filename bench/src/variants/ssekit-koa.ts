/**
 * `ssekit-koa`: Koa 3 with `@ssekit/koa`'s `sse()` middleware and a `ChannelRegistry`
 * channel; each event is published once to the channel. When bursting, the publisher waits
 * on the subscribers' `drain()`.
 */
import { createServer } from 'node:http';
import { ChannelRegistry } from '@ssekit/core';
import { sse } from '@ssekit/koa';
import Koa from 'koa';
import type { Variant } from '../variant.js';
import { channelFanout } from './ssekit-shared.js';

export function createVariant(): Variant {
  const { subscribe, ...fanout } = channelFanout(new ChannelRegistry().channel('bench'));
  const open = sse();
  const app = new Koa();
  app.use((ctx, next) => (ctx.path === '/events' ? open(ctx, async () => subscribe(ctx.sse)) : next()));
  return { server: createServer(app.callback()), ...fanout };
}
