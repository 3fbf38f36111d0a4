// Every way of serving an event stream that ssekit supports on Node, behind one interface,
// so that one suite can hold them all to the same behaviour.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import fastifyCompress from '@fastify/compress';
import { createAdaptorServer } from '@hono/node-server';
import type { SseStream, SseStreamOptions } from '@ssekit/core';
import { createStream } from '@ssekit/core/node';
import { sse as expressSse } from '@ssekit/express';
import { sse as fastifySse, ssekit } from '@ssekit/fastify';
import { sse as honoSse } from '@ssekit/hono';
import { sse as koaSse } from '@ssekit/koa';
import compression from 'compression';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { compress as honoCompress } from 'hono/compress';
import Koa from 'koa';
import koaCompress from 'koa-compress';
import koa2 from 'koa2';
import { listen } from '../../packages/core/test/helpers.js';

/** Called with each stream a server opens, and the path of the request. */
export type OnStream = (stream: SseStream, path: string) => void;

export interface ServeOptions extends SseStreamOptions {
  /** Put the framework's compression middleware in front (node:http uses `compression`). */
  compress?: boolean;
}

export interface Served {
  url: string;
  connections(): Promise<number>;
  close(): Promise<void>;
}

export interface ServerKind {
  name: string;
  /** HTTP/2 over TLS with the test certificate; HTTP/1.1 otherwise. */
  http2: boolean;
  serve(onStream: OnStream, options?: ServeOptions): Promise<Served>;
}

export const tls = {
  key: readFileSync(new URL('../../packages/core/test/fixtures/localhost-key.pem', import.meta.url)),
  cert: readFileSync(new URL('../../packages/core/test/fixtures/localhost-cert.pem', import.meta.url)),
};

const pathOf = (url: string | undefined) => new URL(url ?? '/', 'http://x').pathname;

/** Runs `compression` in front of `next`, as an Express app would. */
function withCompression(req: http.IncomingMessage, res: http.ServerResponse, next: () => void) {
  compression()(req as never, res as never, next);
}

function expressApp(create: typeof express, onStream: OnStream, { compress, ...options }: ServeOptions) {
  const app = create();
  if (compress) app.use(compression());
  app.get('/{*path}', expressSse(options), (req, res) => onStream(res.sse, req.path));
  return app;
}

function expressApp4(onStream: OnStream, { compress, ...options }: ServeOptions) {
  const app = express4();
  if (compress) app.use(compression());
  // Express 4's path syntax: `*` matches anything.
  app.get('*', expressSse(options), (req, res) => onStream(res.sse, req.path));
  return app;
}

function koaApp(Create: typeof Koa, onStream: OnStream, { compress, ...options }: ServeOptions) {
  const app = new Create();
  if (compress) app.use(koaCompress({ threshold: 0 }));
  app.use(koaSse(options));
  app.use((ctx) => onStream(ctx.sse, ctx.path));
  return app;
}

export const serverKinds: ServerKind[] = [
  {
    name: 'node:http',
    http2: false,
    serve: (onStream, { compress, ...options } = {}) =>
      listen(
        http.createServer((req, res) => {
          const open = () => onStream(createStream(req, res, options), pathOf(req.url));
          if (compress) withCompression(req, res, open);
          else open();
        }),
      ),
  },
  {
    name: 'node:http2',
    http2: true,
    // No compression middleware exists for node:http2; the compression check runs plain.
    serve: (onStream, { compress: _, ...options } = {}) =>
      listen(
        http2.createSecureServer(tls, (req, res) => onStream(createStream(req, res, options), pathOf(req.url))),
        'https',
      ),
  },
  {
    name: 'express 5',
    http2: false,
    serve: (onStream, options = {}) => listen(http.createServer(expressApp(express, onStream, options))),
  },
  {
    name: 'express 4',
    http2: false,
    serve: (onStream, options = {}) => listen(http.createServer(expressApp4(onStream, options))),
  },
  {
    name: 'koa 3',
    http2: false,
    serve: (onStream, options = {}) => listen(http.createServer(koaApp(Koa, onStream, options).callback())),
  },
  {
    name: 'koa 2',
    http2: false,
    serve: (onStream, options = {}) =>
      listen(http.createServer(koaApp(koa2 as unknown as typeof Koa, onStream, options).callback())),
  },
  {
    name: 'fastify 5',
    http2: false,
    serve: async (onStream, { compress, ...options } = {}) => {
      const app = Fastify();
      await app.register(ssekit);
      // Registered for every route, compressing all it can: it leaves event streams alone.
      if (compress) await app.register(fastifyCompress, { global: true, threshold: 0 });
      app.get(
        '/*',
        fastifySse((stream, request) => onStream(stream, pathOf(request.url)), options),
      );
      await app.ready();
      return listen(app.server);
    },
  },
  {
    name: 'hono (node-server)',
    http2: false,
    serve: (onStream, { compress, ...options } = {}) => {
      const app = new Hono();
      if (compress) app.use(honoCompress({ threshold: 0 }));
      app.get(
        '*',
        honoSse((stream, c) => onStream(stream, c.req.path), options),
      );
      return listen(createAdaptorServer({ fetch: app.fetch }) as http.Server);
    },
  },
];
