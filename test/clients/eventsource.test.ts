// The `eventsource` package on Node, the spec-compliant client for servers and scripts,
// against the same app on Express, Koa and Hono: the baseline for what a client should see.
import { EventSource } from 'eventsource';
import { describe, expect, it } from 'vitest';
import { eventually, frameworks, heartbeats, type OnFinished, RETRY_MS, sleep, startServer } from './servers.js';

interface Received {
  event: string;
  data: string;
  id: string;
}

function open(url: string, onFinished: OnFinished) {
  const source = new EventSource(url);
  onFinished(() => source.close());
  const messages: Received[] = [];
  source.addEventListener('message', (event) => {
    messages.push({ event: event.type, data: event.data, id: event.lastEventId });
  });
  const has = (data: string) =>
    eventually(() => (messages.some((message) => message.data === data) ? true : undefined));
  return { source, messages, has };
}

describe.concurrent.each(frameworks)('eventsource 4.1.1 on Node, %s', (framework) => {
  it('dispatches no heartbeat, opening comment or retry', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const channel = open(`${server.url}/beat/a`, onTestFinished);
    const plain = open(`${server.url}/plain`, onTestFinished);
    const id = await server.publishAfterHeartbeats('a', channel);
    await plain.has('bye');
    expect(channel.messages).toEqual([{ event: 'message', data: 'one', id }]);
    expect(plain.messages).toEqual([
      { event: 'message', data: 'hello', id: 'p1' },
      { event: 'message', data: 'bye', id: 'p2' },
    ]);
    expect(heartbeats(server.requestsTo('/plain')[0]?.body ?? '')).toBeGreaterThanOrEqual(3);
  });

  it('resumes with Last-Event-ID after a drop, without loss', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const client = open(`${server.url}/channels/a`, onTestFinished);
    const second = await server.publishAcrossDrop('a', client);
    expect(client.messages.map(({ data }) => data)).toEqual(['1', '2', '3', '4']);
    expect(server.requestsTo('/channels/a')[1]?.header).toBe(second);
  });

  it('comes back after a clean end (maxLifetime) with Last-Event-ID, without loss', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const client = open(`${server.url}/lifetime/a`, onTestFinished);
    const first = await server.publishAcrossCleanEnd('a', client);
    expect(client.messages.map(({ data }) => data)).toEqual(['1', '2']);
    // Which request resumed depends on when maxLifetime ended the first stream (90–110%).
    expect(server.requestsTo('/lifetime/a').map(({ header }) => header)).toContain(first);
  });

  it('gives up for good when a reconnect is answered 503', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const { source } = open(`${server.url}/channels/a`, onTestFinished);
    await server.subscribers('a', 1);
    server.failNext(503);
    server.drop();
    await eventually(() => (source.readyState === EventSource.CLOSED ? true : undefined));
    await sleep(RETRY_MS * 4);
    expect(server.requestsTo('/channels/a').map(({ status }) => status)).toEqual([200, 503]);
  });

  it('stops for good at the 204 that answers a reconnect to an ended channel', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const { source } = open(`${server.url}/channels/a`, onTestFinished);
    await server.subscribers('a', 1);
    server.registry.end('a');
    await eventually(() => (source.readyState === EventSource.CLOSED ? true : undefined));
    await sleep(RETRY_MS * 4);
    expect(server.requestsTo('/channels/a').map(({ status }) => status)).toEqual([200, 204]);
  });
});
