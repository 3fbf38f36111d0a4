// The README's quick starts are whole servers that people paste and run: run each one as
// written (on a free port instead of 3000) and read its stream with a real client.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../packages/core/test/helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');
const snippets = [...readme.matchAll(/<!-- readme-snippet: (\w+) -->\n```ts\n([\s\S]*?)```/g)].map(
  ([, name = '', code = '']) => ({ name, code }),
);

function freePort() {
  return new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on `port`. */
async function listening(port: number) {
  for (;;) {
    const open = await new Promise<boolean>((resolve) =>
      connect(port, '127.0.0.1')
        .once('connect', function (this: Socket) {
          this.destroy();
          resolve(true);
        })
        .once('error', () => resolve(false)),
    );
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The first `tick` event of a client that sends `lastEventId` (if any) on connecting. */
function firstTick(url: string, lastEventId?: string) {
  const source = new EventSource(url, {
    fetch: (input, init) =>
      fetch(input, { ...init, headers: { ...init.headers, ...(lastEventId && { 'last-event-id': lastEventId }) } }),
  });
  afterThisTest(() => source.close());
  return new Promise<MessageEvent>((resolve) => source.addEventListener('tick', resolve));
}

describe('README quick starts', () => {
  it('has one per framework', () => {
    expect(snippets.map(({ name }) => name)).toEqual(['express', 'koa', 'fastify', 'hono', 'node']);
  });

  it.each(snippets)(
    '$name runs as written and streams resumable ticks',
    async ({ name, code }) => {
      const port = await freePort();
      const file = `${root}test/.readme-${name}.ts`;
      writeFileSync(file, code.replaceAll('3000', String(port)));
      const child: ChildProcess = spawn(`${root}node_modules/.bin/tsx`, [file], { stdio: 'inherit' });
      afterThisTest(() => {
        child.kill();
        rmSync(file, { force: true });
      });

      const exited = new Promise<never>((_, reject) =>
        child.once('exit', (code) => reject(new Error(`the ${name} snippet exited with code ${code}`))),
      );
      exited.catch(() => {});
      await Promise.race([listening(port), exited]);
      const url = `http://127.0.0.1:${port}/events`;
      const tick = await Promise.race([firstTick(url), exited]);
      expect(tick.data).toBe('{"n":1}');
      expect(tick.lastEventId).toBe('1');
      const resumed = await firstTick(url, '41');
      expect(resumed.data).toBe('{"n":42}');
    },
    30_000,
  );
});
