// The Elysia recipe of docs/recipes/elysia.md, run with `bun app.ts`: Elysia hands each
// handler the Web Request (`{ request }`) and sends a Response that a handler returns as it
// is, so ssekit's `createResponse` answers there with no adapter.
import { ChannelRegistry, createChannelRoute, createResponse } from '@ssekit/core';
import { Elysia } from 'elysia';

const registry = new ChannelRegistry();

/** Streams open now, and how many have ended: what `GET /stats` shows. */
const stats = { open: 0, ended: 0 };

/** What `GET /events` sends, before it stays open until the client leaves. */
const SCRIPT = [
  { event: 'greeting', id: '1', data: 'hello' },
  { event: 'tick', id: '2', data: { n: 2 } },
  { event: 'done', id: '3', data: 'line one\nline two' },
];

// Elysia decodes path parameters itself: the room is the channel's name as it is.
const roomOf = (room: string) => `room:${room}`;
const roomRoute = createChannelRoute(registry, roomOf);

const app = new Elysia()
  .get('/events', ({ request }) =>
    createResponse(
      request,
      (stream) => {
        stats.open++;
        stream.signal.addEventListener('abort', () => {
          stats.open--;
          stats.ended++;
        });
        for (const { data, ...fields } of SCRIPT) stream.send(data, fields);
      },
      { retry: 2000 },
    ),
  )
  .get('/rooms/:room/events', async ({ request, params }) => {
    const admission = await roomRoute(params.room);
    if ('status' in admission) return new Response(null, { status: admission.status });
    return createResponse(request, (stream) => void admission.subscribe(stream));
  })
  .post('/rooms/:room/messages', async ({ params, body }) => {
    const id = await registry.channel(roomOf(params.room)).publish(body);
    return { id };
  })
  .get('/stats', () => stats)
  .listen({ port: 0, hostname: '127.0.0.1' });

console.log(`Listening on http://${app.server?.hostname}:${app.server?.port}`);
