// Many channels over one connection, on every framework: the stream, the subscribe calls, the
// authorization of each channel and the resume of all of them from one Last-Event-ID.
import http from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { CHANNELS_EVENT, ChannelRegistry, CursorKey, channelRules, RELAY_CHANNEL, STREAM_EVENT } from '@ssekit/core';
import { channels as expressChannels } from '@ssekit/express';
import { channels as fastifyChannels } from '@ssekit/fastify';
import { channels as honoChannels } from '@ssekit/hono';
import { channels as koaChannels } from '@ssekit/koa';
import { type EventReader, openEvents } from '@ssekit/testing';
import '@ssekit/testing/vitest';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { type Context, Hono } from 'hono';
import Koa from 'koa';
import koa2 from 'koa2';
import { describe, expect, it } from 'vitest';
import { listenForTest } from '../packages/core/test/helpers.js';

const key = new CursorKey('the many-channels test secret, 32 bytes+');

/**
 * A user may read the lobby, their own inbox and any doc, by channel pattern; `userOf` finds
 * the user (the `x-user` header stands for a session) in the framework's request.
 */
const rules = <Request>(userOf: (request: Request) => string | undefined) =>
  channelRules<Request>({
    lobby: (request) => (userOf(request) ? true : 401),
    'users/:id': (request, { id }) => {
      const user = userOf(request);
      return user ? user === id : 401;
    },
    'docs/:doc': (request) => (userOf(request) ? true : 401),
  });
const userOf = (headers: http.IncomingHttpHeaders) => headers['x-user'] as string | undefined;

type Kind = { name: string; app: (registry: ChannelRegistry) => http.Server | Promise<http.Server> };
const kinds: Kind[] = [
  ...(
    [
      ['Express 5', express],
      ['Express 4', express4 as unknown as typeof express],
    ] as const
  ).map(([name, create]) => ({
    name,
    app: (registry: ChannelRegistry) => {
      const app = create();
      const feed = expressChannels(registry, {
        key,
        heartbeat: false,
        authorize: rules((req) => userOf(req.headers)),
      });
      app.get('/events', feed.events);
      app.post('/events/subscriptions', feed.subscriptions);
      return http.createServer(app);
    },
  })),
  ...(
    [
      ['Koa 3', Koa],
      ['Koa 2', koa2 as unknown as typeof Koa],
    ] as const
  ).map(([name, KoaApp]) => ({
    name,
    app: (registry: ChannelRegistry) => {
      const app = new KoaApp();
      const feed = koaChannels(registry, {
        key,
        heartbeat: false,
        authorize: rules((ctx) => userOf(ctx.headers)),
      });
      app.use((ctx, next) => (ctx.path === '/events' ? feed.events(ctx, next) : feed.subscriptions(ctx, next)));
      return http.createServer(app.callback());
    },
  })),
  {
    name: 'Fastify 5',
    app: async (registry: ChannelRegistry) => {
      const app = Fastify();
      const feed = fastifyChannels(registry, {
        key,
        heartbeat: false,
        authorize: rules((request) => userOf(request.headers)),
      });
      app.get('/events', feed.events);
      app.post('/events/subscriptions', feed.subscriptions);
      await app.ready();
      return app.server;
    },
  },
  {
    name: 'Hono',
    app: (registry: ChannelRegistry) => {
      const feed = honoChannels(registry, {
        key,
        heartbeat: false,
        authorize: rules((c: Context) => c.req.header('x-user')),
      });
      const app = new Hono().get('/events', feed.events).post('/events/subscriptions', feed.subscriptions);
      return createAdaptorServer({ fetch: app.fetch }) as http.Server;
    },
  },
];

/** The opening event's data. */
async function opened(events: EventReader) {
  const first = await events.next();
  expect(first.event).toBe(STREAM_EVENT);
  return JSON.parse(String(first.data)) as { stream: string; channels: string[]; refused: unknown[] };
}
const split = (data: unknown) => {
  const text = String(data);
  return [text.slice(0, text.indexOf('\n')), text.slice(text.indexOf('\n') + 1)];
};

