// A chat on Cloudflare Workers: each room is an ssekit channel, and each channel lives in a
// Durable Object (@ssekit/cloudflare), so every isolate of the Worker, anywhere, sees one
// order of messages and a reconnecting page gets exactly what it missed. The streams stay in
// the Worker; the objects only store and fan out, and sleep while the room is quiet.

import { env } from 'cloudflare:workers';
import {
  ChannelObject,
  DurableObjectBroker,
  type DurableObjectNamespaceLike,
  publishHandler,
} from '@ssekit/cloudflare';
import { ChannelRegistry, SseError } from '@ssekit/core';
import { channel } from '@ssekit/hono';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { page } from './page.js';

/**
 * The Durable Object class: wrangler.jsonc binds it as CHANNELS and migrates it to SQLite
 * storage. (A Worker module exports only handlers and classes: no other values here.)
 */
export { ChannelObject };

/** The bindings, as wrangler.jsonc declares them. */
export interface Env {
  /** The namespace of the channel objects, one per room. */
  CHANNELS: DurableObjectNamespaceLike;
  /** The rooms the page shows, comma-separated (a var). */
  ROOMS: string;
  /** The bearer token of `POST /api/publish` (a secret, at least 32 characters); unset turns the route off. */
  PUBLISH_TOKEN?: string;
}

const MAX_NAME_LENGTH = 40;
const MAX_TEXT_LENGTH = 500;
const ROOM = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** A message as it is published (event `message`) and received by every page in the room. */
export interface ChatMessage {
  name: string;
  text: string;
  /** When the Worker took it, ISO 8601. */
  at: string;
}

const bindings = env as unknown as Env;
// The bindings exist at module scope (`cloudflare:workers`), so one registry serves every
// request of the isolate. The objects keep the last 500 messages of each room for resumes.
const broker = new DurableObjectBroker(bindings.CHANNELS, { history: { size: 500 } });
const registry = new ChannelRegistry({ broker });

/** `{ name, text }` from a JSON or form body, trimmed and checked; a string says what is wrong. */
async function readMessage(request: Request): Promise<Omit<ChatMessage, 'at'> | string> {
  const type = request.headers.get('content-type') ?? '';
  let body: Record<string, unknown>;
  try {
    if (type.startsWith('application/json')) body = (await request.json()) as Record<string, unknown>;
    else if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) {
      body = Object.fromEntries(await request.formData());
    } else return 'send JSON or a form';
  } catch {
    return 'the body does not parse';
  }
  if (typeof body !== 'object' || body === null) return 'expected { name, text }';
  const name = typeof body.name === 'string' ? body.name.trim() : '';
  const text = typeof body.text === 'string' ? body.text.trim() : '';
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return `a name has 1 to ${MAX_NAME_LENGTH} characters`;
  if (text.length === 0 || text.length > MAX_TEXT_LENGTH) return `a text has 1 to ${MAX_TEXT_LENGTH} characters`;
  return { name, text };
}

/** The publish route for publishers outside the Worker, made once its token is known. */
let publishFromOutside: ((request: Request) => Promise<Response>) | undefined;

const app = new Hono<{ Bindings: Env }>();

// The page starts each room at its newest message now, so it misses nothing posted after it loaded.
app.get('/', async (c) => {
  const names = (c.env.ROOMS ?? 'general').split(',').filter((room) => ROOM.test(room));
  const rooms = await Promise.all(
    names.map(async (name) => ({
      name,
      newestId: await broker.newestId(`room:${name}`).catch(() => undefined),
    })),
  );
  return c.html(page(rooms));
});

app.use('/rooms/:room/*', async (c, next) => {
  if (!ROOM.test(c.req.param('room'))) return c.json({ error: 'a room is 1 to 32 of a-z, 0-9 and -' }, 404);
  await next();
});

// The stream of a room. A page that reconnects sends the last id it saw; the room's object
// replays what came after, then live messages follow, each once and in order.
app.get(
  '/rooms/:room/events',
  channel(registry, (c) => `room:${c.req.param('room')}`),
);

app.post(
  '/rooms/:room/messages',
  bodyLimit({ maxSize: 4096, onError: (c) => c.json({ error: 'a message is at most 4 KiB' }, 413) }),
  async (c) => {
    const message = await readMessage(c.req.raw);
    if (typeof message === 'string') return c.json({ error: message }, 400);
    const data: ChatMessage = { ...message, at: new Date().toISOString() };
    // Resolves once the room's object stored it, with its id: every page in the room gets it.
    const id = await registry.channel(`room:${c.req.param('room')}`).publish(data, { event: 'message' });
    return c.json({ id }, 201);
  },
);

// For a backend, a cron job or curl: `Authorization: Bearer $PUBLISH_TOKEN` and
// `{ "channel": "room:general", "event": "message", "data": { "name": …, "text": … } }`.
app.post('/api/publish', (c) => {
  const token = c.env.PUBLISH_TOKEN;
  if (!token || token.length < 32) {
    return c.json(
      { error: 'publishing from outside is off: set the PUBLISH_TOKEN secret (32 characters or more)' },
      503,
    );
  }
  publishFromOutside ??= publishHandler(registry, { token });
  return publishFromOutside(c.req.raw);
});

// A room's object out of reach (or overloaded): the client may retry; a publish with the same
// `idempotencyKey` (POST /api/publish) stores the message once.
app.onError((error, c) => {
  if (error instanceof SseError && error.code === 'BROKER_UNAVAILABLE') return c.json({ error: error.message }, 503);
  console.error(error);
  return c.text('Internal Server Error', 500);
});

export default app;
