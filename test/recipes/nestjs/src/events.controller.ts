// src/events.controller.ts
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Body, Controller, Get, Inject, Next, Param, Post, Req, Res } from '@nestjs/common';
import { createStream } from '@ssekit/core/node';
import { channel, type SseMiddleware } from '@ssekit/express';
import { EventsRegistry } from './events.registry.js';

type NextFunction = (error?: unknown) => void;

/**
 * Event streams on Nest's Express platform. `@Res()` tells Nest that the handler answers
 * itself: Nest sends nothing, and ssekit owns the response from its first byte.
 */
@Controller()
export class EventsController {
  readonly #roomEvents: SseMiddleware;

  constructor(@Inject(EventsRegistry) private readonly events: EventsRegistry) {
    // @ssekit/express's channel route, made once: it resumes after the client's Last-Event-ID.
    this.#roomEvents = channel(events.registry, (req) => `room:${req.params.room}`);
  }

  @Get('events')
  script(@Req() req: IncomingMessage, @Res() res: ServerResponse): void {
    const stream = createStream(req, res, { retry: 1000 });
    this.events.watch(stream);
    stream.send('hello\nnest', { event: 'greeting', id: 1 });
    stream.send({ n: 2 });
    stream.comment('open until you leave');
    // The handler returns and the stream stays open. Work done for this client stops when
    // `stream.signal` aborts (the client left, or shutdown ended it): `watch` listens to it.
  }

  @Get('rooms/:room/events')
  room(@Req() req: IncomingMessage, @Res() res: ServerResponse, @Next() next: NextFunction): void {
    this.#roomEvents(req, res, next);
  }

  @Post('rooms/:room/messages')
  async publish(@Param('room') room: string, @Body() body: unknown): Promise<{ id: string }> {
    return { id: await this.events.registry.channel(`room:${room}`).publish(body) };
  }

  @Get('stats')
  stats(): EventsRegistry['stats'] {
    return this.events.stats;
  }
}
