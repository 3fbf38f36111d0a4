import { defineConfig, type Options } from 'tsup';

/** The build of every published package: ESM + CJS + .d.ts for Node 20 and the edge. */
export function packageBuild(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    target: 'es2022',
    ...overrides,
  });
}
