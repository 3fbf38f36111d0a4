// The event maps type what handlers get: checked by `tsc` (these tests only compile the calls).
import { describe, expectTypeOf, it } from 'vitest';
import type { ChannelEvent, ChannelsClient } from './index.js';

type ChatMessage = { user: string; text: string };
type RoomEvents = { message: ChatMessage; joined: { user: string } };
type Channels = { [room: `room:${string}`]: RoomEvents; lobby: { message: string } };

// Never called: the calls below are here to be type-checked.
function typed(client: ChannelsClient<Channels>) {
  client.subscribe('room:1', (e) => {
    expectTypeOf(e).toEqualTypeOf<{ channel: string; event: 'message'; data: ChatMessage; id: string }>();
  });
  client.subscribe(
    'room:1',
    (e) => {
      expectTypeOf(e).toEqualTypeOf<ChannelEvent<RoomEvents>>();
      if (e.event === 'joined') expectTypeOf(e.data).toEqualTypeOf<{ user: string }>();
      else expectTypeOf(e.data).toEqualTypeOf<ChatMessage>();
    },
    { events: ['message', 'joined'] },
  );
  client.subscribe('room:1', (e) => expectTypeOf(e.data).toEqualTypeOf<{ user: string }>(), { events: ['joined'] });
  client.subscribe('lobby', (e) => expectTypeOf(e.data).toEqualTypeOf<string>());
  // @ts-expect-error: not a channel of the map
  client.subscribe('kitchen', () => {});
  // @ts-expect-error: not an event of the channel
  client.subscribe('room:1', () => {}, { events: ['left'] });
  const handler = (e: ChannelEvent<RoomEvents, 'joined'>) => e.data.user;
  client.unsubscribe('room:1', handler);
  // @ts-expect-error: not a channel of the map
  client.unsubscribe('kitchen');
}

function untyped(client: ChannelsClient) {
  client.subscribe('anything', (e) => {
    expectTypeOf(e.event).toEqualTypeOf<'message'>();
    expectTypeOf(e.data).toBeUnknown();
  });
  client.subscribe('anything', (e) => expectTypeOf(e.event).toEqualTypeOf<'a' | 'b'>(), { events: ['a', 'b'] });
}

describe('event maps', () => {
  it('type handlers by channel and event name', () => {
    expectTypeOf(typed).toBeFunction();
    expectTypeOf(untyped).toBeFunction();
  });
});
