// The docs are read and pasted more than any other code we ship: every ```ts block in docs/
// and in the package READMEs must type-check against the packages as they are, and every
// relative link must lead to a file (and heading) that exists.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'api' ? [] : markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

const docs = markdownFiles(join(root, 'docs'));
// What npm shows on each package's page; its examples are pasted as often as the docs'.
const packageReadmes = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name, 'README.md'))
  .filter(existsSync);
const linked = [
  join(root, 'README.md'),
  ...docs,
  ...packageReadmes,
  join(root, 'examples/README.md'),
  ...readdirSync(join(root, 'examples'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(root, 'examples', entry.name, 'README.md'))
    .filter(existsSync),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function anchor(heading: string) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string) {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading = '']) => anchor(heading)));
}

describe('docs', () => {
  it('has a page per topic', () => {
    const pages = docs.map((file) => relative(join(root, 'docs'), file)).sort();
    expect(pages).toEqual(
      expect.arrayContaining([
        'README.md',
        'backpressure-and-limits.md',
        'channels-and-resume.md',
        'clients.md',
        'edge-runtimes.md',
        'getting-started.md',
        'migrating.md',
        'multi-instance-redis.md',
        'proxies.md',
        'security.md',
      ]),
    );
  });

  it.each(linked.map((file) => ({ file: relative(root, file), path: file })))(
    'links in $file lead somewhere',
    ({ path }) => {
      const text = readFileSync(path, 'utf8').replace(/```[\s\S]*?```/g, '');
      const broken: string[] = [];
      for (const [, target = ''] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
        const [file = '', hash] = target.split('#');
        const destination = file ? resolve(dirname(path), file) : path;
        if (!existsSync(destination)) broken.push(target);
        else if (hash && destination.endsWith('.md') && !anchorsOf(destination).has(hash)) broken.push(target);
      }
      expect(broken).toEqual([]);
    },
  );

  it('type-checks every ts block against the packages', () => {
    const out = join(root, 'test-output/docs-snippets');
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const origins = new Map<string, string>();
    for (const file of [...docs, ...packageReadmes]) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```/gm)) {
        const line = text.slice(0, match.index).split('\n').length + 1;
        const name = `${relative(join(root, 'docs'), file).replace(/\W/g, '_')}_${line}.ts`;
        // Each block is its own module, so that two blocks may declare the same names.
        writeFileSync(join(out, name), `${match[1]}\nexport {};\n`);
        origins.set(name, `${relative(root, file)}:${line}`);
      }
    }
    expect(origins.size).toBeGreaterThan(0);
    writeFileSync(
      join(out, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../tsconfig.base.json',
        compilerOptions: { noEmit: true, types: ['node'], noUnusedLocals: false },
        include: ['*.ts', '../../types/*.d.ts'],
      }),
    );
    const tsc = spawnSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(out, 'tsconfig.json')], {
      cwd: root,
      encoding: 'utf8',
    });
    // Name the page and line each error comes from, not the generated file.
    const report = tsc.stdout.replace(
      /(?:[\w./-]*\/)?([\w.]+\.ts)\((\d+),\d+\)/g,
      (whole, name: string, line: string) => {
        const origin = origins.get(name);
        if (!origin) return whole;
        const [page, start] = origin.split(':');
        return `${page}:${Number(start) + Number(line) - 1}`;
      },
    );
    expect(report).toBe('');
    expect(tsc.status).toBe(0);
  }, 120_000);

  it('builds the API reference from the TSDoc without a warning', () => {
    // What `pnpm docs:api` runs, into test-output/: a broken {@link}, an undocumented export
    // or a type the reference cannot reach fails here.
    const out = join(root, 'test-output/api');
    const typedoc = spawnSync(
      join(root, 'node_modules/.bin/typedoc'),
      ['--out', out, '--treatWarningsAsErrors', '--logLevel', 'Warn'],
      { cwd: root, encoding: 'utf8' },
    );
    expect(`${typedoc.stdout}${typedoc.stderr}`).toBe('');
    expect(typedoc.status).toBe(0);
    for (const page of ['index.html', 'modules/_ssekit_core.html', 'classes/_ssekit_core.SseStream.html']) {
      expect(existsSync(join(out, page)), page).toBe(true);
    }
  }, 120_000);
});
