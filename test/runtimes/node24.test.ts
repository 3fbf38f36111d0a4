import { runtimeSuite } from './suite.js';

runtimeSuite('node24');
