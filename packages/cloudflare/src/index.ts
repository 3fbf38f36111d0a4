export { DurableObjectBroker, type DurableObjectBrokerOptions } from './broker.js';
export { ChannelObject } from './object.js';
export { type PublishHandlerOptions, publishHandler } from './publish.js';
export type {
  DurableObjectNamespaceLike,
  DurableObjectStateLike,
  DurableObjectStubLike,
  SqlCursor,
  SqlStorageLike,
  WorkersWebSocket,
} from './workers.js';
