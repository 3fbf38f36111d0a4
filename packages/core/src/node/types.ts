import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** A `node:http` or `node:http2` (compatibility API) response. */
export type NodeResponse = ServerResponse | Http2ServerResponse;
/** A `node:http` or `node:http2` (compatibility API) request. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;
