import { MAX_CURSOR_LENGTH } from './cursor.js';

/**
 * The longest `Last-Event-ID` that is read, in UTF-16 code units: 4 096. Ids that ssekit's
 * brokers assign are under 50, but the id of a stream that follows many channels is a cursor
 * holding each channel's name and position ({@link MAX_CURSOR_LENGTH}); a longer one is
 * ignored, never stored or echoed back. Browsers send the header as they received the id, and
 * 4 KiB stays well inside Node's 16 KiB of request headers and nginx's 8 KiB header line.
 */
export const MAX_LAST_EVENT_ID_LENGTH = MAX_CURSOR_LENGTH;

// No id that a stream can send contains these (ssekit refuses them), so a client cannot
// have seen one: such a value is forged, and ignored.
const NOT_IN_AN_ID = /[\0\r\n]/;

/**
 * The id the client last saw: the `Last-Event-ID` header that `EventSource` sends on
 * reconnect, or else a `lastEventId` query parameter, since a browser cannot set that header
 * on its first connection. Returns `undefined` when neither is present or both are empty,
 * and for a value no stream could have sent: longer than {@link MAX_LAST_EVENT_ID_LENGTH},
 * or with NUL, CR or LF.
 *
 * @param header - the value of the `Last-Event-ID` request header, if any.
 * @param url - the request URL, absolute or just path and query.
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#the-last-event-id-header
 */
export function readLastEventId(header: string | null | undefined, url: string | undefined): string | undefined {
  return plausibleId(header ? decodeUtf8Header(header) : queryParam(url, 'lastEventId'));
}

/** The query parameter `name` of a URL, absolute or just path and query; `undefined` when absent or empty. */
export function queryParam(url: string | undefined, name: string): string | undefined {
  const query = url?.indexOf('?') ?? -1;
  if (query === -1) return undefined;
  return new URLSearchParams(url?.slice(query + 1)).get(name) || undefined;
}

function plausibleId(id: string | undefined): string | undefined {
  if (id === undefined || id.length > MAX_LAST_EVENT_ID_LENGTH || NOT_IN_AN_ID.test(id)) return undefined;
  return id;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const LATIN1_HIGH = /[\u0080-\u00ff]/;
const BEYOND_LATIN1 = /[\u0100-\uffff]/;

// Browsers send the id as UTF-8 bytes, while Node and the fetch `Headers` read header bytes
// as Latin-1: "é" arrives as "Ã©". Read the bytes again as UTF-8 when they are valid UTF-8.
function decodeUtf8Header(value: string): string {
  if (!LATIN1_HIGH.test(value) || BEYOND_LATIN1.test(value)) return value;
  try {
    return utf8.decode(Uint8Array.from(value, (char) => char.charCodeAt(0)));
  } catch {
    return value;
  }
}
