import { packageBuild } from '../../tsup.shared.js';

export default packageBuild({
  entry: { index: 'src/index.ts', vitest: 'src/vitest.ts' },
  // One shared chunk, so the matchers of "./vitest" read the same reader class as ".".
  splitting: true,
});
