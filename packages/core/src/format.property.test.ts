import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ChannelRegistry,
  createWebSink,
  encode,
  encodeComment,
  GAP_EVENT,
  MAX_LAST_EVENT_ID_LENGTH,
  readLastEventId,
  SseError,
  type SseEvent,
  SseStream,
} from './index.js';

/** What a client reads back: the format has no way to carry CR, so every line break arrives as LF. */
const asRead = (data: string) => data.replace(/\r\n?/g, '\n');

/** Feeds bytes to eventsource-parser, split at arbitrary points as a network would. */
function parse(bytes: Uint8Array, cuts: number[] = []) {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event), onRetry: (retry) => retries.push(retry) });
  const decoder = new TextDecoder();
  let start = 0;
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
    parser.feed(decoder.decode(bytes.subarray(start, cut), { stream: true }));
    start = cut;
  }
  parser.feed(decoder.decode(bytes.subarray(start)));
  return { events, retries };
}

// Well-formed Unicode (UTF-8 cannot carry lone surrogates), line breaks of every kind
// and NUL mixed in generously.
const text = fc.string({
  unit: fc.oneof(fc.constantFrom('\n', '\r', '\r\n', '\0', ' ', ':'), fc.string({ unit: 'grapheme', maxLength: 1 })),
  maxLength: 40,
});
const name = text.filter((s) => s.length > 0 && !/[\r\n\0]/.test(s));
const id = text.filter((s) => !/[\r\n\0]/.test(s));
const retry = fc.nat({ max: 2 ** 31 });

