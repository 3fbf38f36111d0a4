/**
 * Event streams on Node's `http` and `http2` responses, and graceful shutdown of a server that serves them.
 *
 * @module @ssekit/core/node
 */
export {
  createBodyOpener,
  createStream,
  createStreamBody,
  createStreamOpener,
  type StreamBody,
} from './open.js';
export { createReadableSink, type ReadableSink } from './readable-sink.js';
export { checkShutdownOptions, type NodeServer, type ShutdownOptions, shutdown } from './shutdown.js';
export { createNodeSink } from './socket-sink.js';
export type { NodeRequest, NodeResponse } from './types.js';
