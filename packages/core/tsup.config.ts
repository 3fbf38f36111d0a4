import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'node/index': 'src/node/index.ts' },
  format: ['esm', 'cjs'],
  // One shared chunk, so "./node" and "." hand out the same SseStream class.
  splitting: true,
  // The .d.ts build (rollup) puts declarations both entries use in one shared chunk
  // (dist/stream-*.d.ts) whatever `splitting` says; test/packaging.test.ts checks both.
  dts: true,
  clean: true,
  target: 'es2022',
});
