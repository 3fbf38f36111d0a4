import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import {
  type Broker,
  type BrokerMessage,
  ChannelRegistry,
  createBrokerMessage,
  createWebSink,
  GAP_EVENT,
  MemoryBroker,
  SseError,
  SseStream,
  type SseStreamInit,
} from './index.js';

const decoder = new TextDecoder();

/** A stream on the real Web sink, and everything its client has read so far. */
function client(init: SseStreamInit = {}, highWaterMark = 1 << 20) {
  const sink = createWebSink(undefined, highWaterMark);
  const stream = new SseStream(sink, { heartbeat: false, ...init });
  const reader = sink.body.getReader();
  let text = '';
  let reading = true;
  const pump = async () => {
    while (reading) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      text += decoder.decode(value);
    }
  };
  return {
    stream,
    text: () => text,
    /** Starts reading (a client that reads as fast as events come). */
    read() {
      void pump();
      return this;
    },
    stop() {
      reading = false;
    },
  };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
/** The ids of the events in `text`, in order. */
const ids = (text: string) => [...text.matchAll(/^id: (.*)$/gm)].map((m) => m[1]);

describe('Channel.publish', () => {
  it('serializes once and writes the same bytes to every subscriber', async () => {
    const serializer = vi.fn(JSON.stringify);
    const registry = new ChannelRegistry({ serializer });
    const news = registry.channel('news');
    const clients = Array.from({ length: 100 }, () => client().read());
    for (const c of clients) news.subscribe(c.stream);
    const id = await news.publish({ title: 'hello' }, { event: 'story' });
    await news.publish({ title: 'again' });
    await flush();
    expect(serializer).toHaveBeenCalledTimes(2);
    const expected = `:\nevent: story\nid: ${id}\ndata: {"title":"hello"}\n\n`;
    for (const c of clients) expect(c.text().startsWith(expected)).toBe(true);
    expect(new Set(clients.map((c) => c.text())).size).toBe(1);
  });

  it('assigns unique, ordered ids unless the app gives one', async () => {
    const news = new ChannelRegistry().channel('news');
    const first = await news.publish('a');
    const second = await news.publish('b');
    expect(await news.publish('c', { id: 'mine-1' })).toBe('mine-1');
    const seq = (id: string) => Number(id.split('-').pop());
    expect(first).not.toBe(second);
    expect(seq(second)).toBeGreaterThan(seq(first));
  });

  it('refuses invalid input at the call site', () => {
    const news = new ChannelRegistry().channel('news');
    expect(() => news.publish('x', { event: 'a\nb' })).toThrow(SseError);
    expect(() => news.publish('x', { id: 'a\0' })).toThrow(SseError);
    expect(() => news.publish(undefined)).toThrow(expect.objectContaining({ code: 'INVALID_DATA' }));
    expect(() => news.publish(10n)).toThrow(expect.objectContaining({ code: 'SERIALIZE_FAILED' }));
  });

  it('types publish against an event map', () => {
    const scores = new ChannelRegistry().channel<{ goal: { team: string } }>('scores');
    void scores.publish({ team: 'blue' }, { event: 'goal' });
    const typeCheckOnly = () => {
      // @ts-expect-error `goal` carries a team
      void scores.publish({ score: 1 }, { event: 'goal' });
    };
    expect(typeCheckOnly).toBeTypeOf('function');
  });

  it('never waits on a slow subscriber: it meets its own bound, the others keep receiving', async () => {
    const news = new ChannelRegistry().channel('news');
    const slow = client({ maxBufferedBytes: 1000 }, 16); // never reads
    const fast = client().read();
    news.subscribe(slow.stream);
    news.subscribe(fast.stream);
    // Ten events per turn of the event loop: the slow client falls behind, turn after turn.
    for (let i = 0; i < 200; i++) {
      await news.publish('x'.repeat(50));
      if (i % 10 === 9) await flush();
    }
    await flush();
    expect((slow.stream.signal.reason as SseError).code).toBe('BUFFER_OVERFLOW');
    expect(ids(fast.text())).toHaveLength(200);
    expect(news.size).toBe(1);
  });
});

