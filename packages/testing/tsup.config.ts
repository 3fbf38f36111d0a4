import { packageBuild } from '../../tsup.shared.js';

export default packageBuild({
  entry: { index: 'src/index.ts', vitest: 'src/vitest.ts', 'broker-contract': 'src/broker-contract.ts' },
  // One shared chunk, so the matchers of "./vitest" know the reader class of ".".
  splitting: true,
  // The user's own vitest: matchers must extend the `expect` their tests run with.
  external: ['vitest'],
});
