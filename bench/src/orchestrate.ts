/**
 * Runs one variant through one scenario: a server process and a load-generator process,
 * both killed at the end, whatever happens.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  type ClientReport,
  DEFAULT_PAD_BYTES,
  type FromClient,
  type FromServer,
  type Scenario,
  type ServerReport,
  type ToClient,
  type ToServer,
} from './shared.js';

const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));
const CLIENT = fileURLToPath(new URL('./client.ts', import.meta.url));
const EXEC_ARGV = ['--import', 'tsx', '--expose-gc'];
/** Extra Node flags for server processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile one. */
const SERVER_FLAGS = process.env.BENCH_SERVER_FLAGS?.split(' ').filter(Boolean) ?? [];
/** Node flags that make `@ssekit/*` resolve to their build (dist), as published. */
export const FROM_DIST = ['--import', fileURLToPath(new URL('./ssekit-from-dist.mjs', import.meta.url))];

/** Where server processes take ssekit from: its build, as published, or its TypeScript source. */
export type SsekitFrom = 'dist' | 'src';

export interface RunResult {
  client?: ClientReport;
  server?: ServerReport;
  /** The same scenario without the stalled streams, when the scenario compares. */
  withoutStalled?: ClientReport;
  failure?: string;
}

class Peer<In, Out extends { type: string }> {
  readonly #child: ChildProcess;
  readonly #inbox: Out[] = [];
  #waiter: (() => void) | undefined;
  #exit: string | undefined;

  constructor(file: string, args: string[], flags: string[] = []) {
    this.#child = fork(file, args, {
      execArgv: [...EXEC_ARGV, ...flags],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (message: Out) => {
      this.#inbox.push(message);
      this.#waiter?.();
    });
    this.#child.on('exit', (code, signal) => {
      this.#exit = `${file.split('/').pop()} exited (${signal ?? code})`;
      this.#waiter?.();
    });
  }

  send(message: In): void {
    this.#child.send(message as object);
  }

  async next<T extends Out['type']>(type: T, timeoutMs: number): Promise<Extract<Out, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#inbox.findIndex((message) => message.type === type || message.type === 'error');
      if (index >= 0) {
        const [message] = this.#inbox.splice(index, 1) as [Out];
        if (message.type === 'error') throw new Error((message as unknown as { message: string }).message);
        return message as Extract<Out, { type: T }>;
      }
      if (this.#exit) throw new Error(this.#exit);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${type}" within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
  }

  /** Ends the process: SIGTERM first, so that a `--cpu-prof` profile is written, then SIGKILL. */
  kill(): void {
    this.#child.kill('SIGTERM');
    setTimeout(() => this.#child.kill('SIGKILL'), 3000).unref();
  }
}

const SETUP_MS = 60_000;

async function measure(variant: string, scenario: Scenario, stalled: number, from: SsekitFrom): Promise<RunResult> {
  const flags = from === 'dist' ? [...FROM_DIST, ...SERVER_FLAGS] : SERVER_FLAGS;
  const server = new Peer<ToServer, FromServer>(SERVER, [variant], flags);
  const client = new Peer<ToClient, FromClient>(CLIENT, []);
  try {
    const { port } = await server.next('listening', SETUP_MS);
    const idle = scenario.events === 0;
    if (idle) {
      server.send({ type: 'baseline' });
      await server.next('baseline', SETUP_MS);
    }
    const latency = scenario.pace.kind === 'rate';
    client.send({ type: 'connect', port, streams: scenario.streams, stalled, latency });
    await client.next('connected', SETUP_MS);
    await allOpen(server, scenario.streams + stalled);
    if (idle) {
      server.send({ type: 'report', idle: true });
      return { server: (await server.next('report', SETUP_MS)).report };
    }
    client.send({ type: 'start', events: scenario.events, timeoutMs: scenario.timeoutMs });
    const padBytes = scenario.padBytes ?? DEFAULT_PAD_BYTES;
    server.send({ type: 'start', events: scenario.events, pace: scenario.pace, padBytes });
    const { report } = await client.next('done', scenario.timeoutMs + SETUP_MS);
    server.send({ type: 'report', idle: false });
    const serverReport = (await server.next('report', SETUP_MS)).report;
    return { client: report, server: serverReport, failure: report.failure };
  } catch (error) {
    return { failure: (error as Error).message };
  } finally {
    server.kill();
    client.kill();
  }
}

// Libraries that open their sessions asynchronously count them a little after the client
// has its response head.
async function allOpen(server: Peer<ToServer, FromServer>, expected: number): Promise<void> {
  const deadline = Date.now() + SETUP_MS;
  for (;;) {
    server.send({ type: 'count' });
    const { open } = await server.next('count', SETUP_MS);
    if (open >= expected) return;
    if (Date.now() > deadline) throw new Error(`only ${open} of ${expected} streams opened`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One measured run of `variant` in `scenario` (two for a scenario that compares). */
export async function runOnce(variant: string, scenario: Scenario, from: SsekitFrom): Promise<RunResult> {
  const result = await measure(variant, scenario, scenario.stalled ?? 0, from);
  if (!scenario.compareWithoutStalled || result.failure) return result;
  const baseline = await measure(variant, scenario, 0, from);
  if (baseline.failure) return { ...result, failure: `without the stalled stream: ${baseline.failure}` };
  return { ...result, withoutStalled: baseline.client };
}
