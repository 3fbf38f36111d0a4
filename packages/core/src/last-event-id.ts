/**
 * The id the client last saw: the `Last-Event-ID` header that `EventSource` sends on
 * reconnect, or else a `lastEventId` query parameter, since a browser cannot set that header
 * on its first connection. Returns `undefined` when neither is present or both are empty.
 *
 * @param header - the value of the `Last-Event-ID` request header, if any.
 * @param url - the request URL, absolute or just path and query.
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#the-last-event-id-header
 */
export function readLastEventId(header: string | null | undefined, url: string | undefined): string | undefined {
  if (header) return header;
  const query = url?.indexOf('?') ?? -1;
  if (query === -1) return undefined;
  return new URLSearchParams(url?.slice(query + 1)).get('lastEventId') || undefined;
}