describe('Channel.publish limits', () => {
  it('refuses data over maxEventBytes at the call site, counting UTF-8 bytes', async () => {
    const news = new ChannelRegistry({ maxEventBytes: 12 }).channel('news');
    await expect(news.publish('x'.repeat(12))).resolves.toBeTypeOf('string');
    expect(() => news.publish('é'.repeat(7))).toThrow(expect.objectContaining({ code: 'EVENT_TOO_LARGE' }));
    expect(() => news.publish({ text: 'abcdefghij' })).toThrow(expect.objectContaining({ code: 'EVENT_TOO_LARGE' }));
    expect(() => new ChannelRegistry({ maxEventBytes: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });

  it('takes the limit as maxDataBytes, the name that says it counts the data alone', () => {
    const news = new ChannelRegistry({ maxDataBytes: 4, maxEventBytes: 100 }).channel('news');
    expect(() => news.publish('12345')).toThrow(expect.objectContaining({ code: 'EVENT_TOO_LARGE' }));
    expect(() => new ChannelRegistry({ maxDataBytes: 1.5 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });
});

describe('Channel.subscribe', () => {
  it('replays the events after Last-Event-ID, then goes on live', async () => {
    const news = new ChannelRegistry().channel('news');
    const published = [await news.publish('1'), await news.publish('2'), await news.publish('3')];
    const late = client({ lastEventId: published[0] }).read();
    news.subscribe(late.stream);
    await flush();
    published.push(await news.publish('4'));
    await flush();
    expect(ids(late.text())).toEqual(published.slice(1));
  });

  it('sends nothing a client has when an ordering broker lags, and sends clients away when it lost events', async () => {
    const memory = new MemoryBroker();
    let liveFeed!: (message: BrokerMessage) => void;
    let lose!: () => void;
    // A broker whose live feed the test can hold back, as a networked broker's can lag.
    const broker: Broker = {
      publish: (channel, event) => memory.publish(channel, event),
      replay: (channel, id) => memory.replay(channel, id),
      close: () => memory.close(),
      subscribe(channel, listener, onLost) {
        liveFeed = listener;
        lose = onLost ?? (() => {});
        return memory.subscribe(channel, listener);
      },
      compareIds: (a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]),
    };
    const news = new ChannelRegistry({ broker }).channel('news');
    const published = [await news.publish('0'), await news.publish('1'), await news.publish('2')];
    const c = client({ lastEventId: published[0] }).read();
    news.subscribe(c.stream);
    await flush();
    // The live feed catches up late, with events the client has already.
    for (const [n, id] of published.entries()) liveFeed(createBrokerMessage(id, undefined, String(n)));
    published.push(await news.publish('3'));
    await flush();
    expect(ids(c.text())).toEqual(published.slice(1));
    lose();
    await flush();
    expect(c.stream.closed).toBe(true);
    expect(c.text()).toMatch(/retry: \d+\n$/);
  });

  it('applies the filter to replayed and live events', async () => {
    const news = new ChannelRegistry().channel('news');
    const first = await news.publish('skip', { event: 'noise' });
    await news.publish('keep', { event: 'story' });
    const c = client({ lastEventId: first }).read();
    news.subscribe(c.stream, { filter: (message) => message.event === 'story' });
    await news.publish('skip', { event: 'noise' });
    await news.publish('keep too', { event: 'story' });
    await flush();
    const [keep, keepToo] = ids(c.text());
    expect(c.text()).toBe(
      `:\nevent: story\nid: ${keep}\ndata: keep\n\nevent: story\nid: ${keepToo}\ndata: keep too\n\n`,
    );
  });

  it('tells a subscriber whose Last-Event-ID has expired, or is unknown, before live events', async () => {
    const news = new ChannelRegistry({ history: { size: 2 } }).channel('news');
    const expired = await news.publish('1');
    await news.publish('2'); // dropped from history too: the client misses it
    const second = await news.publish('2b');
    const third = await news.publish('3');
    const a = client({ lastEventId: expired }).read();
    const b = client({ lastEventId: 'from-another-life' }).read();
    news.subscribe(a.stream);
    news.subscribe(b.stream);
    await flush();
    const live = await news.publish('4');
    await flush();
    expect(a.text()).toBe(
      `:\nevent: ${GAP_EVENT}\ndata: {"lastEventId":"${expired}","reason":"expired"}\n\n` +
        // What history still holds after the gap, then live events.
        `id: ${second}\ndata: 2b\n\nid: ${third}\ndata: 3\n\nid: ${live}\ndata: 4\n\n`,
    );
    expect(b.text()).toBe(
      `:\nevent: ${GAP_EVENT}\ndata: {"lastEventId":"from-another-life","reason":"unknown"}\n\nid: ${live}\ndata: 4\n\n`,
    );
  });

  it('misses nothing and repeats nothing when events arrive while a slow replay is written', async () => {
    const memory = new MemoryBroker();
    // The same broker, as slow as a networked one: the subscription goes live later (events
    // before that come only by replay), the replay's snapshot holds events that also arrive
    // live (duplicates to drop), and events come after the snapshot too (a gap to fill).
    const slowReplay: Broker = {
      publish: (channel, event) => memory.publish(channel, event),
      subscribe: async (channel, listener) => {
        await new Promise((resolve) => setTimeout(resolve, 8));
        return memory.subscribe(channel, listener);
      },
      replay: async (channel, lastEventId) => {
        await new Promise((resolve) => setTimeout(resolve, 12));
        const replay = await memory.replay(channel, lastEventId);
        await new Promise((resolve) => setTimeout(resolve, 12));
        return replay;
      },
      close: () => memory.close(),
    };
    const news = new ChannelRegistry({ broker: slowReplay }).channel('news');
    const all = [await news.publish('0'), await news.publish('1')];
    const c = client({ lastEventId: all[0] }).read();
    news.subscribe(c.stream);
    for (let i = 2; i < 8; i++) {
      all.push(await news.publish(String(i)));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(ids(c.text())).toEqual(all.slice(1));
  });

  it('ends the subscription when the stream ends, either way', async () => {
    const registry = new ChannelRegistry();
    const news = registry.channel('news');
    const a = client();
    const b = client();
    const unsubscribeA = news.subscribe(a.stream);
    news.subscribe(b.stream);
    expect(news.size).toBe(2);
    b.stream.close();
    expect(news.size).toBe(1);
    unsubscribeA();
    unsubscribeA();
    expect(news.size).toBe(0);
  });
});

describe('ChannelRegistry', () => {
  it('answers for a name through every Channel of it, taken before or after its subscribers came', async () => {
    const registry = new ChannelRegistry();
    const feed = registry.channel('feed'); // taken once at start-up, as apps write it
    const c = client().read();
    registry.channel('feed').subscribe(c.stream); // as a route helper does, per request
    expect(feed.size).toBe(1);
    expect(registry.get('feed')?.size).toBe(1);
    await feed.publish('hello');
    await flush();
    expect(c.text()).toContain('data: hello');
    const other = client().read();
    feed.subscribe(other.stream);
    expect(registry.channel('feed').size).toBe(2);
    c.stream.close();
    other.stream.close();
    expect(feed.size).toBe(0);
    expect(registry.get('feed')).toBeUndefined();
    expect(registry.names()).toEqual([]);
  });

  it('releases channels with no subscribers and no history, so per-user names do not pile up', async () => {
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    // Closing a Web stream finishes in later tasks: let them run before measuring.
    const gc = async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      collect();
    };
    const registry = new ChannelRegistry({ history: { size: 0 } });
    const cycle = (i: number) => {
      const c = client().read(); // a client that takes its last bytes, so nothing waits for it
      registry.channel(`user:${i}`).subscribe(c.stream);
      c.stream.close();
    };
    for (let i = 0; i < 1000; i++) cycle(i); // warm up
    await gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 10_000; i++) cycle(i);
    expect(registry.names()).toEqual([]);
    await gc();
    const growth = process.memoryUsage().heapUsed - before;
    console.log(
      `[registry] 10,000 subscribe/unsubscribe cycles: heap ${(growth / 1e6).toFixed(2)} MB, ${registry.names().length} channels left`,
    );
    expect(growth).toBeLessThan(2e6);
  });

  it('drops history older than maxAge, even on a channel nobody touches', async () => {
    vi.useFakeTimers();
    try {
      const broker = new MemoryBroker({ history: { size: 10, maxAge: 1000 } });
      const registry = new ChannelRegistry({ broker });
      const id = await registry.channel('news').publish('old');
      await registry.channel('news').publish('old too'); // the one the client misses
      const other = await registry.channel('other').publish('old');
      expect(registry.names()).toEqual([]); // no subscribers: nothing kept but the history
      // A listener (another instance's, say) keeps the channel; with none, the channel goes
      // with its expired history, and its ids read as unknown, like those from before a restart.
      await broker.subscribe('news', () => {});
      vi.advanceTimersByTime(2001);
      const c = client({ lastEventId: id }).read();
      registry.channel('news').subscribe(c.stream);
      const d = client({ lastEventId: other }).read();
      registry.channel('other').subscribe(d.stream);
      await vi.advanceTimersByTimeAsync(10);
      expect(c.text()).toContain('"reason":"expired"');
      expect(d.text()).toContain('"reason":"unknown"');
      await registry.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses a history that is not one', () => {
    expect(() => new ChannelRegistry({ history: { size: -1 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => new MemoryBroker({ history: { maxAge: 0 } })).toThrow(SseError);
  });

  it('keeps one subscriber to itself when its filter throws or its replay fails', async () => {
    const onError = vi.fn();
    const registry = new ChannelRegistry({ onError });
    const news = registry.channel('news');
    const broken = client().read();
    const fine = client().read();
    news.subscribe(broken.stream, {
      filter: () => {
        throw new Error('filter broke');
      },
    });
    news.subscribe(fine.stream);
    await flush();
    await news.publish('still delivered');
    await flush();
    expect(broken.stream.closed).toBe(true);
    expect(fine.text()).toContain('data: still delivered');
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'filter broke' }), 'news');
  });

  it('delivers in publish order even when a listener publishes during a delivery', async () => {
    const news = new ChannelRegistry().channel('news');
    const slow = client({ maxBufferedBytes: 0 }, 1); // takes one event, then overflows on the next
    const watcher = client().read();
    news.subscribe(slow.stream);
    news.subscribe(watcher.stream);
    await flush();
    await news.publish('queued');
    await flush();
    slow.stream.signal.addEventListener('abort', () => void news.publish('left'));
    const first = news.publish('first');
    await first;
    await flush();
    expect(slow.stream.closed).toBe(true);
    expect([...watcher.text().matchAll(/^data: (.*)$/gm)].map((m) => m[1])).toEqual(['queued', 'first', 'left']);
  });

  it('closes every stream with a random retry hint, sends later subscribers away, and rejects publishes', async () => {
    const registry = new ChannelRegistry({ closeRetry: { min: 2000, max: 2999 } });
    const clients = Array.from({ length: 20 }, (_, i) => {
      const c = client().read();
      registry.channel(`room:${i % 3}`).subscribe(c.stream);
      return c;
    });
    await Promise.all([registry.close(), registry.close()]);
    await flush();
    for (const c of clients) {
      expect(c.stream.closed).toBe(true);
      const retry = Number(/^retry: (\d+)$/m.exec(c.text())?.[1]);
      expect(retry).toBeGreaterThanOrEqual(2000);
      expect(retry).toBeLessThanOrEqual(2999);
    }
    expect(registry.names()).toEqual([]);
    const late = client().read();
    registry.channel('room:0').subscribe(late.stream);
    expect(late.stream.closed).toBe(true);
    await expect(registry.channel('room:0').publish('x')).rejects.toThrow(
      expect.objectContaining({ code: 'REGISTRY_CLOSED' }),
    );
  });
});

describe('Replay', () => {
  /**
   * A broker over MemoryBroker whose replays come a message a page, counting the pages read;
   * after `overtakeAfter` pages, history has moved on under the replay.
   */
  function pagedBroker(overtakeAfter = Number.POSITIVE_INFINITY) {
    const memory = new MemoryBroker();
    const stats = { replays: 0, pagesRead: 0 };
    const broker: Broker = {
      publish: (channel, event) => memory.publish(channel, event),
      subscribe: (channel, listener) => memory.subscribe(channel, listener),
      close: () => memory.close(),
      async replay(channel, lastEventId) {
        stats.replays++;
        const { gap, pages } = await memory.replay(channel, lastEventId);
        const messages: BrokerMessage[] = [];
        for await (const page of pages) messages.push(...page);
        async function* onePerPage() {
          for (const message of messages) {
            if (stats.pagesRead >= overtakeAfter) throw new SseError('REPLAY_OVERTAKEN', 'history moved on');
            stats.pagesRead++;
            yield [message];
          }
        }
        return { gap, pages: onePerPage() };
      },
    };
    return { broker, stats };
  }

  const until = async (check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  };

  it('reads history a page at a time, as the client takes it', async () => {
    const { broker, stats } = pagedBroker();
    const news = new ChannelRegistry({ broker }).channel('news');
    const published = [];
    for (let i = 0; i < 20; i++) published.push(await news.publish('x'.repeat(10_000)));
    // A client that reads nothing yet, with room for about one event.
    const c = client({ lastEventId: published[0], maxBufferedBytes: 16_384 }, 1024);
    news.subscribe(c.stream);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stats.pagesRead).toBeLessThanOrEqual(3);
    c.read();
    await until(() => ids(c.text()).length === 19);
    expect(ids(c.text())).toEqual(published.slice(1));
    expect(stats.pagesRead).toBe(19);
  });

  it('runs at most maxConcurrentReplays at once; the others wait their turn and miss nothing', async () => {
    const { broker, stats } = pagedBroker();
    const news = new ChannelRegistry({ broker, maxConcurrentReplays: 1 }).channel('news');
    const published = [];
    for (let i = 0; i < 20; i++) published.push(await news.publish('x'.repeat(10_000)));
    const stalled = client({ lastEventId: published[0], maxBufferedBytes: 16_384 }, 1024);
    news.subscribe(stalled.stream);
    const waiting = client({ lastEventId: published[0] }).read();
    news.subscribe(waiting.stream);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stats.replays).toBe(1);
    published.push(await news.publish('live'));
    await flush();
    expect(ids(waiting.text())).toEqual([]); // live events wait behind the replay
    stalled.stream.close(); // its turn ends with it
    await until(() => ids(waiting.text()).length === 20);
    expect(stats.replays).toBe(2);
    expect(ids(waiting.text())).toEqual(published.slice(1));
  });

  it('sends a client overtaken by history away to resume, and reports nothing', async () => {
    const { broker } = pagedBroker(2);
    const onError = vi.fn();
    const news = new ChannelRegistry({ broker, onError }).channel('news');
    const published = [];
    for (let i = 0; i < 5; i++) published.push(await news.publish(String(i)));
    const c = client({ lastEventId: published[0] }).read();
    news.subscribe(c.stream);
    await until(() => c.stream.closed);
    expect(ids(c.text())).toEqual(published.slice(1, 3));
    expect(c.text()).toMatch(/retry: \d+\n$/);
    expect(onError).not.toHaveBeenCalled();
  });

  it('refuses a maxConcurrentReplays that is not one', () => {
    for (const maxConcurrentReplays of [0, 1.5, Number.NaN]) {
      expect(() => new ChannelRegistry({ maxConcurrentReplays })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION' }),
      );
    }
  });
});
