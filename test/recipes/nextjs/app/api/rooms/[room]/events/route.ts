import { createChannelRoute, createResponder } from '@ssekit/core';
import { registry } from '../../../../../lib/registry.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

interface Context {
  params: Promise<{ room: string }>;
}

// Built once per module, not per request: options are checked here, at start-up.
const respond = createResponder();
const room = createChannelRoute(registry, (params: { room: string }) => `room:${params.room}`);

/**
 * Follows a room. A client that reconnects with `Last-Event-ID` (an `EventSource` does so by
 * itself) first gets what it missed from the channel's history, then the live events.
 */
export async function GET(request: Request, context: Context): Promise<Response> {
  const admission = await room(await context.params);
  if ('status' in admission) return new Response(null, { status: admission.status });
  return respond(request, (stream) => void admission.subscribe(stream));
}
