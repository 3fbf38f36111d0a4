import { stats } from '../../../lib/stats.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export function GET(): Response {
  return Response.json(stats);
}
