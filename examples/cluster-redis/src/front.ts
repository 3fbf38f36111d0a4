// A tiny round-robin front, as a load balancer would be: each request goes to the next
// instance, and to the one after it when that one is down. Streams pass through as they come.
import http from 'node:http';

/** A server that spreads requests over `targets` (base URLs), skipping any that refuse. */
export function createFront(targets: readonly string[]): http.Server {
  let next = 0;
  return http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const first = next++ % targets.length;
    for (let tried = 0; tried < targets.length; tried++) {
      const target = targets[(first + tried) % targets.length] as string;
      const upstream = await forward(target, req, body);
      if (!upstream) continue;
      res.writeHead(upstream.statusCode ?? 502, upstream.headers);
      upstream.pipe(res);
      // A tab that leaves must not keep the stream open on the instance.
      res.on('close', () => upstream.destroy());
      return;
    }
    res.writeHead(503, { 'content-type': 'text/plain' }).end('no instance is up');
  });
}

function forward(target: string, req: http.IncomingMessage, body: Buffer): Promise<http.IncomingMessage | undefined> {
  return new Promise((resolve) => {
    const upstream = http.request(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers });
    upstream.once('response', resolve);
    upstream.once('error', () => resolve(undefined));
    upstream.end(body);
  });
}
