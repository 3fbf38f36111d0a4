import { createResponse } from '@ssekit/core';
import { after } from 'next/server.js';

// The Edge runtime: Web APIs only, no Node.js modules. createResponse needs nothing more.
export const runtime = 'edge';
export const dynamic = 'force-dynamic';

export function GET(request: Request): Response {
  return createResponse(
    request,
    async (stream) => {
      for (let n = 1; n <= 3 && !stream.closed; n++) {
        stream.send({ n }, { event: 'tick', id: n });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      stream.close();
    },
    // Where the platform ends a request's work with its response (as Workers do), `after`
    // keeps it until the handler settles, so that code after the client left still runs.
    { waitUntil: (promise) => after(promise) },
  );
}
