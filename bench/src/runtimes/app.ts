/**
 * The server side of `pnpm bench:runtimes`, the same code on every runtime (Web APIs only):
 * `GET /events` answered by one variant, and the control routes through which the runner
 * reads the stream count, asks for a GC and starts publishing. Bundled per runtime.
 */
import { createResponse, encode, type SseStream } from '@ssekit/core';
import { type BenchEvent, benchEvent } from '../shared.js';

/** Streams that one event goes to, however they are served. */
export interface Broadcast {
  count(): number;
  publish(event: BenchEvent): void;
}

/** A fetch-style variant: a broadcast whose streams are opened by `respond`. */
export interface WebBroadcast extends Broadcast {
  respond(request: Request): Response;
}

const HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };
const utf8 = new TextEncoder();

/**
 * `web-raw`: the runtime's own floor, as `cloudflare.ts`'s raw loop: a `ReadableStream` per
 * client, and a publish enqueues one frame, encoded once, to each. No backpressure: the
 * events are small and few enough for every runtime to take them whole.
 */
export function webRaw(): WebBroadcast {
  const controllers = new Set<ReadableStreamDefaultController<Uint8Array>>();
  // A comment at once, so that the head goes out before the first event (as `startByHand`).
  const opening = utf8.encode(':\n\n');
  return {
    count: () => controllers.size,
    publish(event) {
      const frame = utf8.encode(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
      for (const controller of controllers) controller.enqueue(frame);
    },
    respond() {
      let own: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          own = controller;
          controller.enqueue(opening);
          controllers.add(controller);
        },
        cancel() {
          controllers.delete(own);
        },
      });
      return new Response(body, { headers: HEADERS });
    },
  };
}

/** `ssekit`: `createResponse` from `@ssekit/core` with its defaults; `encode` once, `writeFrame` to every stream. */
export function ssekit(): WebBroadcast {
  const streams = new Set<SseStream>();
  return {
    count: () => streams.size,
    publish(event) {
      const frame = encode({ data: event, id: event.seq });
      for (const stream of streams) stream.writeFrame(frame);
    },
    respond: (request) =>
      createResponse(request, (stream) => {
        streams.add(stream);
        stream.signal.addEventListener('abort', () => streams.delete(stream));
      }),
  };
}

const macrotask = () => new Promise((resolve) => setImmediate(resolve));

/**
 * The runner's routes: `GET /count` (streams open), `POST /gc` (collect twice, then the
 * heap: the runner reads the resident set itself, from /proc) and `POST /start?events=N&pad=B`
 * (publish N events, one per macrotask, each to every stream; answered at once).
 */
export function controlRoutes(broadcast: Broadcast, gc: () => void): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    if (url.pathname === '/count') return Response.json({ open: broadcast.count() });
    if (url.pathname === '/gc' && request.method === 'POST') {
      gc();
      // Let what the first collection freed be finalized before the second one.
      await new Promise((resolve) => setTimeout(resolve, 200));
      gc();
      const { heapUsed, arrayBuffers } = process.memoryUsage();
      return Response.json({ heapUsed, arrayBuffers });
    }
    if (url.pathname === '/start' && request.method === 'POST') {
      const events = Number(url.searchParams.get('events'));
      const pad = 'x'.repeat(Number(url.searchParams.get('pad')));
      (async () => {
        for (let seq = 0; seq < events; seq++) {
          broadcast.publish(benchEvent(seq, pad));
          await macrotask();
        }
      })();
      return Response.json({ started: events });
    }
    return new Response('not found', { status: 404 });
  };
}

export type WebVariant = 'web-raw' | 'ssekit';

/** The whole fetch handler for `variant`: its streams under `/events`, the control routes elsewhere. */
export function createBenchApp(variant: WebVariant, gc: () => void): (request: Request) => Promise<Response> {
  const broadcast = variant === 'ssekit' ? ssekit() : webRaw();
  const control = controlRoutes(broadcast, gc);
  return async (request) =>
    new URL(request.url).pathname === '/events' ? broadcast.respond(request) : control(request);
}

/** A variant name given on the command line, checked. */
export function webVariant(name: string | undefined): WebVariant {
  if (name === 'web-raw' || name === 'ssekit') return name;
  throw new Error(`unknown variant ${name}: web-raw or ssekit`);
}
