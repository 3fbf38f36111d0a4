/**
 * A load generator of `pnpm bench:scale`: `client.ts`, connecting from a source address of its
 * own (`SOURCE_ADDRESS`, e.g. 127.0.0.2). Loopback has about 28,000 ephemeral ports per source
 * address here (32768–60999), fewer than 50,000 connections to one port need.
 */
if (!process.env.SOURCE_ADDRESS) throw new Error('SOURCE_ADDRESS is not set');

// A bench that dies without killing its generators must not leave their sockets open.
process.on('disconnect', () => process.exit(0));

await import('./client.js');
// Loaded and listening: from here on, the time to connect is the connections' own.
process.send?.({ type: 'ready' });
