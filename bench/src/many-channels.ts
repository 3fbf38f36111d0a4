/**
 * What a stream of many channels costs (issue 19): server heap and RSS per (stream, channel)
 * pair, beside streams of one channel, and the bytes of the cursor each event carries.
 * 2,000 streams that follow 1, 10 and 30 channels through followChannels, and 2,000 that
 * subscribe to one channel by hand, each in a fresh server process; medians of 3.
 *
 * `pnpm --filter @ssekit/bench bench:many-channels` (under a minute). Options: --streams N, --runs N.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { streams: { type: 'string', default: '2000' }, runs: { type: 'string', default: '3' } },
});
const STREAMS = Number(values.streams);
const RUNS = Number(values.runs);
const DEADLINE = Date.now() + 5 * 60_000;

interface Report {
  heapUsed: number;
  rss: number;
  open: number;
}

function start(): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(new URL('./many-channels-server.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
  });
  return new Promise((resolve) =>
    child.once('message', (message: { port: number }) => resolve({ child, port: message.port })),
  );
}

function ask<T>(child: ChildProcess, message: object, answer: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (reply: { type: string; report?: T }) => {
      if (reply.type !== answer) return;
      child.off('message', onMessage);
      resolve(reply.report as T);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

/** Opens a stream; resolves with its socket and every byte it receives, once the head arrived. */
function open(port: number, path: string): Promise<{ socket: Socket; text: () => string }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const first = text === '';
      text += chunk;
      if (first) resolve({ socket, text: () => text });
    });
    socket.once('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** Server memory with `STREAMS` streams open on `path(i)`, minus the same server with none. */
async function measure(path: (i: number) => string) {
  const { child, port } = await start();
  const before = await ask<Report>(child, { type: 'report' }, 'report');
  const streams = [];
  for (let i = 0; i < STREAMS; i += 200) {
    if (Date.now() > DEADLINE) throw new Error('over the time bound');
    const batch = Array.from({ length: Math.min(200, STREAMS - i) }, (_, j) => open(port, path(i + j)));
    streams.push(...(await Promise.all(batch)));
  }
  const after = await ask<Report>(child, { type: 'report' }, 'report');
  // One event on channel c0: the bytes a stream receives for it, cursor included.
  const sample = streams[0];
  const received = sample?.text().length ?? 0;
  await ask(child, { type: 'publish', channel: 'c0' }, 'published');
  while (sample && sample.text().length === received && Date.now() < DEADLINE)
    await new Promise((r) => setTimeout(r, 5));
  const eventBytes = (sample?.text().length ?? 0) - received;
  for (const { socket } of streams) socket.destroy();
  child.kill();
  if (after.open !== STREAMS) throw new Error(`${after.open} of ${STREAMS} streams were open`);
  return { heap: (after.heapUsed - before.heapUsed) / STREAMS, rss: (after.rss - before.rss) / STREAMS, eventBytes };
}

const channels = (count: number) => Array.from({ length: count }, (_, c) => `c${c}`).join(',');
const variants: [string, number, (i: number) => string][] = [
  ['one channel, subscribed by hand', 1, () => '/?plain=c0'],
  ['followChannels, 1 channel', 1, () => `/?channels=${channels(1)}`],
  ['followChannels, 10 channels', 10, () => `/?channels=${channels(10)}`],
  ['followChannels, 30 channels', 30, () => `/?channels=${channels(30)}`],
];
const rows: string[] = [];
const results = new Map<string, { heap: number; rss: number; eventBytes: number }>();
for (const [name, count, path] of variants) {
  const runs = [];
  for (let run = 0; run < RUNS; run++) runs.push(await measure(path));
  const result = {
    heap: median(runs.map((r) => r.heap)),
    rss: median(runs.map((r) => r.rss)),
    eventBytes: median(runs.map((r) => r.eventBytes)),
  };
  results.set(name, result);
  const spread = Math.max(...runs.map((r) => r.heap)) - Math.min(...runs.map((r) => r.heap));
  rows.push(
    `| ${name} | ${count} | ${(result.heap / 1024).toFixed(2)} | ±${(spread / 2048).toFixed(2)} | ${(result.rss / 1024).toFixed(2)} | ${result.eventBytes} |`,
  );
}
const one = results.get('followChannels, 1 channel');
const ten = results.get('followChannels, 10 channels');
const thirty = results.get('followChannels, 30 channels');
console.log(`## Many channels on one stream: ${STREAMS} streams, medians of ${RUNS}, ${new Date().toISOString()}\n`);
console.log('| streams that | channels each | heap KB/stream | heap spread | RSS KB/stream | bytes of one event |');
console.log('| --- | --: | --: | --: | --: | --: |');
for (const row of rows) console.log(row);
if (one && ten && thirty) {
  const pair = (a: typeof one, b: typeof one, n: number) => ((b.heap - a.heap) / n / 1024).toFixed(2);
  console.log(
    `\nHeap per added (stream, channel) pair: ${pair(one, ten, 9)} KB (1 → 10 channels), ${pair(ten, thirty, 20)} KB (10 → 30).`,
  );
}
