import { PROTOCOL_PATH, type PublishRequest, parseId, type ReplayPage, type WireMessage } from './protocol.js';
import { type DurableObjectStateLike, type SqlStorageLike, type WorkersWebSocket, webSocketPair } from './workers.js';

/** The newest id of a channel nothing was published to yet, as `MemoryBroker` gives it. */
const START_ID = '0';

/** Most messages in one replay page, whatever their size. */
const MAX_PAGE_MESSAGES = 1000;
/** Page size when the broker names none: 256 KiB, as core's default buffer bound. */
const DEFAULT_PAGE_BYTES = 256 * 1024;

interface EventRow {
  seq: number;
  event: string | null;
  data: string;
}

/**
 * The Durable Object of one channel: its history in the object's SQLite storage, one order
 * for every publisher, and the links of the isolates whose streams follow it. Export it from
 * the Worker and bind it as a namespace with SQLite storage (`new_sqlite_classes`); give the
 * namespace to {@link DurableObjectBroker}. Extend it only to add to it (a subclass may wrap
 * `fetch`); the broker speaks to it over `fetch`, on paths of its own.
 *
 * It keeps nothing in memory between requests: everything is read from storage, so the
 * runtime may evict it whenever it is idle. Subscribers' links are hibernatable WebSockets:
 * an object that only holds them sleeps, and is not billed for the time it sleeps.
 */
export class ChannelObject {
  readonly #ctx: DurableObjectStateLike;
  readonly #sql: SqlStorageLike;

  /** Whether this object's tables exist: made by its first publish, never by a read. */
  #stored = false;

  // biome-ignore lint/correctness/noUnusedFunctionParameters: the runtime passes env; a subclass may use it.
  constructor(ctx: DurableObjectStateLike, env?: unknown) {
    this.#ctx = ctx;
    this.#sql = ctx.storage.sql;
  }

