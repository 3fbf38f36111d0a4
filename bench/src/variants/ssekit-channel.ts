/**
 * `ssekit-channel`: `createStream` from `@ssekit/core/node` subscribed to a `ChannelRegistry`
 * channel, as an app without a framework serves a channel; each event is published once to
 * the channel. When bursting, the publisher waits on the subscribers' `drain()`.
 */
import { createServer } from 'node:http';
import { ChannelRegistry } from '@ssekit/core';
import { createStream } from '@ssekit/core/node';
import type { Variant } from '../variant.js';
import { channelFanout } from './ssekit-shared.js';

export function createVariant(): Variant {
  const { subscribe, ...fanout } = channelFanout(new ChannelRegistry().channel('bench'));
  return { server: createServer((req, res) => subscribe(createStream(req, res))), ...fanout };
}
