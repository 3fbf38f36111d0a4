// The parts of the Workers runtime this package uses, typed by their shape: an app's own
// `@cloudflare/workers-types` (or `wrangler types`) values fit them, and this package needs
// neither those types nor the `cloudflare:workers` module to build or to load.

/** A WebSocket as Workers has it: `accept()` before use on the side a `fetch` returned. */
export interface WorkersWebSocket {
  accept(): void;
  send(message: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close' | 'error', listener: () => void): void;
}

/** A stub of one Durable Object, as `namespace.get(id)` returns it. */
export interface DurableObjectStubLike {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

/**
 * A Durable Object namespace binding (`env.CHANNELS`), whose class is {@link ChannelObject}
 * or a subclass of it.
 */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: never): DurableObjectStubLike;
}

/** A cursor over the rows an SQL statement gave. */
export interface SqlCursor<Row> extends Iterable<Row> {
  toArray(): Row[];
}

/** `ctx.storage.sql` of a Durable Object with SQLite storage. */
export interface SqlStorageLike {
  exec<Row = Record<string, string | number | null>>(query: string, ...bindings: unknown[]): SqlCursor<Row>;
}

/** The `ctx` a Durable Object's constructor gets, as far as {@link ChannelObject} uses it. */
export interface DurableObjectStateLike {
  readonly storage: { readonly sql: SqlStorageLike };
  acceptWebSocket(socket: WorkersWebSocket, tags?: string[]): void;
  getWebSockets(tag?: string): WorkersWebSocket[];
}

/** Workers' `WebSocketPair`, a global there: index 0 goes back in the 101 response, index 1 stays. */
export function webSocketPair(): [client: WorkersWebSocket, server: WorkersWebSocket] {
  const { WebSocketPair } = globalThis as unknown as {
    WebSocketPair: new () => { 0: WorkersWebSocket; 1: WorkersWebSocket };
  };
  const pair = new WebSocketPair();
  return [pair[0], pair[1]];
}