  /** Serves the broker: publish, subscribe (a WebSocket upgrade), replay and newest id. */
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    switch (url.pathname) {
      case `${PROTOCOL_PATH}/publish`:
        return Response.json({ id: this.#publish((await request.json()) as PublishRequest) });
      case `${PROTOCOL_PATH}/subscribe`:
        return this.#subscribe(request, url.searchParams.get('link'));
      case `${PROTOCOL_PATH}/replay`:
        return Response.json(this.#replay(url.searchParams));
      case `${PROTOCOL_PATH}/unlink`:
        for (const socket of this.#ctx.getWebSockets(url.searchParams.get('link') ?? ''))
          socket.close(1000, 'unlinked');
        return new Response(null, { status: 204 });
      case `${PROTOCOL_PATH}/newest`: {
        const meta = this.#meta();
        return Response.json({ id: meta ? `${meta.epoch}-${meta.seq}` : START_ID });
      }
      default:
        return new Response('not an ssekit channel request', { status: 404 });
    }
  }

  /** A link closed by its Worker (or lost): nothing is kept per link, so nothing to release. */
  webSocketClose(socket: WorkersWebSocket, code: number): void {
    try {
      socket.close(code === 1005 || code === 1006 ? 1000 : code);
    } catch {
      // already closed
    }
  }

  /** Links only receive; whatever a Worker sends is ignored. */
  webSocketMessage(): void {}

  webSocketError(): void {}

  /** The epoch and the last `n` given, or undefined before the first publish. */
  #meta(): { epoch: string; seq: number } | undefined {
    if (!this.#stored) {
      // Rebuilt after an eviction: storage says whether a publish made the tables.
      const [table] = this.#sql
        .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'ssekit_meta'`)
        .toArray();
      if (!table) return undefined;
      this.#stored = true;
    }
    let epoch = '';
    let seq = 0;
    for (const { k, v } of this.#sql.exec<{ k: string; v: string }>(`SELECT k, v FROM ssekit_meta`)) {
      if (k === 'epoch') epoch = v;
      else if (k === 'seq') seq = Number(v);
    }
    return { epoch, seq };
  }

  /**
   * Makes the tables, at the first publish, so that a channel only read (a stream opened on a
   * name nobody publishes to) stores nothing. A random epoch per storage: an id from another
   * channel, or from storage since deleted, reads as unknown instead of meaning an event here.
   */
  #store(): { epoch: string; seq: number } {
    const meta = this.#meta();
    if (meta) return meta;
    this.#sql.exec(`CREATE TABLE ssekit_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`);
    this.#sql.exec(
      `CREATE TABLE ssekit_events (seq INTEGER PRIMARY KEY, at REAL NOT NULL, event TEXT, data TEXT NOT NULL, ikey TEXT)`,
    );
    this.#sql.exec(`CREATE INDEX ssekit_events_ikey ON ssekit_events (ikey) WHERE ikey IS NOT NULL`);
    this.#sql.exec(`CREATE INDEX ssekit_events_at ON ssekit_events (at)`);
    const [a = 0, b = 0] = crypto.getRandomValues(new Uint32Array(2));
    const epoch = a.toString(36) + b.toString(36);
    this.#sql.exec(`INSERT INTO ssekit_meta (k, v) VALUES ('epoch', ?), ('seq', '0')`, epoch);
    this.#stored = true;
    return { epoch, seq: 0 };
  }

  /** Drops what is older than `maxAge` ms (the broker's bound), if it has one. */
  #expire(maxAge: number | undefined): void {
    if (maxAge !== undefined) this.#sql.exec(`DELETE FROM ssekit_events WHERE at < ?`, Date.now() - maxAge);
  }

  // Synchronous from the first statement to the last send: no other request of this object
  // runs in between, so ids, storage and delivery follow one order.
  #publish({ event, data, idempotencyKey, size, maxAge }: PublishRequest): string {
    const { epoch, seq } = this.#store();
    this.#expire(maxAge);
    if (idempotencyKey !== undefined) {
      const [stored] = this.#sql
        .exec<{ seq: number }>(`SELECT seq FROM ssekit_events WHERE ikey = ?`, idempotencyKey)
        .toArray();
      if (stored) return `${epoch}-${stored.seq}`;
    }
    const n = seq + 1;
    this.#sql.exec(`UPDATE ssekit_meta SET v = ? WHERE k = 'seq'`, String(n));
    this.#sql.exec(
      `INSERT INTO ssekit_events (seq, at, event, data, ikey) VALUES (?, ?, ?, ?, ?)`,
      n,
      Date.now(),
      event ?? null,
      data,
      idempotencyKey ?? null,
    );
    this.#sql.exec(`DELETE FROM ssekit_events WHERE seq <= ?`, n - size);
    const id = `${epoch}-${n}`;
    const wire = JSON.stringify([id, event ?? null, data] satisfies WireMessage);
    for (const socket of this.#ctx.getWebSockets()) {
      try {
        socket.send(wire);
      } catch {
        // a link closing: its Worker resumes its streams through replay
      }
    }
    return id;
  }

  #subscribe(request: Request, tag: string | null): Response {
    if (request.headers.get('Upgrade') !== 'websocket' || !tag) {
      return new Response('expected a WebSocket with a link tag', { status: 426 });
    }
    const [client, server] = webSocketPair();
    // Accepted here, before the 101: every event stored from now on reaches this link. The
    // tag lets any request of its Worker close it (see DurableObjectBroker).
    this.#ctx.acceptWebSocket(server, [tag]);
    return new Response(null, { status: 101, webSocket: client } as ResponseInit);
  }

  /**
   * One page after `after`. The first page (`first=1`) says whether history covers the
   * client's id; later ones start after the last id sent, and say `overtaken` when history
   * dropped messages between it and what it holds now.
   */
  #replay(params: URLSearchParams): ReplayPage {
    const meta = this.#meta();
    const first = params.get('first') === '1';
    const given = params.get('after') ?? '';
    if (!meta)
      return given === START_ID ? { messages: [], more: false } : { gap: 'unknown', messages: [], more: false };
    const { epoch, seq } = meta;
    this.#expire(params.has('maxAge') ? Number(params.get('maxAge')) : undefined);
    // The start id from before the first publish: everything since is new to its client.
    const after = given === START_ID ? { epoch, n: 0 } : parseId(given);
    const pageBytes = Number(params.get('pageBytes')) || DEFAULT_PAGE_BYTES;
    if (!after || after.epoch !== epoch || after.n > seq) {
      return first ? { gap: 'unknown', messages: [], more: false } : { overtaken: true, messages: [], more: false };
    }
    const [oldest] = this.#sql.exec<{ seq: number }>(`SELECT min(seq) AS seq FROM ssekit_events`).toArray();
    const oldestHeld = oldest?.seq ?? null;
    // Nothing missing when the next event after the id is held, or when there is none yet.
    const missing = after.n < seq && (oldestHeld === null || oldestHeld > after.n + 1);
    if (missing && !first) return { overtaken: true, messages: [], more: false };
    const messages: WireMessage[] = [];
    let bytes = 0;
    let more = false;
    for (const row of this.#sql.exec<EventRow>(
      `SELECT seq, event, data FROM ssekit_events WHERE seq > ? ORDER BY seq LIMIT ?`,
      after.n,
      MAX_PAGE_MESSAGES + 1,
    )) {
      if (messages.length === MAX_PAGE_MESSAGES || (messages.length > 0 && bytes >= pageBytes)) {
        more = true;
        break;
      }
      messages.push([`${epoch}-${row.seq}`, row.event, row.data]);
      bytes += row.data.length + (row.event?.length ?? 0) + 32;
    }
    return missing ? { gap: 'expired', messages, more } : { messages, more };
  }
}
