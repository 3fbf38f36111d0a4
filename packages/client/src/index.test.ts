// The client's bookkeeping against a scripted EventSource and fetch; test/browser.test.ts runs
// it in Chromium against the real routes.
import { describe, expect, it } from 'vitest';
import { type ChannelRefusal, ChannelsClient } from './index.js';

/** An EventSource the test speaks for: it announces streams and sends events when told. */
class ScriptedSource extends EventTarget {
  static opened: ScriptedSource[] = [];
  readyState = 1;
  constructor(readonly url: URL) {
    super();
    ScriptedSource.opened.push(this);
  }
  close() {
    this.readyState = 2;
  }
  announce(stream: string, channels: string[], refused: ChannelRefusal[] = [], id = '') {
    const data = JSON.stringify({ stream, channels, refused });
    this.dispatchEvent(new MessageEvent('ssekit-stream', { data, lastEventId: id }));
  }
  changed(channels: string[], id: string) {
    this.dispatchEvent(new MessageEvent('ssekit-channels', { data: JSON.stringify({ channels }), lastEventId: id }));
  }
  send(channel: string, data: unknown, event = 'message', id = 'cursor') {
    this.dispatchEvent(new MessageEvent(event, { data: `${channel}\n${JSON.stringify(data)}`, lastEventId: id }));
  }
  drop() {
    this.dispatchEvent(new Event('error'));
  }
}

type Answer = (body: { stream: string; subscribe: string[]; unsubscribe: string[] }) => Response;

/** A client over a scripted source; `answer` plays the subscribe route (default: accept all). */
function scripted(answer?: Answer) {
  ScriptedSource.opened = [];
  const calls: { stream: string; subscribe: string[]; unsubscribe: string[] }[] = [];
  const refused: ChannelRefusal[] = [];
  const client = new ChannelsClient({
    url: 'http://test/events',
    EventSource: ScriptedSource as unknown as typeof EventSource,
    fetch: async (_url, init) => {
      const body = JSON.parse(String(init?.body));
      calls.push(body);
      if (answer) return answer(body);
      return Response.json({ subscribed: body.subscribe, unsubscribed: body.unsubscribe, refused: [] });
    },
    onRefused: (refusal) => refused.push(refusal),
  });
  const source = () => ScriptedSource.opened.at(-1) as ScriptedSource;
  return { client, calls, refused, source };
}

