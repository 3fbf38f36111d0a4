// A real redis-server for tests: a throwaway directory, a free loopback port, append-only
// persistence with fsync on every write (so that a restart keeps every acknowledged event) or
// none at all, a stop that always runs, and no server left behind when this process exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Stops the server abruptly, as a crash would (SIGKILL), keeping its data directory. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /**
   * Append-only persistence with an fsync on every write, so that `restart()` keeps every
   * acknowledged event. `false` keeps nothing on disk: for a run that never restarts Redis
   * and writes too much for an fsync per write.
   * @default true
   */
  persist?: boolean;
  /** More `redis-server` arguments, e.g. `['--maxmemory', '2mb']`. */
  args?: string[];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitForPing(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode})`);
    const pong = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('error', () => resolve(false));
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
    });
    if (pong) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not answer PING within 10 s');
}

/** Starts redis-server (from Debian's package) for a test run. */
export async function startRedis({ persist = true, args: extra = [] }: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ssekit-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir];
  if (persist) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--save', '', '--appendonly', 'no');
  args.push(...extra);
  let child: ChildProcess;
  const launch = async () => {
    const server = spawn('redis-server', args, { stdio: 'ignore' });
    // A test runner that gives up on a run (a vitest timeout) skips its cleanup: the server
    // must not outlive this process.
    const killOnExit = () => server.kill('SIGKILL');
    process.once('exit', killOnExit);
    server.once('exit', () => process.off('exit', killOnExit));
    child = server;
    await waitForPing(port, server);
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    restart: launch,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
