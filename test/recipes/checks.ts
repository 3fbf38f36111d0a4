// The checks every fetch-style recipe (h3, Elysia) must pass, over real HTTP against the
// recipe's app as its users run it: headers, exact bytes, a client that leaves, resume after
// Last-Event-ID, fan-out to two clients, and the docs page showing the code that ran.
import { readFileSync } from 'node:fs';
import { openEvents } from '@ssekit/testing';
import { describe, expect, it } from 'vitest';

// The bytes of app.ts's SCRIPT, written out by hand so that a change in how core frames
// events shows here: the `retry:` line opens the stream, then one frame per event.
const SCRIPT_BYTES =
  'retry: 2000\n' +
  'event: greeting\nid: 1\ndata: hello\n\n' +
  'event: tick\nid: 2\ndata: {"n":2}\n\n' +
  'event: done\nid: 3\ndata: line one\ndata: line two\n\n';

/**
 * Defines the recipe checks for the app under test: `base()` is its URL with a trailing `/`
 * once it serves, `dir` the recipe's directory URL, `name` its page in docs/recipes.
 */
export function recipeChecks(title: string, name: string, dir: URL, base: () => string): void {
  async function stats(): Promise<{ open: number; ended: number }> {
    const response = await fetch(`${base()}stats`);
    return (await response.json()) as { open: number; ended: number };
  }

  /** Polls `GET /stats` until `done` holds; resolves with the milliseconds it took. */
  async function waitForStats(done: (s: { open: number; ended: number }) => boolean, ms = 2_000): Promise<number> {
    const from = performance.now();
    for (;;) {
      if (done(await stats())) return performance.now() - from;
      if (performance.now() - from > ms) throw new Error(`stats still ${JSON.stringify(await stats())} after ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async function publish(room: string, message: unknown): Promise<string> {
    const response = await fetch(`${base()}rooms/${room}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { id: string }).id;
  }

  describe(title, () => {
    it('sends the event-stream headers that core sets', async () => {
      const reader = await openEvents(`${base()}events`);
      expect(reader.status).toBe(200);
      expect(reader.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(reader.headers.get('cache-control')).toBe('no-cache, no-transform');
      expect(reader.headers.get('x-accel-buffering')).toBe('no');
      reader.close();
    });

    it('sends the script byte for byte', async () => {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new Error('script did not arrive within 2 s')), 2_000);
      const response = await fetch(`${base()}events`, { signal: abort.signal });
      const body = response.body?.getReader();
      const decoder = new TextDecoder();
      let text = '';
      try {
        while (body && !text.endsWith('data: line two\n\n')) {
          const { value, done } = await body.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
        }
      } finally {
        clearTimeout(timer);
        abort.abort();
      }
      expect(text).toBe(SCRIPT_BYTES);
    });

    it("aborts the handler's stream.signal within 1 s of the client leaving", async () => {
      await waitForStats((s) => s.open === 0);
      const { ended } = await stats();
      const reader = await openEvents(`${base()}events`);
      expect((await reader.take(3)).map((event) => event.id)).toEqual(['1', '2', '3']);
      await waitForStats((s) => s.open === 1);
      reader.close();
      const took = await waitForStats((s) => s.open === 0 && s.ended === ended + 1);
      console.log(`[recipe ${name}] stream.signal aborted ${Math.round(took)} ms after the client left`);
      expect(took).toBeLessThan(1_000);
    });

    it('resumes a channel after Last-Event-ID with exactly the events after it', async () => {
      const room = `resume-${Date.now()}`;
      const live = await openEvents(`${base()}rooms/${room}/events`, { json: true });
      const ids = [await publish(room, { n: 1 }), await publish(room, { n: 2 }), await publish(room, { n: 3 })];
      expect((await live.take(3)).map((event) => event.id)).toEqual(ids);
      live.close();

      const resumed = await openEvents(`${base()}rooms/${room}/events`, { json: true, lastEventId: ids[0] });
      const events = await resumed.collect({ ms: 300 });
      expect(events.map(({ id, data }) => ({ id, data }))).toEqual([
        { id: ids[1], data: { n: 2 } },
        { id: ids[2], data: { n: 3 } },
      ]);
    });

    it('delivers a channel event to two clients', async () => {
      const room = `pair-${Date.now()}`;
      const [first, second] = await Promise.all([
        openEvents(`${base()}rooms/${room}/events`, { json: true }),
        openEvents(`${base()}rooms/${room}/events`, { json: true }),
      ]);
      const id = await publish(room, { text: 'hi both' });
      for (const reader of [first, second]) {
        const event = await reader.next();
        expect({ id: event.id, data: event.data }).toEqual({ id, data: { text: 'hi both' } });
      }
    });

    it(`is the code docs/recipes/${name}.md shows`, () => {
      const read = (path: string, from: URL) => readFileSync(new URL(path, from), 'utf8');
      expect(read(`../../docs/recipes/${name}.md`, new URL('../', dir))).toContain(read('app.ts', dir).trimEnd());
    });
  });
}
