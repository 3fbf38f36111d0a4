// What the broker (in the Worker) and the channel's object say to each other: internal, and
// versioned by path so that a Worker and an object of different releases refuse each other
// instead of misreading.

/** The path prefix of every request the broker makes to a {@link ChannelObject}. */
export const PROTOCOL_PATH = '/ssekit/1';

/** A stored message on the wire: id, event name (or null), data. */
export type WireMessage = [id: string, event: string | null, data: string];

/** Body of a publish request. */
export interface PublishRequest {
  event?: string | undefined;
  data: string;
  idempotencyKey?: string | undefined;
  /** History bound in events, the broker's `history.size`. */
  size: number;
  /** History bound in ms, the broker's `history.maxAge`. */
  maxAge?: number | undefined;
}

/** Answer of a replay request: one page, and what the id told. */
export interface ReplayPage {
  gap?: 'expired' | 'unknown';
  /** History dropped messages after `after` that this replay had not sent yet. */
  overtaken?: true;
  messages: WireMessage[];
  /** Whether history holds more after this page. */
  more: boolean;
}

const ID = /^([0-9a-z]{1,16})-(0|[1-9]\d{0,15})$/;

/** `<epoch>-<n>` read back, or undefined for anything a channel object never gave. */
export function parseId(id: string): { epoch: string; n: number } | undefined {
  const match = ID.exec(id);
  return match ? { epoch: match[1] as string, n: Number(match[2]) } : undefined;
}
