// The framework-free channels() route: what its answers and its opening hold to whatever the
// broker's timing, the names asked for, or the order of calls.
import http from 'node:http';
import net from 'node:net';
import { type EventReader, openEvents } from '@ssekit/testing';
import { describe, expect, it } from 'vitest';
import { listenForTest, until } from '../test/helpers.js';
import { type Broker, type BrokerEvent, type BrokerMessage, MemoryBroker } from './broker.js';
import { ChannelRegistry, RELAY_CHANNEL } from './channel.js';
import { createChannelsRoute, readJsonBody, STREAM_EVENT } from './channels-route.js';
import { CursorKey } from './cursor.js';
import { createResponse } from './web.js';

const key = new CursorKey('the channels route test secret, 32 bytes+');

/** A route on `registry`, served to a reader by its fetch handler. */
function serve(registry: ChannelRegistry) {
  const route = createChannelsRoute<Request>(registry, { key }, (request) => request.url);
  const app = { fetch: (request: Request) => createResponse(request, (stream) => route.open(request, stream)) };
  const change = (body: unknown) => route.change(new Request('http://x/'), body);
  return { app, change };
}

async function opened(events: EventReader) {
  const first = await events.next();
  expect(first.event).toBe(STREAM_EVENT);
  return JSON.parse(String(first.data)) as { stream: string; channels: string[]; refused: unknown[] };
}

/** A MemoryBroker whose relay takes a network's time to subscribe, as Redis's does. */
class SlowRelayBroker implements Broker {
  readonly inner = new MemoryBroker();
  publish(channel: string, event: BrokerEvent) {
    return this.inner.publish(channel, event);
  }
  async subscribe(channel: string, listener: (message: BrokerMessage) => void) {
    if (channel === RELAY_CHANNEL) await new Promise((resolve) => setTimeout(resolve, 100));
    return this.inner.subscribe(channel, listener);
  }
  replay(channel: string, lastEventId: string) {
    return this.inner.replay(channel, lastEventId);
  }
  newestId(channel: string) {
    return this.inner.newestId(channel);
  }
  close() {
    return this.inner.close();
  }
}

describe('createChannelsRoute', () => {
  it('opens with ssekit-stream before any event of its channels, however long the relay takes', async () => {
    const registry = new ChannelRegistry({ broker: new SlowRelayBroker() });
    const { app } = serve(registry);
    const events = await openEvents(app, { path: '/?channels=news' });
    await until(() => (registry.get('news')?.size === 1 ? true : undefined));
    await registry.channel('news').publish('breaking');
    expect(await opened(events)).toMatchObject({ channels: ['news'] });
    expect((await events.next()).data).toBe('news\nbreaking');
  });

  it('refuses alone, with 413, each channel whose name the cursor has no room for', async () => {
    const registry = new ChannelRegistry();
    const { app } = serve(registry);
    const long = Array.from({ length: 12 }, (_, i) => `${'é'.repeat(40)}${i}`);
    const events = await openEvents(app, { path: `/?channels=short,${long.map(encodeURIComponent).join(',')}` });
    const { channels, refused } = await opened(events);
    expect(channels[0]).toBe('short');
    expect(channels.length).toBeGreaterThan(1);
    expect(refused).toEqual(long.slice(channels.length - 1).map((channel) => ({ channel, status: 413 })));
    await registry.channel('short').publish('still here');
    expect((await events.next()).data).toBe('short\nstill here');
  });

  it('applies each subscribe call whole: two at once end as if one came after the other', async () => {
    const registry = new ChannelRegistry();
    const { app, change } = serve(registry);
    const events = await openEvents(app, { path: '/?channels=x,y' });
    const { stream } = await opened(events);
    const [first, second] = await Promise.all([
      change({ stream, subscribe: ['x'], unsubscribe: ['y'] }),
      change({ stream, subscribe: ['y'], unsubscribe: ['x'] }),
    ]);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(registry.names()).toEqual(['y']); // the second call came last, whole
  });

  it('reads a body cut off by a client that left as no body, not as an error', async () => {
    const errors: unknown[] = [];
    const read = new Promise<unknown>((resolve) => {
      const server = http.createServer((req) => readJsonBody(req).then(resolve, (error) => errors.push(error)));
      void listenForTest(server).then(({ url }) => {
        const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
        socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"s');
        setTimeout(() => socket.destroy(), 50);
      });
    });
    expect(await read).toBeUndefined();
    expect(errors).toEqual([]);
  });
});
