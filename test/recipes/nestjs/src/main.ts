// src/main.ts
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { AppModule, FastifyAppModule } from './app.module.js';

/** Starts the app on `port` (0: any free one) at 127.0.0.1; `app.close()` ends its streams. */
export async function bootstrap(platform: 'express' | 'fastify' = 'express', port = 0): Promise<INestApplication> {
  const app =
    platform === 'express'
      ? await NestFactory.create(AppModule, { logger: false })
      : await NestFactory.create(FastifyAppModule, new FastifyAdapter(), { logger: false });
  // SIGTERM and SIGINT run app.close(), and so EventsRegistry's beforeApplicationShutdown.
  app.enableShutdownHooks();
  await app.listen(port, '127.0.0.1');
  return app;
}
