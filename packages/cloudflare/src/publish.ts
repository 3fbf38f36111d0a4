import { type ChannelRegistry, readJsonBody, SseError } from '@ssekit/core';

/** Options of {@link publishHandler}. */
export interface PublishHandlerOptions {
  /**
   * The secret a publisher sends as `Authorization: Bearer <token>`: at least 32 characters
   * (a random value kept as a Worker secret, e.g. `wrangler secret put PUBLISH_TOKEN`).
   */
  token: string;
  /** Most bytes of a request's body. Default 1 048 576 (1 MiB). */
  maxBodyBytes?: number;
}

/** A publish request's body. */
interface PublishBody {
  channel: string;
  data: unknown;
  event?: string;
  idempotencyKey?: string;
}

const utf8 = new TextEncoder();

/** SHA-256 of `text`: compared digests take the same time however much of a token matches. */
async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', utf8.encode(text)));
}

async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= (a[i] as number) ^ (b[i] as number);
  return difference === 0;
}

function isPublishBody(body: unknown): body is PublishBody {
  if (typeof body !== 'object' || body === null) return false;
  const { channel, data, event, idempotencyKey } = body as Record<string, unknown>;
  return (
    typeof channel === 'string' &&
    data !== undefined &&
    (event === undefined || typeof event === 'string') &&
    (idempotencyKey === undefined || typeof idempotencyKey === 'string')
  );
}

/**
 * An HTTP publish endpoint for publishers outside Workers (a backend, a cron job, a CLI):
 * `POST` with `Authorization: Bearer <token>` and a JSON body
 * `{ "channel": "room:1", "data": …, "event"?: "message", "idempotencyKey"?: "…" }`; it
 * answers `200 {"id": "…"}` once the channel's object stored the event. `data` goes through
 * the registry's serializer as `publish` takes it: a string is sent as it is, anything else
 * as JSON. Mount it on a path of your choice. Answers 401 for a missing or wrong token, 405
 * for another method, 413 for a body over `maxBodyBytes` (by its `Content-Length`) or data
 * over the registry's `maxDataBytes`, 400 for a body that is not one (or names an invalid
 * channel, event or key, or outgrows `maxBodyBytes` without a `Content-Length`), and 503
 * when the broker cannot take the event (retry with the same `idempotencyKey`).
 *
 * @throws {@link @ssekit/core!SseError} `INVALID_OPTION` for a token shorter than 32
 * characters or a `maxBodyBytes` that is not a positive whole number.
 */
export function publishHandler(
  registry: ChannelRegistry,
  options: PublishHandlerOptions,
): (request: Request) => Promise<Response> {
  const { token, maxBodyBytes = 1024 * 1024 } = options;
  if (typeof token !== 'string' || token.length < 32) {
    throw new SseError('INVALID_OPTION', 'publishHandler needs a token of at least 32 characters.');
  }
  if (!(Number.isSafeInteger(maxBodyBytes) && maxBodyBytes > 0)) {
    throw new SseError('INVALID_OPTION', `maxBodyBytes ${maxBodyBytes} must be a whole number of bytes, 1 or more.`);
  }
  return async (request) => {
    if (request.method !== 'POST') return new Response(null, { status: 405, headers: { Allow: 'POST' } });
    const given = /^Bearer +(.+)$/i.exec(request.headers.get('Authorization') ?? '')?.[1];
    if (given === undefined || !(await sameSecret(given, token))) {
      return new Response(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } });
    }
    if (Number(request.headers.get('Content-Length')) > maxBodyBytes) return new Response(null, { status: 413 });
    const body = await readJsonBody(request.body, maxBodyBytes);
    if (!isPublishBody(body)) return Response.json({ error: 'expected {"channel", "data"}' }, { status: 400 });
    try {
      const id = await registry
        .channel(body.channel)
        .publish(body.data, { event: body.event, idempotencyKey: body.idempotencyKey } as { event?: undefined });
      return Response.json({ id });
    } catch (error) {
      if (!(error instanceof SseError)) throw error;
      const status =
        error.code === 'EVENT_TOO_LARGE'
          ? 413
          : error.code === 'BROKER_UNAVAILABLE' || error.code === 'REGISTRY_CLOSED'
            ? 503
            : 400;
      return Response.json({ error: error.code, message: error.message }, { status });
    }
  };
}
