import { runtimeSuite } from './suite.js';

runtimeSuite('deno');
