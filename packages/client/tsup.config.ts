import { packageBuild } from '../../tsup.shared.js';

// One ESM file with no imports (and its CommonJS twin): a page can load dist/index.js as is.
export default packageBuild();
