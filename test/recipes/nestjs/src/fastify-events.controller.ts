// src/fastify-events.controller.ts
import { Body, Controller, Get, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { channel, sse } from '@ssekit/fastify';
import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { EventsRegistry } from './events.registry.js';

/**
 * The same routes on Nest's Fastify platform, with @ssekit/fastify's handlers: Fastify stays
 * in charge of the response (the stream is the payload of `reply.send()`), so its hooks and
 * request log see it. `@Res()` keeps Nest from sending a reply of its own.
 */
@Controller()
export class FastifyEventsController {
  readonly #script: RouteHandlerMethod;
  readonly #roomEvents: RouteHandlerMethod;

  constructor(@Inject(EventsRegistry) private readonly events: EventsRegistry) {
    this.#script = sse(
      (stream) => {
        events.watch(stream);
        stream.send('hello\nnest', { event: 'greeting', id: 1 });
        stream.send({ n: 2 });
        stream.comment('open until you leave');
      },
      { retry: 1000 },
    );
    this.#roomEvents = channel(events.registry, (request) => `room:${(request.params as { room: string }).room}`);
  }

  @Get('events')
  script(@Req() request: FastifyRequest, @Res() reply: FastifyReply): unknown {
    return this.#script.call(request.server, request, reply);
  }

  @Get('rooms/:room/events')
  room(@Req() request: FastifyRequest, @Res() reply: FastifyReply): unknown {
    return this.#roomEvents.call(request.server, request, reply);
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
