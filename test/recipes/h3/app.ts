// The h3 v2 recipe of docs/recipes/h3.md: h3 hands each handler an event whose `event.req`
// is a Web Request, and sends a Response that a handler returns as it is, so ssekit's
// `createResponse` answers there with no adapter.
import { ChannelRegistry, createChannelRoute, createResponse } from '@ssekit/core';
import { getRouterParam, H3, type H3Event } from 'h3';

const registry = new ChannelRegistry();

/** Streams open now, and how many have ended: what `GET /stats` shows. */
const stats = { open: 0, ended: 0 };

/** What `GET /events` sends, before it stays open until the client leaves. */
const SCRIPT = [
  { event: 'greeting', id: '1', data: 'hello' },
  { event: 'tick', id: '2', data: { n: 2 } },
  { event: 'done', id: '3', data: 'line one\nline two' },
];

// A path parameter arrives still percent-encoded; decode it to name the channel.
const roomOf = (event: H3Event) => `room:${getRouterParam(event, 'room', { decode: true })}`;
const roomRoute = createChannelRoute(registry, roomOf);

export const app: H3 = new H3()
  .get('/events', (event) =>
    createResponse(
      event.req,
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
  .get('/rooms/:room/events', async (event) => {
    const admission = await roomRoute(event);
    if ('status' in admission) return new Response(null, { status: admission.status });
    return createResponse(event.req, (stream) => void admission.subscribe(stream));
  })
  .post('/rooms/:room/messages', async (event) => {
    const id = await registry.channel(roomOf(event)).publish(await event.req.json());
    return { id };
  })
  .get('/stats', () => stats);
