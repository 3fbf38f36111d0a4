import { availableParallelism } from 'node:os';
import { createHistogram } from 'node:perf_hooks';
import { readMetrics } from '@ssekit/core';

/** One reading of the server, as the page draws it. */
export interface Sample {
  /** When it was taken, ms since the epoch. */
  at: number;
  /** CPU time this process used over the interval, in % of one core (can pass 100). */
  cpu: number;
  /** Cores the process may use: the CPU chart's natural ceiling is `cores * 100`. */
  cores: number;
  /** Resident set size, MiB. */
  rss: number;
  /** V8 heap in use and reserved, MiB. */
  heapUsed: number;
  heapTotal: number;
  /** Event loop delay over the interval, ms: median, 99th percentile and worst. */
  loopP50: number;
  loopP99: number;
  loopMax: number;
  /** Event streams open in this process, dashboards included (ssekit's own gauge). */
  openStreams: number;
}

const MiB = 1024 * 1024;
const LOOP_TICK_MS = 10;
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * Measures the process every `intervalMs` and hands each sample to `onSample`. Each sample
 * covers the interval since the previous one; `stop` releases the timer and the histogram.
 */
export function startSampler(intervalMs: number, onSample: (sample: Sample) => void): { stop: () => void } {
  // Event loop delay: how late a 10 ms timer fires. Measured here rather than with
  // monitorEventLoopDelay, whose reset() also forgets when it last ticked, so that a block
  // starting right after a sample was lost from every sample.
  const loop = createHistogram();
  let lastTick = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    loop.record(Math.max(1, Math.round((now - lastTick - LOOP_TICK_MS) * 1e6)));
    lastTick = now;
  }, LOOP_TICK_MS);
  let cpuBefore = process.cpuUsage();
  let before = performance.now();

  const sample = (): Sample => {
    const now = performance.now();
    const cpu = process.cpuUsage(cpuBefore);
    const memory = process.memoryUsage();
    // The histogram is in ns; an interval may have recorded nothing yet.
    const delay = (value: number) => (loop.count > 0 ? round(value / 1e6) : 0);
    const reading: Sample = {
      at: Date.now(),
      cpu: round(((cpu.user + cpu.system) / 1000 / (now - before)) * 100),
      cores: availableParallelism(),
      rss: round(memory.rss / MiB),
      heapUsed: round(memory.heapUsed / MiB),
      heapTotal: round(memory.heapTotal / MiB),
      loopP50: delay(loop.percentile(50)),
      loopP99: delay(loop.percentile(99)),
      loopMax: delay(loop.max),
      openStreams: readMetrics().openStreams,
    };
    loop.reset();
    cpuBefore = process.cpuUsage();
    before = now;
    return reading;
  };

  const timer = setInterval(() => onSample(sample()), intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      clearInterval(ticker);
    },
  };
}
