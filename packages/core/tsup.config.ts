import { packageBuild } from '../../tsup.shared.js';

export default packageBuild({
  entry: { index: 'src/index.ts', 'node/index': 'src/node/index.ts' },
  // One shared chunk, so "./node" and "." hand out the same SseStream class. The .d.ts build
  // (rollup) shares declarations the same way; test/packaging.test.ts checks both.
  splitting: true,
});