describe.each(kinds)('$name', (kind) => {
  async function start() {
    const registry = new ChannelRegistry();
    const { url } = await listenForTest(await kind.app(registry));
    const call = async (body: unknown, user = 'ada') => {
      const response = await fetch(`${url}/events/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(user && { 'x-user': user }) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const open = (channels: string, headers: Record<string, string> = { 'x-user': 'ada' }) =>
      openEvents(`${url}/events?channels=${channels}`, { headers });
    return { registry, call, open };
  }

  it('opens one stream for the channels asked for, refusing the forbidden ones alone', async () => {
    const { registry, open } = await start();
    const events = await open('lobby,users/ada,users/bob');
    expect(events).toHaveSseHeaders();
    expect(await opened(events)).toEqual({
      stream: expect.any(String),
      channels: ['lobby', 'users/ada'],
      refused: [{ channel: 'users/bob', status: 403 }],
    });
    await registry.channel('users/bob').publish('for bob');
    await registry.channel('users/ada').publish('for ada');
    expect(split((await events.next()).data)).toEqual(['users/ada', 'for ada']);
  });

  it('subscribes and unsubscribes an open stream by its id, authorized by the call, within bounds', async () => {
    const { registry, call, open } = await start();
    const events = await open('lobby');
    const { stream } = await opened(events);
    const answer = await call({ stream, subscribe: ['docs/readme', 'users/bob'], unsubscribe: ['lobby'] });
    expect(answer).toEqual({
      status: 200,
      body: {
        subscribed: ['docs/readme'],
        unsubscribed: ['lobby'],
        refused: [{ channel: 'users/bob', status: 403 }],
        cursor: expect.any(String),
      },
    });
    // Each change sends the channels followed, with the cursor that resumes them as its id.
    expect((await events.take(2)).map(({ event, data }) => [event, JSON.parse(String(data))])).toEqual([
      [CHANNELS_EVENT, { channels: ['lobby', 'docs/readme'] }],
      [CHANNELS_EVENT, { channels: ['docs/readme'] }],
    ]);
    await registry.channel('lobby').publish('gone');
    await registry.channel('users/bob').publish('not yours');
    await registry.channel('docs/readme').publish('edited');
    expect(split((await events.next()).data)).toEqual(['docs/readme', 'edited']);
    // Not signed in: every channel refused with 401; the stream keeps what it has.
    expect((await call({ stream, subscribe: ['lobby'] }, '')).body.refused).toEqual([
      { channel: 'lobby', status: 401 },
    ]);
    // The relay's channel, whose messages name other users' streams, is no channel to follow.
    expect((await call({ stream, subscribe: [RELAY_CHANNEL] })).body.refused).toEqual([
      { channel: RELAY_CHANNEL, status: 400 },
    ]);
    expect((await call({ stream: 'no-such-stream', subscribe: ['lobby'] })).status).toBe(404);
    const tooMany = Array.from({ length: 33 }, (_, i) => `docs/${i}`);
    for (const bad of [
      {},
      { stream, subscribe: 'lobby' },
      { stream, subscribe: [1] },
      { stream, subscribe: tooMany },
    ]) {
      expect((await call(bad)).status).toBe(400);
    }
    expect((await call('{not json')).status).toBe(400);
    expect((await call({ stream, subscribe: [`docs/${'x'.repeat(20_000)}`] })).status).toBe(400); // over 16 KiB
  });

  it('resumes every channel after a reconnect, the added ones too, and never one the user may not read', async () => {
    const { registry, call, open } = await start();
    const events = await open('lobby');
    const { stream } = await opened(events);
    await call({ stream, subscribe: ['docs/a', 'users/ada'] });
    await registry.channel('lobby').publish('seen');
    await events.take(3); // the two changes, and `seen`
    events.close();
    await registry.channel('docs/a').publish('missed doc');
    await registry.channel('lobby').publish('missed lobby');
    const back = await events.reconnect();
    expect((await opened(back)).channels).toEqual(['lobby', 'docs/a', 'users/ada']);
    expect((await back.take(2)).map(({ data }) => split(data)).sort()).toEqual([
      ['docs/a', 'missed doc'],
      ['lobby', 'missed lobby'],
    ]);
    // Eve with ada's cursor gets back only what eve may read: no replay or live event of ada's inbox.
    await registry.channel('users/ada').publish('private, missed');
    const stolen = await open('', { 'x-user': 'eve', 'Last-Event-ID': back.lastEventId ?? '' });
    expect(await opened(stolen)).toMatchObject({
      channels: ['lobby', 'docs/a'],
      refused: [{ channel: 'users/ada', status: 403 }],
    });
    await registry.channel('users/ada').publish('private, live');
    await registry.channel('lobby').publish('for all');
    expect(split((await stolen.next()).data)).toEqual(['lobby', 'for all']);
  });
});
