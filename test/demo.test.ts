// `pnpm demo` is the README's first command: it must start, print its URL, and serve a page
// whose streams work, with no service besides Node.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../packages/core/test/helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Stops `child`'s whole process group, even when `child` itself has exited already. */
async function stopGroup(child: ChildProcess) {
  const signal = (name: NodeJS.Signals | 0) => {
    try {
      if (child.pid) process.kill(-child.pid, name);
      return true;
    } catch {
      return false; // the group is gone
    }
  };
  if (!signal('SIGTERM')) return;
  for (let waited = 0; waited < 5_000; waited += 50) {
    if (!signal(0)) return; // 0 only asks whether the group still exists
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  signal('SIGKILL');
}

describe('pnpm demo', () => {
  it('prints a URL that serves the chat, live', async () => {
    const demo = spawn('pnpm', ['demo'], {
      cwd: root,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true, // its own process group: pnpm, tsx and node all stop together
    });
    afterThisTest(() => stopGroup(demo));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      demo.stdout.setEncoding('utf8').on('data', (text: string) => {
        out += text;
        const match = /ssekit chat: (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
        if (match?.[1]) resolve(match[1]);
      });
      demo.once('error', reject); // no pnpm on the PATH
      demo.once('exit', (code) => reject(new Error(`pnpm demo exited (${code}):\n${out}`)));
    });

    expect(await (await fetch(url)).text()).toContain('<title>ssekit chat</title>');
    // One stream for the rooms a page joined; it opens with the stream's id once it follows them.
    const source = new EventSource(`${url}/events?channels=room:general`);
    afterThisTest(() => source.close());
    await new Promise((resolve) => source.addEventListener('ssekit-stream', resolve));
    const received = new Promise<MessageEvent>((resolve) => source.addEventListener('message', resolve));
    const posted = await fetch(`${url}/rooms/general/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'demo', text: 'it works' }),
    });
    expect(posted.status).toBe(201);
    // Each event names its room in its first data line.
    const [room, data = ''] = (await received).data.split('\n');
    expect(room).toBe('room:general');
    expect(JSON.parse(data)).toMatchObject({ name: 'demo', text: 'it works' });
  }, 30_000);
});
