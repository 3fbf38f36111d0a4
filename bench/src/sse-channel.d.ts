// sse-channel ships no types; this is the part of its API the bench uses.
declare module 'sse-channel' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export default class SseChannel {
    constructor(options?: { jsonEncode?: boolean; historySize?: number; pingInterval?: number });
    addClient(req: IncomingMessage, res: ServerResponse): void;
    send(message: { id?: string; event?: string; data: unknown }): void;
    getConnectionCount(): number;
  }
}
