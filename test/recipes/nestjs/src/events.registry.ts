// src/events.registry.ts
import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ChannelRegistry, type SseStream } from '@ssekit/core';
import { shutdown } from '@ssekit/core/node';

/**
 * Owns the app's channels, and ends every open stream when the app closes. Nest's `app.close()`
 * (and, with `enableShutdownHooks()`, SIGTERM) runs this hook before it closes the HTTP server,
 * whose `close()` would otherwise wait for clients that never leave.
 */
@Injectable()
export class EventsRegistry implements BeforeApplicationShutdown {
  readonly registry = new ChannelRegistry({ history: { size: 1000 } });
  /** For a health or stats route: streams open now, and when the last one ended. */
  readonly stats = { open: 0, closed: 0, lastClosedAt: 0 };

  // An explicit token, so that Nest needs no decorator metadata, which esbuild (tsx) does not emit.
  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  /** Counts `stream` until its client leaves or the server ends it. */
  watch(stream: SseStream): void {
    this.stats.open++;
    stream.signal.addEventListener('abort', () => {
      this.stats.open--;
      this.stats.closed++;
      this.stats.lastClosedAt = Date.now();
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Tells each client when to come back (`retry:`), ends the channels' streams and the others,
    // and gives them a second to take what is buffered before their connections are cut.
    await shutdown(this.adapterHost.httpAdapter.getHttpServer(), {
      registry: this.registry,
      retry: { min: 1000, max: 5000 },
      deadline: 1000,
    });
  }
}
