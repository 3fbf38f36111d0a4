/**
 * A contract suite for {@link @ssekit/core!Broker} implementations: what `MemoryBroker`,
 * `RedisBroker` and any broker of your own must all do, as cases you run in your test runner.
 *
 * It imports nothing but `@ssekit/core` and uses only Web APIs, so it runs under vitest or
 * jest in Node and, bundled, inside Cloudflare workerd, Deno or Bun, against the broker as it
 * runs there.
 *
 * @example
 * import { MemoryBroker } from '@ssekit/core';
 * import { brokerContract } from '@ssekit/testing/broker-contract';
 * import { describe, it } from 'vitest';
 *
 * describe('MemoryBroker', () => {
 *   const open = async ({ historySize }: { historySize: number }) => ({
 *     broker: new MemoryBroker({ history: { size: historySize } }),
 *     historySize,
 *   });
 *   for (const c of brokerContract) it(c.name, () => c.run(open));
 * });
 *
 * @module @ssekit/testing/broker-contract
 */
import { type Broker, type BrokerEvent, type BrokerMessage, createBrokerMessage, type Replay } from '@ssekit/core';

/** A broker opened for one case of {@link brokerContract}. */
export interface BrokerContractSubject {
  /** A broker the case uses alone; the case closes it when it ends, passed or failed. */
  broker: Broker;
  /**
   * The history bound (events per channel) the broker was made with: the case asked for one
   * and may be given another, e.g. by a broker whose bound is fixed. A broker that trims
   * approximately must be set up so that `historySize + 5` publishes drop the oldest event
   * (for `RedisBroker`, a small `stream-node-max-entries`).
   */
  historySize: number;
}

/** One case of {@link brokerContract}: a behaviour every broker shares. */
export interface BrokerContractCase {
  /** What the case checks, as a sentence: use it as the test's name. */
  readonly name: string;
  /**
   * Runs the case: opens one broker with `open` (on channels no other case uses, so cases may
   * share one server and run at once), checks it, and closes it. Rejects with an `Error` that
   * names what differed (actual and expected, as JSON) when the broker breaks the contract.
   * Finishes in well under 2 s on a networked broker.
   *
   * @param open - makes a new broker whose history holds about `historySize` events per channel.
   */
  run(open: (options: { historySize: number }) => Promise<BrokerContractSubject>): Promise<void>;
}

// Captured when this module loads, so that fake timers in a test cannot stall the waits.
const { setTimeout: realSetTimeout } = globalThis;

/** Longest a case waits for live deliveries from a networked broker. */
const DELIVERY_WAIT_MS = 2_000;
const POLL_MS = 5;

/** A value in an error message: JSON, and `undefined` as such. */
const show = (value: unknown): string => (value === undefined ? 'undefined' : JSON.stringify(value));

/** Throws an `Error` with `message` unless `condition` holds. */
function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`[broker contract] ${message}`);
}

