/**
 * The chat, as an Express app. Each room is a channel of one `ChannelRegistry`:
 *
 *   GET  /                        the page (page.html)
 *   GET  /rooms                   the rooms
 *   GET  /rooms/:room/messages    the room's recent messages, and the id to stream from
 *   GET  /rooms/:room/events      the room's event stream, resuming after `Last-Event-ID`
 *   POST /rooms/:room/messages    posts `{ name, text }`: 201 `{ id }` once the channel has it
 */
import { readFileSync } from 'node:fs';
import { ChannelRegistry } from '@ssekit/core';
import { channel } from '@ssekit/express';
import express, { type Express, type Request, type Response } from 'express';

export const ROOMS = ['general', 'random', 'help'] as const;
export type Room = (typeof ROOMS)[number];

export interface ChatMessage {
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

const page = readFileSync(new URL('./page.html', import.meta.url));

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

export interface Chat {
  app: Express;
  /** The rooms' channels: `registry.close()` ends every stream. */
  registry: ChannelRegistry;
  /** Resolves once every room has its welcome message. */
  opened: Promise<unknown>;
}

/** Builds the chat app. */
export function createChat(): Chat {
  // In memory: one process, history of 1 000 events per room. For several processes, pass
  // `broker: new RedisBroker(...)` from @ssekit/redis, and keep `recent` in shared storage.
  const registry = new ChannelRegistry();
  // What a database would hold in a real app: the messages a newcomer is shown, with ids.
  const recent = new Map<Room, { id: string; message: ChatMessage }[]>(ROOMS.map((room) => [room, []]));

  /** Publishes to every tab in `room` and keeps the message for newcomers; resolves with its id. */
  async function post(room: Room, { name, text }: { name: string; text: string }): Promise<string> {
    const message: ChatMessage = { name, text, at: new Date().toISOString() };
    const id = await registry.channel<RoomEvents>(`room:${room}`).publish(message, { event: 'message' });
    const messages = recent.get(room) ?? [];
    messages.push({ id, message });
    if (messages.length > RECENT) messages.shift();
    return id;
  }

  // A first message in every room, so that a newcomer always has an id to stream after.
  const opened = Promise.all(
    ROOMS.map((room) =>
      post(room, { name: 'ssekit', text: `Welcome to #${room}. Open this page in a second tab and say hello.` }),
    ),
  );

  const app = express();
  app.get('/', (_req, res) => {
    res.type('html').send(page);
  });
  app.get('/rooms', (_req, res) => {
    res.json(ROOMS);
  });

  // Every route below is for a known room only.
  app.use('/rooms/:room', (req, res, next) => {
    if (isRoom(req.params.room)) next();
    else res.status(404).json({ error: `no room "${req.params.room}"` });
  });

  // A tab entering a room: the recent messages, and the id after which its stream goes on,
  // so that nothing posted between this answer and the stream opening is missed.
  app.get('/rooms/:room/messages', (req: Request<{ room: Room }>, res) => {
    const messages = recent.get(req.params.room) ?? [];
    res.json({ messages, lastEventId: messages.at(-1)?.id ?? null });
  });

  // The stream: live messages, and on a reconnect the ones missed meanwhile, from history,
  // after the `Last-Event-ID` the browser sends by itself (or `?lastEventId=` on a new one).
  app.get(
    '/rooms/:room/events',
    channel(registry, (req) => `room:${req.params.room}`, { retry: 1000 }),
  );

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
