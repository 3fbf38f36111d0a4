/**
 * Where a stream's bytes go: one small contract that each runtime implements once (a Node
 * response, a Web `ReadableStream`), so that {@link SseStream} holds all the logic.
 */
export interface SseSink {
  /**
   * Hands a chunk to the transport, which always takes it. Returns `false` when the
   * transport's own buffer is full: write nothing more until {@link SseSink.ready} resolves.
   */
  write(chunk: Uint8Array): boolean;
  /** Resolves when the transport can take more bytes, or when it has ended. */
  ready(): Promise<void>;
  /** Ends the response after the bytes already written. Harmless when already ended. */
  close(): void;
  /**
   * Ends the response at once, dropping bytes not yet sent: for a client that stopped
   * reading, whose connection would otherwise stay open forever. Harmless when already ended.
   * @param reason - why, for runtimes that report a failed body (an {@link SseError}).
   */
  abort(reason?: unknown): void;
  /** Aborted when the transport ends for any reason, the client going away included. */
  readonly signal: AbortSignal;
}
