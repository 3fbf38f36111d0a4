/**
 * A load generator of `pnpm bench:scale`: `client.ts`, with its connections bound to a source
 * address of their own (`SOURCE_ADDRESS`, e.g. 127.0.0.2). Loopback has about 28,000
 * ephemeral ports per source address here (32768–60999), fewer than 50,000 connections to one
 * port need; all of 127/8 is loopback on Linux, so each generator takes another address.
 */
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

const localAddress = process.env.SOURCE_ADDRESS;
if (!localAddress) throw new Error('SOURCE_ADDRESS is not set');

// client.ts opens every connection with `connect` from node:net. Patching the builtin and
// syncing its ESM exports gives it the source address without a second copy of the generator.
const connect = net.connect;
Object.assign(net, {
  connect: (options: net.NetConnectOpts) => connect({ ...options, localAddress }),
});
syncBuiltinESMExports();

// A bench that dies without killing its generators must not leave their sockets open.
process.on('disconnect', () => process.exit(0));

await import('./client.js');
// Loaded and listening: from here on, the time to connect is the connections' own.
process.send?.({ type: 'ready' });
