/**
 * The chat, as an Express app. Each room is a channel (`room:<name>`) of one
 * `ChannelRegistry`, and a page follows every room it joined over one stream:
 *
 *   GET  /                           the page (page.html)
 *   GET  /client.js                  @ssekit/client as one ES module, for the page
 *   GET  /rooms                      the rooms
 *   GET  /rooms/:room/messages       the room's recent messages
 *   POST /rooms/:room/messages       posts `{ name, text }`: 201 `{ id }` once the channel has it
 *   GET  /events?channels=room:a,…   one stream for the rooms a page follows, resuming after `Last-Event-ID`
 *   POST /events/subscriptions       joins and leaves rooms on an open stream
 *   GET  /stats                      `{ streams }`: how many streams are open, every tab's
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ChannelRegistry, CursorKey } from '@ssekit/core';
import { channels } from '@ssekit/express';
import { build } from 'esbuild';
import express, { type Express, type Request, type Response } from 'express';

export const ROOMS = ['general', 'random', 'help'] as const;
export type Room = (typeof ROOMS)[number];

export interface ChatMessage {
  /** Unique: a page that loads a room and receives its events shows each message once. */
  id: string;
  name: string;
  text: string;
  /** When the server took the message, ISO 8601. */
  at: string;
}

/** The events of a room's stream and the type of their data: `publish` checks both. */
export type RoomEvents = { message: ChatMessage };

const MAX_NAME = 32;
const MAX_TEXT = 500;
/** How many messages a newcomer to a room is shown; the rest of history is for resuming. */
const RECENT = 50;

/** Signs the resume cursors when `CURSOR_SECRET` is not set: fine on your machine, not in production. */
export const DEV_CURSOR_SECRET = 'ssekit chat example: a development secret, set CURSOR_SECRET';

const page = readFileSync(new URL('./page.html', import.meta.url));
const ROOM_CHANNELS = new Set(ROOMS.map((room) => `room:${room}`));

/**
 * @ssekit/client for the page, built once from its source in this repository, so that
 * `pnpm start` needs no build step. An app that installs the package serves its
 * `dist/index.js` instead: the same single module, with no imports.
 */
async function buildClient(): Promise<string> {
  const entry = createRequire(import.meta.url).resolve('@ssekit/client');
  const { outputFiles } = await build({ entryPoints: [entry], bundle: true, format: 'esm', write: false });
  return outputFiles[0]?.text ?? '';
}

function isRoom(room: unknown): room is Room {
  return ROOMS.includes(room as Room);
}

function readMessage(body: unknown): { name: string; text: string } | string {
  const { name, text } = (body ?? {}) as Record<string, unknown>;
  if (typeof name !== 'string' || name.trim() === '' || name.trim().length > MAX_NAME) {
    return `name: 1 to ${MAX_NAME} characters`;
  }
  if (typeof text !== 'string' || text.trim() === '' || text.trim().length > MAX_TEXT) {
    return `text: 1 to ${MAX_TEXT} characters`;
  }
  return { name: name.trim(), text: text.trim() };
}

export interface ChatOptions {
  /** Signs the resume cursors: 32 bytes or more, the same on every instance. Default {@link DEV_CURSOR_SECRET}. */
  cursorSecret?: string;
}

export interface Chat {
  app: Express;
  /** The rooms' channels: `registry.close()` ends every stream. */
  registry: ChannelRegistry;
  /** Resolves once every room has its welcome message and the page's client is built. */
  opened: Promise<unknown>;
}

/** Builds the chat app. */
export function createChat({ cursorSecret = DEV_CURSOR_SECRET }: ChatOptions = {}): Chat {
  // In memory: one process, history of 1 000 events per room. For several processes, pass
  // `broker: new RedisBroker(...)` from @ssekit/redis, and keep `recent` in shared storage.
  const registry = new ChannelRegistry();
  // What a database would hold in a real app: the messages a newcomer is shown.
  const recent = new Map<Room, ChatMessage[]>(ROOMS.map((room) => [room, []]));

  /** Publishes to every tab in `room` and keeps the message for newcomers; resolves with its id. */
  async function post(room: Room, { name, text }: { name: string; text: string }): Promise<string> {
    const message: ChatMessage = { id: crypto.randomUUID(), name, text, at: new Date().toISOString() };
    await registry.channel<RoomEvents>(`room:${room}`).publish(message, { event: 'message' });
    const messages = recent.get(room) ?? [];
    messages.push(message);
    if (messages.length > RECENT) messages.shift();
    return message.id;
  }

  const client = buildClient();
  // A first message in every room, for a newcomer to see.
  const opened = Promise.all([
    client,
    ...ROOMS.map((room) =>
      post(room, { name: 'ssekit', text: `Welcome to #${room}. Open this page in a second tab and say hello.` }),
    ),
  ]);

  const app = express();
  app.get('/', (_req, res) => {
    res.type('html').send(page);
  });
  app.get('/client.js', async (_req, res) => {
    res.type('text/javascript').send(await client);
  });
  app.get('/rooms', (_req, res) => {
    res.json(ROOMS);
  });

  // One stream per page for all the rooms it joined; joining and leaving are calls on it.
  // Only rooms may be followed: any other channel is refused (403) alone.
  const feed = channels(registry, {
    key: new CursorKey(cursorSecret),
    authorize: (channel) => ROOM_CHANNELS.has(channel),
    retry: 1000,
  });
  let streams = 0;
  app.get('/events', (req, res, next) => {
    streams++;
    res.once('close', () => streams--);
    feed.events(req, res, next);
  });
  app.post('/events/subscriptions', feed.subscriptions);
  // For the page's counter: one stream per tab, whatever the number of rooms it joined.
  app.get('/stats', (_req, res) => {
    res.json({ streams });
  });

  // Every route below is for a known room only.
  app.use('/rooms/:room', (req, res, next) => {
    if (isRoom(req.params.room)) next();
    else res.status(404).json({ error: `no room "${req.params.room}"` });
  });

  // A page loads this once the stream follows the room (the client's `onFollow`), and again
  // after a gap; with the messages that arrive meanwhile, merged by id, nothing is missed.
  app.get('/rooms/:room/messages', (req: Request<{ room: Room }>, res) => {
    res.json({ messages: recent.get(req.params.room) ?? [] });
  });

  app.post('/rooms/:room/messages', express.json({ limit: '4kb' }), async (req: Request<{ room: Room }>, res) => {
    const input = readMessage(req.body);
    if (typeof input === 'string') res.status(400).json({ error: input });
    else res.status(201).json({ id: await post(req.params.room, input) });
  });

  // A malformed JSON body, and any other error: a JSON answer, not an HTML page.
  app.use((error: Error & { status?: number }, _req: Request, res: Response, next: (error: unknown) => void) => {
    if (res.headersSent) return next(error); // Express cuts the connection
    res.status(error.status ?? 500).json({ error: error.status ? error.message : 'internal error' });
  });

  return { app, registry, opened };
}
