// Runs the test Worker (fixture/worker.ts) in workerd from npm, the pinned binary of the
// runtime matrix: two Worker services bound to one Durable Object namespace with SQLite
// storage on disk, in a directory that outlives a restart.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { binary, listeningSocket } from '../../../test/runtimes/launch.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Bundles a Worker as Wrangler does: Web APIs only, `cloudflare:` modules left to the runtime. */
export async function bundleWorker(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker'],
    external: ['cloudflare:*'],
    target: 'es2022',
    logLevel: 'error',
  });
}

function config(): string {
  const worker = (service: string, namespace: string) => `(
  modules = [(name = "worker", esModule = embed "worker.js")],
  compatibilityDate = "2026-11-01",
  bindings = [(name = "CHANNELS", durableObjectNamespace = ${namespace}), (name = "SERVICE", text = "${service}")],
  ${service === 'main' ? 'durableObjectNamespaces = [(className = "TestChannel", uniqueKey = "ssekit-test-channels", enableSql = true)],\n  durableObjectStorage = (localDisk = "do-disk"),' : ''}
)`;
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .main),
    (name = "second", worker = .second),
    (name = "do-disk", disk = (path = "do-disk", writable = true)),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:0", http = (), service = "main"),
    (name = "http2", address = "127.0.0.1:0", http = (), service = "second"),
  ],
);
const main :Workerd.Worker = ${worker('main', '"TestChannel"')};
const second :Workerd.Worker = ${worker('second', '(serviceName = "main", className = "TestChannel")')};
`;
}

export interface Workerd {
  /** The first Worker service, which defines the namespace. */
  readonly url: string;
  /** The second Worker service, bound to the first one's namespace. */
  readonly secondUrl: string;
  readonly pid: number;
  stderr(): string;
  /** Kills the process at once, as a crash or an eviction of the whole machine would. */
  kill(): Promise<void>;
}

/** A directory for the bundle and the objects' storage, kept across restarts. */
export async function prepare(): Promise<{ dir: string; remove: () => void }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ssekit-workerd-'));
  mkdirSync(path.join(dir, 'do-disk'));
  await bundleWorker(path.join(here, 'fixture/worker.ts'), path.join(dir, 'worker.js'));
  writeFileSync(path.join(dir, 'config.capnp'), config());
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

async function answers(url: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await (await fetch(url)).arrayBuffer();
      return;
    } catch (error) {
      if (attempt >= 200) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts workerd on `dir` (from {@link prepare}), each socket on a port the OS picks. */
export async function startWorkerd(dir: string): Promise<Workerd> {
  const sockets = [await listeningSocket(), await listeningSocket()];
  let child: ChildProcess;
  try {
    child = spawn(binary('workerd'), ['serve', 'config.capnp', '--socket-fd', 'http=3', '--socket-fd', 'http2=4'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe', ...sockets.map((socket) => socket.fd)],
    });
  } finally {
    for (const socket of sockets) socket.release();
  }
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  child.stdout?.resume();
  const exited = once(child, 'exit');
  const [url, secondUrl] = sockets.map((socket) => `http://127.0.0.1:${socket.port}`) as [string, string];
  await Promise.race([
    Promise.all([answers(url), answers(secondUrl)]),
    exited.then(([code]) => {
      throw new Error(`workerd exited (${code}):\n${stderr}`);
    }),
  ]);
  return {
    url,
    secondUrl,
    pid: child.pid as number,
    stderr: () => stderr,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // Open links keep workerd from ending on SIGTERM; a kill is also the harder restart.
      child.kill('SIGKILL');
      await exited;
    },
  };
}