/** Throws an `Error` naming `what`, with both values as JSON, unless they are the same as JSON. */
function checkEqual(actual: unknown, expected: unknown, what: string): void {
  check(show(actual) === show(expected), `${what}: expected ${show(expected)}, got ${show(actual)}`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => realSetTimeout(resolve, ms));

/**
 * Waits until `condition` holds, polling, for at most {@link DELIVERY_WAIT_MS}. Counts its own
 * waits instead of reading the clock, which workerd only moves on I/O.
 */
async function until(condition: () => boolean, what: () => string): Promise<void> {
  for (let waited = 0; !condition(); waited += POLL_MS) {
    if (waited >= DELIVERY_WAIT_MS) throw new Error(`[broker contract] waited ${DELIVERY_WAIT_MS} ms for ${what()}`);
    await sleep(POLL_MS);
  }
}

/** A fresh channel name: cases never see each other's events, even on one server. */
const freshChannel = () => `broker-contract:${crypto.randomUUID()}`;

/** A listener that keeps what it is given. */
function collector() {
  const messages: BrokerMessage[] = [];
  return { messages, listener: (message: BrokerMessage) => void messages.push(message) };
}

/** Waits until `messages` holds `count` messages. */
function received(messages: readonly BrokerMessage[], count: number, who: string): Promise<void> {
  return until(
    () => messages.length >= count,
    () => `${count} messages to reach ${who}; it has ${show(ids(messages))}`,
  );
}

const ids = (messages: readonly BrokerMessage[]) => messages.map((message) => message.id);

/** The fields a case compares, `event` as `null` when absent. */
const fields = (message: { id: string; event?: string | undefined; data: string }) => ({
  id: message.id,
  event: message.event ?? null,
  data: message.data,
});

const decoder = new TextDecoder();

/**
 * Checks messages against the events published with these ids: same id, event and data, in
 * this order, and each `frame` the one `createBrokerMessage` encodes for them.
 */
function checkMessages(
  messages: readonly BrokerMessage[],
  expected: readonly { id: string; event?: string | undefined; data: string }[],
  what: string,
): void {
  checkEqual(messages.map(fields), expected.map(fields), what);
  for (const message of messages) {
    const frame = decoder.decode(createBrokerMessage(message.id, message.event, message.data).frame);
    checkEqual(decoder.decode(message.frame), frame, `${what}: the frame of ${message.id}`);
  }
}

/** A replay read to its end: its gap, every message, and the size of each page. */
async function readReplay(replay: Replay) {
  const messages: BrokerMessage[] = [];
  const pages: number[] = [];
  for await (const page of replay.pages) {
    pages.push(page.length);
    messages.push(...page);
  }
  return { gap: replay.gap, messages, pages };
}

/** Publishes the events one after another, so that their order is the publish order. */
async function publishAll(broker: Broker, channel: string, events: readonly BrokerEvent[]) {
  const published: { id: string; event: string | undefined; data: string }[] = [];
  for (const event of events) {
    const id = await broker.publish(channel, event);
    check(typeof id === 'string' && id !== '', `publish resolved with ${show(id)}, not an id`);
    published.push({ id, event: event.event, data: event.data });
  }
  return published;
}

/** `count` events of one channel, named by `label`. */
const events = (count: number, label: string, event?: string): BrokerEvent[] =>
  Array.from({ length: count }, (_, i) => ({ event, data: `${label} ${i}` }));

/** Checks that `action` throws or rejects with an error of this `code` (an `SseError`, by name). */
async function checkRefused(action: () => unknown, code: string, what: string): Promise<void> {
  let error: unknown;
  try {
    await action();
  } catch (caught) {
    error = caught;
  }
  check(error !== undefined, `${what}: expected an SseError ${code}, got none`);
  const { name, code: actual } = error as { name?: unknown; code?: unknown };
  check(
    error instanceof Error && name === 'SseError' && actual === code,
    `${what}: expected an SseError ${code}, got ${error instanceof Error ? `${name} ${show(actual)}: ${error.message}` : show(error)}`,
  );
}

type Body = (subject: BrokerContractSubject) => Promise<void>;

/** A case that opens a broker with this history, runs `body`, and closes the broker. */
function contractCase(name: string, historySize: number, body: Body): BrokerContractCase {
  return {
    name,
    async run(open) {
      const subject = await open({ historySize });
      try {
        await body(subject);
      } finally {
        await subject.broker.close();
      }
    },
  };
}

/** History enough for every case that needs nothing dropped. */
const ROOMY = 100;

/**
 * Checks that the subject keeps at least `count` events, which the case needs to hold at once.
 */
function needsHistory({ historySize }: BrokerContractSubject, count: number): void {
  check(historySize >= count, `this case needs a history of at least ${count} events; the broker has ${historySize}`);
}

/**
 * The behaviour every {@link @ssekit/core!Broker} shares, as cases to run one by one; anyone
 * writing a broker runs them against it. `MemoryBroker` and `RedisBroker` pass them all.
 *
 * They cover publish and live delivery (ids, order, `frame`, several subscribers,
 * unsubscribe), replay (after an id, after the newest, after an unknown id, after an expired
 * one, in pages), idempotency keys, `newestId` and `compareIds` when the broker has them,
 * a second `close`, and refused channel names. They publish without an app-chosen `id` (brokers
 * may assign their own) and leave out `maxAge`.
 *
 * @example
 * for (const c of brokerContract) it(c.name, () => c.run(open));
 */
export const brokerContract: readonly BrokerContractCase[] = [
  contractCase(
    'publish resolves with a new id, and a subscriber gets each later event in order with that id, event, data and frame',
    ROOMY,
    async ({ broker }) => {
      const channel = freshChannel();
      const [before] = await publishAll(broker, channel, [{ data: 'before the subscriber' }]);
      const { messages, listener } = collector();
      const stop = await broker.subscribe(channel, listener);
      const published = await publishAll(broker, channel, [
        { event: 'greeting', data: 'hello' },
        { data: 'two\nlines' },
        { event: 'note', data: 'ünïcødé 😀 \u2028' },
        { data: '' },
      ]);
      checkEqual(new Set([before?.id, ...published.map((p) => p.id)]).size, 5, 'distinct ids of 5 publishes');
      await received(messages, published.length, 'the subscriber');
      checkMessages(messages, published, 'what the subscriber got');
      stop();
    },
  ),

  contractCase('two subscribers of one channel each get every event once, in order', ROOMY, async ({ broker }) => {
    const channel = freshChannel();
    const first = collector();
    const second = collector();
    const stops = [await broker.subscribe(channel, first.listener), await broker.subscribe(channel, second.listener)];
    const published = await publishAll(broker, channel, events(5, 'shared', 'tick'));
    await received(first.messages, 5, 'the first subscriber');
    await received(second.messages, 5, 'the second subscriber');
    // Events come in order: once a later one arrived, a duplicate of an earlier one would have.
    const [marker] = await publishAll(broker, channel, [{ data: 'marker' }]);
    await received(first.messages, 6, 'the first subscriber');
    await received(second.messages, 6, 'the second subscriber');
    const all = [...published, marker as (typeof published)[number]];
    checkMessages(first.messages, all, 'what the first subscriber got');
    checkMessages(second.messages, all, 'what the second subscriber got');
    for (const stop of stops) stop();
  }),

  contractCase("a subscriber of another channel gets none of this channel's events", ROOMY, async ({ broker }) => {
    const channel = freshChannel();
    const other = freshChannel();
    const here = collector();
    const there = collector();
    const stops = [await broker.subscribe(channel, here.listener), await broker.subscribe(other, there.listener)];
    await publishAll(broker, channel, events(3, 'here'));
    await received(here.messages, 3, 'the subscriber of the channel published to');
    const marker = await publishAll(broker, other, [{ data: 'there' }]);
    await received(there.messages, 1, 'the subscriber of the other channel');
    checkMessages(there.messages, marker, 'what the subscriber of the other channel got');
    for (const stop of stops) stop();
  }),

  contractCase('stopping a subscription ends delivery to that listener alone', ROOMY, async ({ broker }) => {
    const channel = freshChannel();
    const leaving = collector();
    const staying = collector();
    const stopLeaving = await broker.subscribe(channel, leaving.listener);
    const stopStaying = await broker.subscribe(channel, staying.listener);
    const published = await publishAll(broker, channel, [{ data: 'to both' }]);
    await received(leaving.messages, 1, 'the subscriber that leaves');
    await received(staying.messages, 1, 'the subscriber that stays');
    stopLeaving();
    published.push(...(await publishAll(broker, channel, events(2, 'after one left'))));
    // The listener that stays gets these in the same deliveries the other one would have.
    await received(staying.messages, 3, 'the subscriber that stays');
    checkMessages(staying.messages, published, 'what the subscriber that stays got');
    checkMessages(leaving.messages, published.slice(0, 1), 'what the subscriber that left got');
    stopStaying();
  }),

  contractCase('replay after an id gives exactly the later events, in order, with no gap', ROOMY, async (subject) => {
    needsHistory(subject, 6);
    const { broker } = subject;
    const channel = freshChannel();
    const published = await publishAll(broker, channel, [
      { event: 'a', data: 'one' },
      { data: 'two\nlines' },
      { event: 'b', data: 'three' },
      { data: 'four' },
      { event: 'a', data: 'five' },
      { data: 'six' },
    ]);
    for (const from of [0, 1, 4]) {
      const replay = await readReplay(await broker.replay(channel, published[from]?.id as string));
      checkEqual(replay.gap, undefined, `the gap of a replay after event ${from}`);
      checkMessages(replay.messages, published.slice(from + 1), `a replay after event ${from}`);
    }
  }),

  contractCase('replay after the newest id gives nothing, with no gap', ROOMY, async ({ broker }) => {
    const channel = freshChannel();
    const published = await publishAll(broker, channel, events(3, 'newest'));
    const replay = await readReplay(await broker.replay(channel, published[2]?.id as string));
    checkEqual(
      { gap: replay.gap, ids: ids(replay.messages) },
      { gap: undefined, ids: [] },
      'a replay after the newest',
    );
  }),

  contractCase('replay after an id the channel never gave reports an unknown gap', ROOMY, async ({ broker }) => {
    const channel = freshChannel();
    const other = freshChannel();
    const never = freshChannel();
    const here: string[] = [];
    // An id of the other channel that this one never gave: brokers whose ids come from a
    // clock (Redis) may give two channels the same id, which then names an event of both.
    const foreignId = async (label: string) => {
      for (let attempt = 0; attempt < 10; attempt++) {
        const id = await broker.publish(other, { data: label });
        if (!here.includes(id)) return id;
        await sleep(1);
      }
      throw new Error(`[broker contract] the other channel gave only ids this one gave too: ${show(here)}`);
    };
    here.push(await broker.publish(channel, { data: 'here 1' }));
    const between = await foreignId('there');
    here.push(await broker.publish(channel, { data: 'here 2' }));
    const later = await foreignId('there, later');
    // Not an id at all, and an id of another channel given after every event of this one.
    for (const [id, what] of [
      ['not-an-id', 'a made-up id'],
      [later, "another channel's id, newer than this channel's"],
    ] as const) {
      const replay = await readReplay(await broker.replay(channel, id));
      checkEqual({ gap: replay.gap, ids: ids(replay.messages) }, { gap: 'unknown', ids: [] }, `replay after ${what}`);
    }
    // An id given between this channel's events: a broker whose ids are ordered across
    // channels may send what it knows comes after it; nothing else.
    if (!here.includes(between)) {
      const replay = await readReplay(await broker.replay(channel, between));
      checkEqual(replay.gap, 'unknown', "the gap of a replay after another channel's id");
      const sent = ids(replay.messages);
      checkEqual(
        sent,
        here.slice(here.length - sent.length),
        "a replay after another channel's id (the newest events of this channel, or none)",
      );
    }
    // A channel never published to knows no id.
    const empty = await readReplay(await broker.replay(never, here[0] as string));
    checkEqual(
      { gap: empty.gap, ids: ids(empty.messages) },
      { gap: 'unknown', ids: [] },
      'replay on a channel never published to',
    );
  }),

  contractCase(
    'history keeps historySize events: replay after one it dropped reports an expired gap',
    4,
    async (subject) => {
      const { broker, historySize } = subject;
      check(historySize >= 1, `historySize is ${historySize}: this case needs a history of at least 1`);
      const channel = freshChannel();
      const published = await publishAll(broker, channel, events(historySize + 5, 'bounded'));
      const later = published.slice(1);
      const replay = await readReplay(await broker.replay(channel, published[0]?.id as string));
      checkEqual(replay.gap, 'expired', `the gap of a replay after the first of ${published.length} events`);
      // What follows the gap is newer than the id: the newest events, in order, or none.
      const kept = later.slice(later.length - replay.messages.length);
      checkMessages(replay.messages, replay.messages.length === 0 ? [] : kept, 'the events after the gap');
      if (broker.compareIds) {
        // With ordered ids, every event history holds is known to be newer: all of them come.
        check(
          replay.messages.length >= historySize,
          `a broker with compareIds sends every event history holds after an expired gap: got ${replay.messages.length}, history holds ${historySize}`,
        );
      }
      // Events still held replay with no gap.
      const tail = await readReplay(await broker.replay(channel, published[published.length - 2]?.id as string));
      checkEqual(tail.gap, undefined, 'the gap of a replay after the last but one');
      checkMessages(tail.messages, published.slice(-1), 'a replay after the last but one');
    },
  ),

  contractCase(
    'replay pages each hold at least one event and together give every later event in order',
    ROOMY,
    async (subject) => {
      needsHistory(subject, 13);
      const { broker } = subject;
      const channel = freshChannel();
      const published = await publishAll(
        broker,
        channel,
        Array.from({ length: 13 }, (_, i) => ({ event: i % 2 ? 'odd' : undefined, data: `${i} ${'x'.repeat(200)}` })),
      );
      for (const pageBytes of [1, 600, 1_000_000]) {
        const replay = await readReplay(await broker.replay(channel, published[0]?.id as string, { pageBytes }));
        checkEqual(replay.gap, undefined, `the gap of a replay in pages of ${pageBytes} bytes`);
        check(
          replay.pages.every((size) => size > 0),
          `pages of ${pageBytes} bytes: every page holds an event, got sizes ${show(replay.pages)}`,
        );
        checkMessages(replay.messages, published.slice(1), `the pages of ${pageBytes} bytes, together`);
      }
    },
  ),

  contractCase(
    'a publish with an idempotency key already in history resolves with its id, and is stored and delivered once',
    ROOMY,
    async ({ broker }) => {
      const channel = freshChannel();
      const other = freshChannel();
      const { messages, listener } = collector();
      const stop = await broker.subscribe(channel, listener);
      const [anchor] = await publishAll(broker, channel, [{ data: 'anchor' }]);
      const first = await broker.publish(channel, { event: 'order', data: 'one', idempotencyKey: 'order-1' });
      const again = await broker.publish(channel, { event: 'order', data: 'one', idempotencyKey: 'order-1' });
      checkEqual(again, first, 'the id of a publish retried with the same idempotency key');
      const next = await broker.publish(channel, { event: 'order', data: 'two', idempotencyKey: 'order-2' });
      check(next !== first, `another idempotency key made another event, got the same id ${show(next)}`);
      const stored = [
        { id: anchor?.id as string, data: 'anchor' },
        { id: first, event: 'order', data: 'one' },
        { id: next, event: 'order', data: 'two' },
      ];
      await received(messages, 3, 'the subscriber');
      checkMessages(messages, stored, 'what the subscriber got');
      const replay = await readReplay(await broker.replay(channel, anchor?.id as string));
      checkEqual(replay.gap, undefined, 'the gap of a replay after the anchor');
      checkMessages(replay.messages, stored.slice(1), 'a replay after the anchor');
      // The same key on another channel is another event, stored there.
      const [otherAnchor] = await publishAll(broker, other, [{ data: 'anchor' }]);
      const elsewhere = await broker.publish(other, { data: 'elsewhere', idempotencyKey: 'order-1' });
      const there = await readReplay(await broker.replay(other, otherAnchor?.id as string));
      checkMessages(
        there.messages,
        [{ id: elsewhere, data: 'elsewhere' }],
        'the same key published on another channel',
      );
      stop();
    },
  ),

  contractCase(
    'replay after newestId gives exactly what is published later, with no gap, on any channel (when the broker has newestId)',
    ROOMY,
    async ({ broker }) => {
      if (!broker.newestId) return;
      const newestId = broker.newestId.bind(broker);
      const expectAfter = async (
        channel: string,
        id: string,
        later: readonly { id: string; data: string }[],
        what: string,
      ) => {
        check(typeof id === 'string', `newestId of ${what} resolved with ${show(id)}, not an id`);
        const replay = await readReplay(await broker.replay(channel, id));
        checkEqual(replay.gap, undefined, `the gap of a replay after newestId of ${what}`);
        checkMessages(replay.messages, later, `a replay after newestId of ${what}`);
      };
      // Never published to, nobody listening.
      const fresh = freshChannel();
      const start = await newestId(fresh);
      await expectAfter(fresh, start, [], 'a channel never published to, before any publish');
      const published = await publishAll(broker, fresh, events(2, 'fresh'));
      await expectAfter(fresh, start, published, 'a channel never published to');
      // After some events.
      const middle = await newestId(fresh);
      const more = await publishAll(broker, fresh, events(2, 'more'));
      await expectAfter(fresh, middle, more, 'a channel with events');
      await expectAfter(fresh, await newestId(fresh), [], 'a channel, at its newest');
      // Listened to, but never published to.
      const listened = freshChannel();
      const stop = await broker.subscribe(listened, () => {});
      const quiet = await newestId(listened);
      const heard = await publishAll(broker, listened, events(2, 'listened'));
      await expectAfter(listened, quiet, heard, 'a channel with a subscriber and no events');
      stop();
    },
  ),

  contractCase(
    'compareIds orders the ids of one channel as they were published (when the broker has compareIds)',
    ROOMY,
    async ({ broker }) => {
      if (!broker.compareIds) return;
      const compare = broker.compareIds.bind(broker);
      const channel = freshChannel();
      const published = (await publishAll(broker, channel, events(5, 'ordered'))).map((p) => p.id);
      for (const [i, a] of published.entries()) {
        for (const [j, b] of published.entries()) {
          checkEqual(Math.sign(compare(a, b)), Math.sign(i - j), `the sign of compareIds(${show(a)}, ${show(b)})`);
        }
      }
    },
  ),

  contractCase('close is harmless when the broker is closed already', ROOMY, async ({ broker }) => {
    const channel = freshChannel();
    const stop = await broker.subscribe(channel, () => {});
    await publishAll(broker, channel, [{ data: 'before close' }]);
    await broker.close();
    await broker.close();
    stop();
  }),

  contractCase(
    'a channel name that is not well-formed Unicode (a lone surrogate) is refused with INVALID_CHANNEL',
    ROOMY,
    async ({ broker }) => {
      for (const name of ['\ud800', `${freshChannel()}\udc00`]) {
        const what = (call: string) => `${call} on ${show(name)}`;
        await checkRefused(() => broker.publish(name, { data: 'x' }), 'INVALID_CHANNEL', what('publish'));
        await checkRefused(() => broker.subscribe(name, () => {}), 'INVALID_CHANNEL', what('subscribe'));
        await checkRefused(() => broker.replay(name, 'x'), 'INVALID_CHANNEL', what('replay'));
        if (broker.newestId) {
          const newestId = broker.newestId.bind(broker);
          await checkRefused(() => newestId(name), 'INVALID_CHANNEL', what('newestId'));
        }
      }
    },
  ),
];
