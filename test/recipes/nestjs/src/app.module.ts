// src/app.module.ts
import { Module } from '@nestjs/common';
import { EventsController } from './events.controller.js';
import { EventsRegistry } from './events.registry.js';
import { FastifyEventsController } from './fastify-events.controller.js';

@Module({ controllers: [EventsController], providers: [EventsRegistry] })
export class AppModule {}

/** The same app on Nest's Fastify platform. */
@Module({ controllers: [FastifyEventsController], providers: [EventsRegistry] })
export class FastifyAppModule {}