const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('ChannelsClient', () => {
  it('opens one connection for the channels subscribed in one task, and routes each event to its handlers', async () => {
    const { client, source } = scripted();
    const received: string[] = [];
    client.subscribe('a', (e) => received.push(`a: ${e.channel} ${e.event} ${JSON.stringify(e.data)} ${e.id}`));
    client.subscribe('b', (e) => received.push(`b: ${e.event} ${JSON.stringify(e.data)}`), { events: ['said'] });
    await settled();
    expect(ScriptedSource.opened).toHaveLength(1);
    expect(source().url.href).toBe('http://test/events?channels=a%2Cb');
    source().send('a', { n: 1 });
    source().send('b', { n: 2 }); // a `message`: b's handler takes only `said`
    source().send('b', { n: 3 }, 'said');
    source().send('c', { n: 4 }); // no one subscribed
    expect(received).toEqual(['a: a message {"n":1} cursor', 'b: said {"n":3}']);
    client.close();
  });

  it('sends later changes once the stream is named, one call at a time, coalesced', async () => {
    const { client, calls, source } = scripted();
    client.subscribe('a', () => {});
    await settled();
    client.subscribe('b', () => {});
    await settled();
    expect(calls).toEqual([]); // no stream id yet
    source().announce('s1', ['a']);
    client.subscribe('c', () => {});
    client.unsubscribe('a');
    await settled();
    expect(calls).toEqual([{ stream: 's1', subscribe: ['b', 'c'], unsubscribe: ['a'] }]);
    client.close();
  });

  it('reconciles after each new stream: subscribes what it lacks, unsubscribes what is no longer wanted', async () => {
    const { client, calls, source } = scripted();
    client.subscribe('a', () => {});
    client.subscribe('b', () => {});
    await settled();
    source().announce('s1', ['a', 'b']);
    await settled();
    client.unsubscribe('b');
    await settled();
    source().drop(); // the EventSource reconnects by itself
    client.subscribe('c', () => {});
    await settled();
    expect(calls).toEqual([{ stream: 's1', subscribe: [], unsubscribe: ['b'] }]);
    // The URL asks for b again; c was added while down.
    source().announce('s2', ['a', 'b']);
    await settled();
    expect(calls.at(-1)).toEqual({ stream: 's2', subscribe: ['c'], unsubscribe: ['b'] });
    expect(ScriptedSource.opened).toHaveLength(1);
    client.close();
  });

  it('after a failed call, waits for the next stream instead of asking again', async () => {
    const { client, calls, source } = scripted(() => new Response(null, { status: 404 }));
    client.subscribe('a', () => {});
    await settled();
    source().announce('s1', ['a']);
    client.subscribe('b', () => {});
    await settled();
    client.subscribe('c', () => {});
    await settled();
    expect(calls).toEqual([{ stream: 's1', subscribe: ['b'], unsubscribe: [] }]);
    source().announce('s2', ['a']);
    await settled();
    expect(calls.at(-1)).toEqual({ stream: 's2', subscribe: ['b', 'c'], unsubscribe: [] });
    client.close();
  });

  it('reports a refused channel once and leaves it out until it is subscribed again', async () => {
    const { client, calls, refused, source } = scripted(({ subscribe }) =>
      Response.json({
        subscribed: [],
        unsubscribed: [],
        refused: subscribe.map((channel) => ({ channel, status: 403 })),
      }),
    );
    client.subscribe('a', () => {});
    client.subscribe('secret', () => {});
    await settled();
    source().announce('s1', ['a'], [{ channel: 'secret', status: 401 }]);
    await settled();
    source().announce('s2', ['a'], [{ channel: 'secret', status: 401 }]);
    await settled();
    expect(refused).toEqual([{ channel: 'secret', status: 401 }]);
    expect(calls).toEqual([]);
    client.subscribe('secret', () => {}); // asks again, once
    await settled();
    await settled();
    expect(calls).toEqual([{ stream: 's2', subscribe: ['secret'], unsubscribe: [] }]);
    expect(refused).toEqual([
      { channel: 'secret', status: 401 },
      { channel: 'secret', status: 403 },
    ]);
    client.close();
  });

  it('tells a subscription when its channel is followed from now: at open, by a call, when a reconnect did not resume it', async () => {
    const { client, source } = scripted();
    const follows: string[] = [];
    const onFollow = (channel: string) => follows.push(channel);
    client.subscribe('a', () => {}, { onFollow });
    await settled();
    source().announce('s1', ['a']);
    client.subscribe('b', () => {}, { onFollow });
    await settled();
    expect(follows).toEqual(['a', 'b']);
    // A second handler of a followed channel: at once, since it missed what came before.
    client.subscribe('a', () => {}, { onFollow: (channel) => follows.push(`again ${channel}`) });
    await settled();
    expect(follows).toEqual(['a', 'b', 'again a']);
    // The cursor resumed a, but did not carry b: b is subscribed again, from now.
    source().send('a', 'an event, with a cursor');
    source().drop();
    source().announce('s2', ['a']);
    await settled();
    expect(follows).toEqual(['a', 'b', 'again a', 'b']);
    client.close();
  });

  it('takes every channel as followed from now after a reconnect that had no cursor to send', async () => {
    const { client, source } = scripted();
    const follows: string[] = [];
    client.subscribe('a', () => {}, { onFollow: (channel) => follows.push(channel) });
    await settled();
    source().announce('s1', ['a']);
    // No event yet, so no Last-Event-ID: the server cannot resume a.
    source().drop();
    source().announce('s2', ['a']);
    expect(follows).toEqual(['a', 'a']);
    client.close();
  });

  it('reopens from the cursor a call answered with when the connection drops before that change reached it', async () => {
    const cursors = ['after b', 'after c'];
    const { client, source } = scripted((body) =>
      Response.json({ subscribed: body.subscribe, unsubscribed: [], refused: [], cursor: cursors.shift() }),
    );
    client.subscribe('a', () => {});
    await settled();
    source().announce('s1', ['a'], [], 'opened');
    client.subscribe('b', () => {});
    await settled();
    source().changed(['a', 'b'], 'after b'); // arrived: the browser's own cursor has the change
    source().drop();
    expect(ScriptedSource.opened).toHaveLength(1);
    source().announce('s2', ['a', 'b'], [], 'reopened');
    client.subscribe('c', () => {});
    await settled();
    source().drop(); // before `after c` arrived
    expect(ScriptedSource.opened).toHaveLength(2);
    expect(source().url.searchParams.get('lastEventId')).toBe('after c');
    expect(source().url.searchParams.get('channels')).toBe('a,b,c');
    expect(ScriptedSource.opened[0]?.readyState).toBe(2);
    client.close();
  });

  it("reports a gap to that channel's subscribers alone", async () => {
    const { client, source } = scripted();
    const gaps: string[] = [];
    client.subscribe('a', () => {}, {
      onGap: (gap) => gaps.push(`a: ${gap.channel} ${gap.reason} ${gap.lastEventId}`),
    });
    client.subscribe('b', () => {}, { onGap: (gap) => gaps.push(`b: ${gap.channel}`) });
    await settled();
    source().dispatchEvent(
      new MessageEvent('ssekit-gap', { data: `a\n${JSON.stringify({ lastEventId: 'old', reason: 'expired' })}` }),
    );
    expect(gaps).toEqual(['a: a expired old']);
    client.close();
  });

  it('closes the connection when the last channel is left, and opens a new one on the next subscribe', async () => {
    const { client, source } = scripted();
    expect(client.readyState).toBe(2);
    const leave = client.subscribe('a', () => {});
    await settled();
    const first = source();
    expect(client.readyState).toBe(1);
    leave();
    await settled();
    expect(first.readyState).toBe(2);
    expect(client.readyState).toBe(2);
    client.subscribe('b', () => {});
    await settled();
    expect(ScriptedSource.opened).toHaveLength(2);
    expect(source().url.searchParams.get('channels')).toBe('b');
    client.close();
    expect(source().readyState).toBe(2);
  });
});
