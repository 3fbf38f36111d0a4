// `pnpm start`: the three instances (Express, Koa, Hono) and the front, in one command.
// Redis must be running: REDIS_URL, default redis://127.0.0.1:6379. PORT is the front's.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createFront } from './front.js';

const INSTANCES = ['express', 'koa', 'hono'] as const;

/**
 * Starts one instance and resolves with its URL once it listens: one of the three, or the
 * Fastify one that test/redis-cluster.test.ts adds.
 */
export function startInstance(name: (typeof INSTANCES)[number] | 'fastify', env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(`./${name}.ts`, import.meta.url))], {
    env: { ...process.env, INSTANCE: name, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`instance ${name} exited (${code}) before listening`)));
  });
  return { name, child, url };
}

async function main(): Promise<void> {
  const instances = INSTANCES.map((name) => startInstance(name));
  const children: ChildProcess[] = instances.map(({ child }) => child);
  const stop = () => {
    for (const child of children) child.kill('SIGTERM');
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const urls = await Promise.all(instances.map(({ url }) => url));
  const front = createFront(urls);
  front.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
    const { port } = front.address() as { port: number };
    console.log(`front listening on http://127.0.0.1:${port}/ (instances: ${urls.join(', ')})`);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
