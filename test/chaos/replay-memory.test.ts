// The replay memory bound (issue 16 §2), short: stalled clients resuming from the oldest id
// of a long Redis history must cost the server about what live streams cost, not the history.
// The long version (1,000 events of 100 KB; 1 and 50 stalled replays) is `pnpm chaos -- --run replay`.
import { describe, expect, it } from 'vitest';
import { formatFigure, measureReplayMemory } from './replay-memory.js';

describe('replay memory', () => {
  it('holds about a buffer and a page per stalled replay, however long the history', async () => {
    const report = await measureReplayMemory({
      events: 200,
      eventBytes: 100_000,
      stalled: [10],
      holdMs: 2_000,
      log: (line) => console.log(`[replay-memory] ${line}`),
    });
    const [figure] = report.figures;
    if (!figure) throw new Error('no figure');
    console.log(`[replay-memory] ${formatFigure(figure)} (history ${report.historyBytes / 1e6} MB)`);
    expect(figure.started).toBe(10);
    // Read whole, ten replays of a 20 MB history would hold 200 MB; each may hold its buffer
    // bound, a page and an event (under 1 MB), and the process's allocator keeps some slack.
    expect(figure.peakRssGrowth).toBeLessThan(60e6);
    expect(figure.heapGrowth + figure.externalGrowth).toBeLessThan(20e6);
  }, 120_000);
});
