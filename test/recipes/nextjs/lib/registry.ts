import { ChannelRegistry } from '@ssekit/core';

// One registry per server process, kept on globalThis. Next.js does not promise one instance
// of a module per process: `next dev` evaluates a module again after every edit (and the
// streams opened before it keep the old registry), and the bundler may give a module one copy
// per route bundle or layer. A registry per copy would leave a publisher and its subscribers
// on different registries, each message reaching no one. Symbol.for gives every copy the same
// key, and no other code the name.
const KEY: unique symbol = Symbol.for('ssekit.recipe-nextjs.registry');
const store = globalThis as typeof globalThis & { [KEY]?: ChannelRegistry };

export const registry: ChannelRegistry = store[KEY] ?? new ChannelRegistry();
store[KEY] = registry;
