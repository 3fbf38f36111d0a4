import { afterEach, describe, expect, it, vi } from 'vitest';

// The runtime is read once, when the module loads: each case loads it afresh under a stub.
async function loadHeartbeatOn(userAgent: string | undefined) {
  vi.resetModules();
  if (userAgent !== undefined) vi.stubGlobal('navigator', { userAgent });
  return import('./heartbeat.js');
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('planHeartbeat', () => {
  it('checks twice per period and cuts a stalled client off after four periods', async () => {
    const { planHeartbeat } = await loadHeartbeatOn(undefined);
    expect(planHeartbeat(8_000)).toEqual({ checkEvery: 4_000, cutOffAfterChecks: 8 });
    expect(planHeartbeat(false)).toBeUndefined();
  });

  it('on workerd, leaves no stream silent for more than 500 ms, and keeps the stall time', async () => {
    const { planHeartbeat } = await loadHeartbeatOn('Cloudflare-Workers');
    expect(planHeartbeat(8_000)).toEqual({ checkEvery: 250, cutOffAfterChecks: 128 });
    expect(planHeartbeat(400)).toEqual({ checkEvery: 200, cutOffAfterChecks: 8 });
    expect(planHeartbeat(false)).toEqual({ checkEvery: 250, cutOffAfterChecks: Number.POSITIVE_INFINITY });
  });
});

// Shared timers per period are tested through SseStream in stream.test.ts.
describe('heartbeat checks', () => {
  it('give each stream its own timer on workerd, where a timer belongs to one request', async () => {
    vi.useFakeTimers();
    const { startHeartbeatChecks, stopHeartbeatChecks } = await loadHeartbeatOn('Cloudflare-Workers');
    const [first, second] = [{}, {}];
    const check = vi.fn();
    startHeartbeatChecks(100, first, check);
    startHeartbeatChecks(100, second, check);
    expect(vi.getTimerCount()).toBe(2);
    vi.advanceTimersByTime(100);
    expect(check.mock.calls).toEqual([[first], [second]]);
    stopHeartbeatChecks(100, first);
    stopHeartbeatChecks(100, first);
    expect(vi.getTimerCount()).toBe(1);
    stopHeartbeatChecks(100, second);
    expect(vi.getTimerCount()).toBe(0);
  });
});
