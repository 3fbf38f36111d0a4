import { readJsonBody } from '@ssekit/core';
import { registry } from '../../../../../lib/registry.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

interface Context {
  params: Promise<{ room: string }>;
}

/** Publishes `{ "text": "..." }` to the room's followers; answers with the event's id. */
export async function POST(request: Request, context: Context): Promise<Response> {
  const { room } = await context.params;
  const body = await readJsonBody(request.body);
  if (typeof body !== 'object' || body === null || !('text' in body) || typeof body.text !== 'string') {
    return Response.json({ error: 'expected { "text": string }' }, { status: 400 });
  }
  const id = await registry.channel(`room:${room}`).publish({ text: body.text }, { event: 'message' });
  return Response.json({ id }, { status: 201 });
}
