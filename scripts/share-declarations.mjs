// Run after tsup in a package: make each ESM declaration entry (.d.ts) re-export its CommonJS
// twin (.d.cts) and drop the ESM declaration chunks. tsup writes the declarations twice, and a
// project with both `.ts` (CommonJS) and `.mts` files loads both copies: a global augmentation
// such as Express's `res.sse` then names two SseStream types and fails with TS2717, and a
// class from one copy is not assignable to the other (#private). One copy, one type.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const { publishConfig } = JSON.parse(readFileSync('package.json', 'utf8'));
const entries = Object.values(publishConfig.exports).filter((target) => typeof target === 'object');
const esmEntries = new Set();
for (const { import: esm, require: cjs } of entries) {
  const specifier = `./${relative(dirname(esm.types), cjs.types).replace(/\.d\.cts$/, '.cjs')}`;
  writeFileSync(esm.types, `export * from '${specifier}';\n`);
  esmEntries.add(join(esm.types));
}
for (const file of readdirSync('dist', { recursive: true, encoding: 'utf8' })) {
  const path = join('dist', file);
  if (path.endsWith('.d.ts') && !esmEntries.has(path)) rmSync(path);
}