describe('encode, read back by eventsource-parser', () => {
  it('gives back any string data, name, id and retry exactly', () => {
    fc.assert(
      fc.property(
        text,
        fc.option(name, { nil: undefined }),
        fc.option(id, { nil: undefined }),
        fc.option(retry, { nil: undefined }),
        fc.array(fc.nat()),
        (data, event, eventId, retryMs, cuts) => {
          const { events, retries } = parse(encode({ data, event, id: eventId, retry: retryMs }), cuts);
          expect(events).toHaveLength(1);
          expect(events[0]?.data).toBe(asRead(data));
          expect(events[0]?.event).toBe(event);
          expect(events[0]?.id).toBe(eventId);
          expect(retries).toEqual(retryMs === undefined ? [] : [retryMs]);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('gives back any JSON value that is not a string (strings go as they are)', () => {
    fc.assert(
      fc.property(
        fc.jsonValue().filter((value) => typeof value !== 'string'),
        (value) => {
          const { events } = parse(encode({ data: value }));
          expect(events).toHaveLength(1);
          expect(JSON.parse(events[0]?.data ?? '')).toEqual(JSON.parse(JSON.stringify(value)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('keeps a sequence of frames and comments apart', () => {
    const sseEvent = fc.record({ data: text, event: fc.option(name, { nil: undefined }) }) as fc.Arbitrary<SseEvent>;
    fc.assert(
      fc.property(fc.array(fc.oneof(sseEvent, text)), fc.array(fc.nat()), (items, cuts) => {
        const chunks = items.map((item) => (typeof item === 'string' ? encodeComment(item) : encode(item)));
        const all = new Uint8Array(Buffer.concat(chunks));
        const sent = items.filter((item): item is SseEvent => typeof item !== 'string');
        expect(parse(all, cuts).events.map(({ data, event }) => ({ data, event }))).toEqual(
          sent.map(({ data, event }) => ({ data: asRead(data as string), event })),
        );
      }),
      { numRuns: 500 },
    );
  });
});

describe('comments and retry hints without a blank line after them', () => {
  // What ssekit wrote before: a blank line after every comment and lone retry line, on which
  // clients such as @microsoft/fetch-event-source dispatch an empty message.
  const withBlankLine = (bytes: Uint8Array) => new Uint8Array(Buffer.concat([bytes, Buffer.from('\n')]));
  const sseEvent = fc.record({
    data: text,
    event: fc.option(name, { nil: undefined }),
    id: fc.option(id, { nil: undefined }),
    retry: fc.option(retry, { nil: undefined }),
  }) as fc.Arbitrary<SseEvent>;
  const item = fc.oneof(
    sseEvent.map((event) => ({ kind: 'event' as const, event })),
    text.map((comment) => ({ kind: 'comment' as const, comment })),
    retry.map((ms) => ({ kind: 'retry' as const, ms })),
  );

  it('read the same to a spec-compliant parser as they did with one', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), fc.array(fc.nat()), (items, cuts) => {
        const now = items.map((it) =>
          it.kind === 'event'
            ? encode(it.event)
            : it.kind === 'comment'
              ? encodeComment(it.comment)
              : encode({ retry: it.ms }),
        );
        const before = items.map((it, i) =>
          it.kind === 'event' ? (now[i] as Uint8Array) : withBlankLine(now[i] as Uint8Array),
        );
        const read = (chunks: Uint8Array[]) => parse(new Uint8Array(Buffer.concat(chunks)), cuts);
        expect(read(now)).toEqual(read(before));
      }),
      { numRuns: 1000 },
    );
  });

  it('leave no blank line that is not the end of an event', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), (items) => {
        const bytes = Buffer.concat(
          items.map((it) =>
            it.kind === 'event'
              ? encode(it.event)
              : it.kind === 'comment'
                ? encodeComment(it.comment)
                : encode({ retry: it.ms }),
          ),
        ).toString();
        // A client that dispatches on every blank line sees exactly the events.
        const blankLines = bytes
          .split(/\r\n|\r|\n/)
          .slice(0, -1)
          .filter((line) => line === '').length;
        expect(blankLines).toBe(items.filter((it) => it.kind === 'event').length);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('a stream, whatever fields and serializer output it is given', () => {
  // Anything at all, unfiltered: the stream must refuse it with a typed error, writing
  // nothing, or send exactly one event that reads back as given. Never a forged one.
  const anyRetry = fc.oneof(fc.integer(), fc.double(), fc.constant(Number.NaN));
  const refused = new Map<string, number>();

  it('sends exactly what it was given, or throws SseError and writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        text,
        fc.option(text, { nil: undefined }),
        fc.option(fc.oneof(text, fc.integer()), { nil: undefined }),
        fc.option(anyRetry, { nil: undefined }),
        fc.boolean(),
        async (output, event, eventId, retryMs, viaSerializer) => {
          const sink = createWebSink(undefined, 1 << 20);
          const serializer = () => output;
          const stream = new SseStream(sink, { heartbeat: false, serializer });
          const data = viaSerializer ? { any: 'value' } : output;
          let sent = true;
          try {
            stream.send(data, { event: event as string, id: eventId, retry: retryMs });
          } catch (error) {
            expect(error).toBeInstanceOf(SseError);
            const code = (error as SseError).code;
            refused.set(code, (refused.get(code) ?? 0) + 1);
            sent = false;
          }
          stream.close();
          const bytes = new Uint8Array(await new Response(sink.body).arrayBuffer());
          const { events, retries } = parse(bytes);
          if (!sent) {
            expect(events).toEqual([]);
            expect(retries).toEqual([]);
            return;
          }
          expect(events).toHaveLength(1);
          expect(events[0]?.data).toBe(asRead(output));
          // An empty name is the default one, as for the browser: a `message` event.
          expect(events[0]?.event).toBe(event || undefined);
          expect(events[0]?.id).toBe(eventId === undefined ? undefined : String(eventId));
          // -0 goes out as "retry: 0", which is the same delay.
          expect(retries).toEqual(retryMs === undefined ? [] : [retryMs + 0]);
        },
      ),
      { numRuns: 3000 },
    );
    console.log(`[fuzz] refused inputs by code: ${JSON.stringify(Object.fromEntries(refused))}`);
    expect([...refused.keys()].sort()).toEqual(['INVALID_EVENT', 'INVALID_ID', 'INVALID_RETRY']);
  });
});

describe('Last-Event-ID from a client, whatever it sends', () => {
  // Anything a query string can carry, percent-encoded, at lengths around the bound.
  const anyText = fc.oneof(
    text,
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string({ minLength: MAX_LAST_EVENT_ID_LENGTH - 2, maxLength: MAX_LAST_EVENT_ID_LENGTH + 2 }),
  );

  it('is read as a plausible id or not at all, and the gap event echoes it only escaped', async () => {
    const registry = new ChannelRegistry();
    await fc.assert(
      fc.asyncProperty(anyText, fc.boolean(), async (sent, asHeader) => {
        const id = asHeader
          ? readLastEventId(sent, undefined)
          : readLastEventId(undefined, `/events?lastEventId=${encodeURIComponent(sent)}`);
        if (id !== undefined) {
          expect(id.length).toBeLessThanOrEqual(MAX_LAST_EVENT_ID_LENGTH);
          expect(id).not.toMatch(/[\0\r\n]/);
        }
        // An empty channel answers any id with the gap event: one event, nothing forged.
        const sink = createWebSink(undefined, 1 << 20);
        const stream = new SseStream(sink, { heartbeat: false, lastEventId: id });
        registry.channel('empty').subscribe(stream);
        await new Promise((resolve) => setTimeout(resolve, 0));
        stream.close();
        const bytes = new Uint8Array(await new Response(sink.body).arrayBuffer());
        const { events } = parse(bytes);
        if (id === undefined) {
          expect(events).toEqual([]);
          return;
        }
        expect(events).toHaveLength(1);
        expect(events[0]?.event).toBe(GAP_EVENT);
        expect(JSON.parse(events[0]?.data ?? '')).toEqual({ lastEventId: id, reason: 'unknown' });
      }),
      { numRuns: 500 },
    );
    await registry.close();
  });
});
