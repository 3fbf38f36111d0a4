/**
 * Server-sent event streams, channels and brokers for any runtime with Web streams: the runtime-agnostic core of ssekit.
 *
 * @module @ssekit/core
 */
export {
  type Broker,
  type BrokerEvent,
  type BrokerMessage,
  checkChannelName,
  checkIdempotencyKey,
  createBrokerMessage,
  type HistoryOptions,
  MemoryBroker,
  type Replay,
  type ReplayOptions,
} from './broker.js';
export {
  Channel,
  type ChannelMessage,
  ChannelRegistry,
  type ChannelRegistryOptions,
  DEFAULT_MAX_CONCURRENT_REPLAYS,
  GAP_EVENT,
  MAX_ENDED_CHANNELS,
  type PublishOptions,
  RELAY_CHANNEL,
  type SubscribeOptions,
} from './channel.js';
export {
  type ChannelPattern,
  type ChannelRule,
  channelPattern,
  channelRules,
  type PatternParams,
} from './channel-pattern.js';
export {
  type ChannelsChange,
  type ChannelsChangeAnswer,
  type ChannelsRoute,
  type ChannelsRouteOptions,
  channelsFromQuery,
  createChannelsRoute,
  DEFAULT_RELAY_TIMEOUT_MS,
  MAX_CHANGE_BYTES,
  readJsonBody,
  STREAM_EVENT,
} from './channels-route.js';
export { CursorKey, MAX_CURSOR_LENGTH } from './cursor.js';
export { type EndCode, endReason, SseError, type SseErrorCode } from './errors.js';
export { type EncodeOptions, encode, encodeComment, jsonSerializer, type Serializer, type SseEvent } from './format.js';
export { type CorsOptions, SSE_HEADERS } from './headers.js';
export { MAX_LAST_EVENT_ID_LENGTH, readLastEventId } from './last-event-id.js';
export {
  ConnectionLimiter,
  type ConnectionLimitOptions,
  type Refusal,
  refusalResponse,
} from './limits.js';
export {
  CHANNELS_EVENT,
  DEFAULT_MAX_CHANNELS,
  type FollowedChannels,
  type FollowOptions,
  followChannels,
} from './many-channels.js';
export { readMetrics, type SseMetrics } from './metrics.js';
export {
  checkStreamOptions,
  type ResponseOptions,
  type SseStreamOptions,
} from './open.js';
export { checkHistoryOptions, type HistoryLimits, isTimerDelay, MAX_TIMER_MS } from './options.js';
export type { RetryRange } from './retry-range.js';
export {
  type ChannelAdmission,
  type ChannelAuthorizer,
  type ChannelRouteOptions,
  type ChannelVerdict,
  channelRoute,
  createChannelRoute,
} from './route.js';
export type { SseSink } from './sink.js';
export {
  type CloseOptions,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_EVENT_BYTES,
  type EventMap,
  endedStream,
  type MessageData,
  type OverflowInfo,
  type OverflowPolicy,
  type SendOptions,
  SseStream,
  type SseStreamInit,
  type StreamEvent,
  type StreamOptions,
  type UntypedSseStream,
} from './stream.js';
export {
  type CreateResponseOptions,
  checkResponseOptions,
  createResponder,
  createResponse,
  createWebSink,
  type Responder,
  type WebSink,
} from './web.js';
