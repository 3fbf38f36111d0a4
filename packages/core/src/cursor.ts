/**
 * The resume cursor of a stream that follows many channels: the `id:` of each event it sends,
 * so that the one `Last-Event-ID` a client sends back restores every channel.
 *
 * It holds each channel with the id of the last event the stream sent from it (empty before
 * the first), and a MAC over the set of channel names. The set is what authorization guards:
 * a client cannot add a channel to a cursor without the server's key, and the channels are
 * authorized again when it comes back. The positions are not signed, by design: like the
 * `Last-Event-ID` of a single channel, a client may resume from any point of a channel it may
 * read, and one that history does not hold gets a gap, never another channel's events.
 *
 * Form: `1` + MAC (16 characters) + base64url of the channels as a query string.
 */

/** The longest resume cursor written or read, in characters: past it, a stream follows no more channels. */
export const MAX_CURSOR_LENGTH = 4096;

const VERSION = '1';
const MAC_BYTES = 12;
/** Characters of the MAC in a cursor: base64url of 12 bytes. */
export const MAC_LENGTH = 16;

/** The channels of a cursor, in order, each with the id of the last event sent (`''` for none). */
export type CursorPositions = ReadonlyMap<string, string>;

/** Signs and checks the channel sets of cursors with one key: every instance must share it. */
export class CursorKey {
  readonly #key: Promise<CryptoKey>;

  /** @param secret - at least 32 bytes (or characters) of secret, the same on every instance. */
  constructor(secret: string | Uint8Array) {
    const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : new Uint8Array(secret);
    if (bytes.byteLength < 32) throw new RangeError('a cursor secret needs at least 32 bytes');
    this.#key = crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  }

  /** The MAC of a set of channel names: the same for any order of the same names. */
  async sign(channels: Iterable<string>): Promise<string> {
    const names = JSON.stringify([...new Set(channels)].sort());
    const mac = await crypto.subtle.sign('HMAC', await this.#key, new TextEncoder().encode(names));
    return toBase64Url(new Uint8Array(mac, 0, MAC_BYTES));
  }
}

/**
 * Writes a cursor from its positions and the MAC of their channels ({@link CursorKey.sign}),
 * once per event sent: no signing here. Returns `undefined` when it would be longer than
 * {@link MAX_CURSOR_LENGTH}, which the caller prevents by bounding the channels of a stream.
 */
export function encodeCursor(positions: CursorPositions, mac: string): string | undefined {
  const cursor = VERSION + mac + toBase64Url(new TextEncoder().encode(new URLSearchParams([...positions]).toString()));
  return cursor.length <= MAX_CURSOR_LENGTH ? cursor : undefined;
}

/**
 * Reads a cursor a client sent back. `undefined` for anything the server did not write: a
 * wrong form or version, or a MAC that does not match its channels (another key, or edited).
 */
export async function decodeCursor(cursor: string, key: CursorKey): Promise<CursorPositions | undefined> {
  if (cursor.length > MAX_CURSOR_LENGTH || !cursor.startsWith(VERSION)) return undefined;
  const mac = cursor.slice(VERSION.length, VERSION.length + MAC_LENGTH);
  let positions: Map<string, string>;
  try {
    const query = new TextDecoder('utf-8', { fatal: true }).decode(fromBase64Url(cursor.slice(1 + MAC_LENGTH)));
    positions = new Map(new URLSearchParams(query));
  } catch {
    return undefined;
  }
  return sameText(await key.sign(positions.keys()), mac) ? positions : undefined;
}

/** Compares two strings in a time that does not tell how many leading characters match. */
function sameText(a: string, b: string): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i % (b.length || 1));
  return difference === 0;
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array {
  if (!/^[\w-]*$/.test(text)) throw new SyntaxError('not base64url');
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
