/**
 * Reads one event-stream response off a socket: the HTTP/1.1 head, the chunked body, and
 * the events, checking that their `seq` numbers run 0, 1, 2, … with none lost, repeated or
 * out of order. Written for speed (the load generator reads millions of events), so it
 * looks only for what the bench's events carry: `"seq":N` and `"t":T` in the data.
 */

const LF_LF = Buffer.from('\n\n');
const SEQ = Buffer.from('"seq":');
const TIME = Buffer.from('"t":');
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

export interface ReaderEvents {
  /** The head is in: status 200, `text/event-stream`, chunked. */
  onHead(): void;
  /** The next event in order; `sentAt` is its publish time when it carries one. */
  onEvent(sentAt: number | undefined): void;
  /** The response broke the rules: a wrong head, or an event lost, repeated or reordered. */
  onError(reason: string): void;
}

export class EventReader {
  /** The `seq` expected next: also the number of events received in order. */
  next = 0;
  #raw: Buffer | undefined;
  #headDone = false;
  /** Data bytes left in the current HTTP chunk. */
  #chunkLeft = 0;
  /** The CRLF after a chunk's data is still to skip. */
  #skipCrlf = false;
  #text: Buffer | undefined;

  constructor(
    private readonly events: ReaderEvents,
    private readonly withTimes = false,
  ) {}

  feed(bytes: Buffer): void {
    let buffer = this.#raw ? Buffer.concat([this.#raw, bytes]) : bytes;
    this.#raw = undefined;
    if (!this.#headDone) {
      const end = buffer.indexOf(HEAD_END);
      if (end < 0) {
        this.#raw = buffer;
        return;
      }
      const head = buffer.toString('latin1', 0, end);
      if (!head.startsWith('HTTP/1.1 200') || !/^content-type: text\/event-stream/im.test(head)) {
        this.events.onError(`unexpected response head: ${head.split('\r\n')[0]}`);
      } else if (!/^transfer-encoding: chunked/im.test(head)) {
        this.events.onError('the response is not chunked');
      }
      this.#headDone = true;
      this.events.onHead();
      buffer = buffer.subarray(end + HEAD_END.length);
    }
    this.#dechunk(buffer);
  }

  #dechunk(buffer: Buffer): void {
    let pos = 0;
    while (pos < buffer.length) {
      if (this.#skipCrlf) {
        if (buffer.length - pos < 2) break;
        pos += 2;
        this.#skipCrlf = false;
      }
      if (this.#chunkLeft === 0) {
        const lineEnd = buffer.indexOf(CRLF, pos);
        if (lineEnd < 0) break;
        this.#chunkLeft = Number.parseInt(buffer.toString('latin1', pos, lineEnd), 16);
        pos = lineEnd + 2;
        if (this.#chunkLeft === 0) return; // the last chunk: the response has ended
        continue;
      }
      const take = Math.min(this.#chunkLeft, buffer.length - pos);
      this.#events(buffer.subarray(pos, pos + take));
      this.#chunkLeft -= take;
      pos += take;
      if (this.#chunkLeft === 0) this.#skipCrlf = true;
    }
    if (pos < buffer.length) this.#raw = buffer.subarray(pos);
  }

  #events(data: Buffer): void {
    const text = this.#text ? Buffer.concat([this.#text, data]) : data;
    this.#text = undefined;
    let start = 0;
    for (let end = text.indexOf(LF_LF, start); end >= 0; end = text.indexOf(LF_LF, start)) {
      this.#event(text, start, end);
      start = end + 2;
    }
    if (start < text.length) this.#text = Buffer.from(text.subarray(start));
  }

  #event(text: Buffer, start: number, end: number): void {
    const at = text.indexOf(SEQ, start);
    if (at < 0 || at > end) return; // a comment, a retry hint or a library's own event
    let seq = 0;
    for (let i = at + SEQ.length; i < end; i++) {
      const digit = (text[i] as number) - 48;
      if (digit < 0 || digit > 9) break;
      seq = seq * 10 + digit;
    }
    if (seq !== this.next) {
      this.events.onError(`a stream expected event ${this.next} and got ${seq}`);
      return;
    }
    this.next++;
    this.events.onEvent(this.withTimes ? sentAt(text, at, end) : undefined);
  }
}

function sentAt(text: Buffer, from: number, end: number): number | undefined {
  const at = text.indexOf(TIME, from);
  if (at < 0 || at > end) return undefined;
  return Number(text.toString('latin1', at + TIME.length, text.indexOf(44, at))); // up to ','
}
