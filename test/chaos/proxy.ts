// Fault-injecting TCP proxies for the chaos run (node:net, no dependencies).
//
// A client proxy sits between event-stream clients and one app instance. Each connection
// follows a plan drawn from the seed and the connection's name (the `x-chaos-conn` request
// header the chaos client sends), so a seed replays the same plan for the same client and
// attempt. Faults come one after another, at random moments:
// - `delay`: for a while, every chunk from the server is held for a latency before it goes on
//   (the server still sees a client that reads); also, at the start, the request itself;
// - `stall`: for a while, nothing is read from the server, so its socket fills up and it sees
//   a client that takes nothing;
// - `slow-read`: for a while, the server's bytes are read in small pieces on a timer;
// - `cut-fin` / `cut-rst`: both sides are closed with a FIN (`end()`) or a reset
//   (`resetAndDestroy()`), often after forwarding only a random part of a chunk, so frames
//   are split.
// A Redis proxy sits between one app instance and Redis: it stalls a connection (both
// directions held) and cuts it (FIN or RST). Its `blackhole()` holds every connection, new ones
// too, until `lift()`: a network that drops every packet without closing anything.
import net from 'node:net';
import { createRandom, type Random } from './random.js';

export const CLIENT_FAULTS = ['delay', 'stall', 'slow-read', 'cut-fin', 'cut-rst'] as const;
export type ClientFault = (typeof CLIENT_FAULTS)[number];
export const REDIS_FAULTS = ['stall', 'cut-fin', 'cut-rst'] as const;
export type RedisFault = (typeof REDIS_FAULTS)[number];

/** What the proxy was doing with the server's bytes. */
export type DownMode = 'normal' | 'delay' | 'stall' | 'slow-read';

export interface FaultEntry {
  kind: ClientFault | RedisFault;
  /** Ms since the run started. */
  at: number;
  /** Wall-clock time (Date.now()), to line up with what the apps logged. */
  wall?: number;
  /** How long it lasted (delay, stall, slow-read), in ms. */
  ms?: number;
  detail?: string;
}

/** What one proxied client connection went through, as the proxy saw it. */
export interface ClientConnectionRecord {
  /** The client's `x-chaos-conn` header: `<client>.<attempt>`. */
  id: string;
  proxy: string;
  openedAt: number;
  faults: FaultEntry[];
  bytesDown: number;
  /** Bytes read from the server (some may still have been held when it ended). */
  bytesFromServer: number;
  /** Set when the proxy cut the connection. */
  cut?: { how: 'fin' | 'rst'; at: number; wall: number; partial: boolean };
  /**
   * Set when the server ended the connection (a FIN, or an error such as a reset; `unseen`
   * when the client closed first, e.g. right after a last chunk, and the proxy had not read
   * the server's end yet).
   */
  serverEnd?: {
    how: 'fin' | 'error' | 'unseen';
    code?: string;
    at: number;
    /** What the proxy was doing with the server's bytes then. */
    mode: DownMode;
    /** Ms since the proxy last took bytes from the server. */
    idleMs: number;
    /**
     * The longest time, within the last 6 s, that the proxy took no bytes from the server,
     * whatever the reason (a stall, or this process too busy to read): what the server saw.
     */
    quietMs: number;
    /** Ms since the last stall ended (0 while one is under way); undefined if none. */
    sinceStallMs?: number;
    /** The last slow read: ms since it ended (0 while under way), and how long it lasted. */
    slowRead?: { sinceMs: number; lastedMs: number };
  };
  /** Set when the client closed its side first. */
  clientEndAt?: number;
  closedAt?: number;
}

export interface ProxyCounts {
  faults: Record<string, number>;
  connections: number;
}

export interface FaultProxy {
  readonly name: string;
  readonly port: number;
  readonly counts: ProxyCounts;
  /** Client proxies: every connection by its id. */
  readonly connections: Map<string, ClientConnectionRecord>;
  /** Starts injecting faults, on open connections and new ones. */
  arm(): void;
  /** Stops injecting: no new faults, and delays, stalls and slow reads under way end now. */
  calm(): void;
  close(): Promise<void>;
}

export interface ClientProxyOptions {
  name: string;
  /** The app instance's port on 127.0.0.1. */
  target: number;
  seed: number;
  /** Ms since the run started. */
  clock: () => number;
  /** Mean ms between faults on one connection. */
  meanGapMs: number;
  /** Probability that a connection's request is held before it goes on. */
  requestDelayP?: number;
  /** Ranges, in ms. */
  delayLatencyMs?: [number, number];
  delayWindowMs?: [number, number];
  stallMs?: [number, number];
  slowReadMs?: [number, number];
  /** Bytes per 20 ms tick while slow-reading. */
  slowPieceBytes?: [number, number];
  weights?: Partial<Record<ClientFault, number>>;
  /** The first fault of some connections, so that a short run sees every kind. */
  firstFault?: (connectionId: string) => ClientFault | undefined;
}

const MAX_HELD_BYTES = 8 * 1024 * 1024;
const SLOW_TICK_MS = 20;

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A thousand clients reconnect at once when the faults stop: a short accept queue would
    // drop their SYNs, and TCP retries after 1, 3, 7, 15 s.
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () =>
      resolve((server.address() as net.AddressInfo).port),
    );
  });
}

function emptyCounts(kinds: readonly string[]): ProxyCounts {
  return { faults: Object.fromEntries(kinds.map((kind) => [kind, 0])), connections: 0 };
}

interface ProxiedConnection {
  arm(): void;
  calm(): void;
  destroy(): void;
}

/** What a proxy's connections read: whether faults are armed or calmed, and which are open. */
interface ProxyState<C extends ProxiedConnection> {
  armed: boolean;
  calm: boolean;
  readonly live: Set<C>;
}

/** Listens on a free port, and arms, calms and closes every open connection at once. */
async function serveConnections<C extends ProxiedConnection>(
  state: ProxyState<C>,
  accept: (socket: net.Socket) => C,
): Promise<Pick<FaultProxy, 'port' | 'arm' | 'calm' | 'close'>> {
  const server = net.createServer((socket) => {
    state.live.add(accept(socket));
  });
  const port = await listen(server);
  return {
    port,
    arm() {
      state.armed = true;
      state.calm = false;
      for (const connection of state.live) connection.arm();
    },
    calm() {
      state.calm = true;
      for (const connection of state.live) connection.calm();
    },
    async close() {
      for (const connection of state.live) connection.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Reads the `x-chaos-conn` header from the start of a request, once its line is whole. */
function connectionIdOf(head: string): string | undefined {
  return /\r\nx-chaos-conn: *([^\r\n]+)\r\n/i.exec(head)?.[1]?.trim();
}

/** A proxy for event-stream clients in front of one app instance. */
export async function createClientProxy(options: ClientProxyOptions): Promise<FaultProxy> {
  const {
    name,
    target,
    seed,
    clock,
    meanGapMs,
    requestDelayP = 0.15,
    delayLatencyMs = [100, 1000],
    delayWindowMs = [500, 3000],
    stallMs = [500, 6000],
    slowReadMs = [1000, 5000],
    slowPieceBytes = [64, 2048],
  } = options;
  const weights: Record<ClientFault, number> = {
    delay: 1,
    stall: 1,
    'slow-read': 1,
    'cut-fin': 1,
    'cut-rst': 1,
    ...options.weights,
  };
  const counts = emptyCounts(CLIENT_FAULTS);
  const connections = new Map<string, ClientConnectionRecord>();
  const state: ProxyState<ClientConnection> = { armed: false, calm: false, live: new Set() };
  let anonymous = 0;

  class ClientConnection {
    readonly record: ClientConnectionRecord;
    readonly #client: net.Socket;
    readonly #server: net.Socket;
    #random: Random | undefined;
    #mode: DownMode = 'normal';
    #latency = 0;
    #slowPiece = 0;
    #held: { chunk: Buffer; at: number }[] = [];
    #heldBytes = 0;
    #clientBlocked = false;
    #flushTimer: NodeJS.Timeout | undefined;
    #slowTimer: NodeJS.Timeout | undefined;
    #faultTimer: NodeJS.Timeout | undefined;
    #modeTimer: NodeJS.Timeout | undefined;
    #cutOnNextChunk: 'fin' | 'rst' | undefined;
    #serverDone = false;
    #done = false;
    #lastTakeAt: number;
    /** When the proxy last took bytes from the server, the most recent last (a ring). */
    readonly #takes: number[] = [];
    #stallEndedAt: number | undefined;
    #slowReadStartedAt: number | undefined;
    #slowReadEndedAt: number | undefined;
    #first = true;
    /** Request bytes held while the request is delayed; undefined once they flow. */
    #upHeld: Buffer[] | undefined = [];
    #head = '';

    constructor(client: net.Socket) {
      this.#client = client;
      this.#server = net.connect(target, '127.0.0.1');
      this.#lastTakeAt = clock();
      this.record = {
        id: `anon-${++anonymous}`,
        proxy: name,
        openedAt: clock(),
        faults: [],
        bytesDown: 0,
        bytesFromServer: 0,
      };
      counts.connections++;
      client.on('data', (chunk: Buffer) => this.#fromClient(chunk));
      client.on('end', () => {
        this.record.clientEndAt ??= clock();
        if (!this.#done) this.#server.end();
      });
      client.on('error', () => {
        this.record.clientEndAt ??= clock();
      });
      client.on('close', () => {
        this.record.clientEndAt ??= clock();
        this.#finish();
      });
      const server = this.#server;
      server.on('readable', () => this.#pump());
      server.on('end', () => {
        this.#onServerEnd('fin');
      });
      server.on('error', (error: NodeJS.ErrnoException) => {
        this.#onServerEnd('error', error.code);
      });
      server.on('close', () => {
        if (!this.#serverDone) this.#onServerEnd('error', 'CLOSED');
      });
    }

    // Client → server: the request (and nothing else: clients send no body).
    #fromClient(chunk: Buffer): void {
      if (this.#done) return;
      if (this.#random === undefined) {
        this.#head += chunk.toString('latin1');
        const id = connectionIdOf(this.#head);
        if (id !== undefined || this.#head.includes('\r\n\r\n') || this.#head.length > 16_384) this.#start(id);
      }
      if (this.#upHeld) this.#upHeld.push(chunk);
      else this.#server.write(chunk);
    }

    #start(id: string | undefined): void {
      if (id !== undefined) this.record.id = id;
      connections.set(this.record.id, this.record);
      this.#random = createRandom(seed, `client/${this.record.id}`);
      if (state.armed && !state.calm && this.#random() < requestDelayP) {
        const ms = Math.round(this.#random.between(50, 1500));
        this.#inject({ kind: 'delay', at: clock(), ms, detail: 'request held' });
        setTimeout(() => this.#releaseRequest(), ms);
      } else this.#releaseRequest();
      if (state.armed) this.arm();
    }

    #releaseRequest(): void {
      const held = this.#upHeld ?? [];
      this.#upHeld = undefined;
      if (this.#done) return;
      for (const chunk of held) this.#server.write(chunk);
    }

    #inject(entry: FaultEntry): void {
      this.record.faults.push(entry);
      counts.faults[entry.kind] = (counts.faults[entry.kind] ?? 0) + 1;
    }

    /** Schedules the next fault, unless calm or done. */
    arm(): void {
      if (state.calm || this.#done || this.#faultTimer || this.#modeTimer || !this.#random) return;
      const random = this.#random;
      const forced = this.#first ? options.firstFault?.(this.record.id) : undefined;
      this.#first = false;
      const gap = forced ? random.between(200, 1500) : random.exponential(meanGapMs);
      const kind = forced ?? random.weighted(weights);
      this.#faultTimer = setTimeout(() => {
        this.#faultTimer = undefined;
        if (!state.calm && !this.#done) this.#fault(kind, random);
      }, gap);
    }

    #fault(kind: ClientFault, random: Random): void {
      const at = clock();
      if (kind === 'cut-fin' || kind === 'cut-rst') {
        const how = kind === 'cut-fin' ? 'fin' : 'rst';
        const partial = random() < 0.6;
        this.#inject({ kind, at, detail: partial ? 'after part of the next chunk' : 'at once' });
        if (!partial) {
          this.#cut(how, false);
          return;
        }
        this.#cutOnNextChunk = how;
        // A quiet stream may send nothing for a while: cut anyway.
        this.#modeTimer = setTimeout(() => {
          this.#modeTimer = undefined;
          if (this.#cutOnNextChunk) this.#cut(this.#cutOnNextChunk, false);
        }, 1000);
        this.#pump();
        return;
      }
      const range = kind === 'delay' ? delayWindowMs : kind === 'stall' ? stallMs : slowReadMs;
      const ms = Math.round(random.between(range[0], range[1]));
      let detail: string | undefined;
      if (kind === 'delay') {
        this.#latency = Math.round(random.between(delayLatencyMs[0], delayLatencyMs[1]));
        detail = `${this.#latency} ms per chunk`;
      }
      if (kind === 'slow-read') {
        this.#slowPiece = random.int(slowPieceBytes[0], slowPieceBytes[1]);
        detail = `${this.#slowPiece} B per ${SLOW_TICK_MS} ms`;
        this.#slowTimer = setInterval(() => this.#slowTick(), SLOW_TICK_MS);
        this.#slowReadStartedAt = clock();
        this.#slowReadEndedAt = undefined;
      }
      this.#inject({ kind, at, ms, detail });
      this.#mode = kind;
      this.#modeTimer = setTimeout(() => {
        this.#modeTimer = undefined;
        this.#endMode();
        this.arm();
      }, ms);
    }

    /** Back to forwarding at once; held bytes go now. */
    #endMode(): void {
      if (this.#mode === 'stall') this.#stallEndedAt = clock();
      if (this.#mode === 'slow-read') this.#slowReadEndedAt = clock();
      if (this.#mode === 'delay') for (const held of this.#held) held.at = 0;
      this.#mode = 'normal';
      clearInterval(this.#slowTimer);
      this.#slowTimer = undefined;
      this.#pump();
    }

    calm(): void {
      clearTimeout(this.#faultTimer);
      this.#faultTimer = undefined;
      if (this.#cutOnNextChunk) return; // decided already: it happens within a second
      clearTimeout(this.#modeTimer);
      this.#modeTimer = undefined;
      if (this.#mode !== 'normal') this.#endMode();
      if (this.#upHeld) this.#releaseRequest();
    }

    #take(chunk: Buffer): void {
      this.#lastTakeAt = clock();
      this.record.bytesFromServer += chunk.length;
      if (this.#takes.length >= 256) this.#takes.shift();
      this.#takes.push(this.#lastTakeAt);
      if (this.#cutOnNextChunk) {
        const how = this.#cutOnNextChunk;
        // Everything held goes first, then a random part of this chunk, then the cut.
        for (const held of this.#held) held.at = 0;
        this.#flush();
        const cutAt = chunk.length > 1 ? (this.#random as Random).int(1, chunk.length - 1) : chunk.length;
        const part = chunk.subarray(0, cutAt);
        this.record.bytesDown += part.length;
        this.#client.write(part);
        this.#cut(how, true);
        return;
      }
      this.#held.push({ chunk, at: this.#mode === 'delay' ? clock() + this.#latency : 0 });
      this.#heldBytes += chunk.length;
    }

    #pump(): void {
      if (this.#done) return;
      if (this.#mode === 'normal' || this.#mode === 'delay' || this.#cutOnNextChunk) {
        while (this.#heldBytes < MAX_HELD_BYTES && !this.#done) {
          const chunk = this.#server.read() as Buffer | null;
          if (chunk === null) break;
          this.#take(chunk);
        }
      }
      this.#flush();
    }

    #slowTick(): void {
      if (this.#done || this.#mode !== 'slow-read') return;
      const server = this.#server;
      const size = Math.min(this.#slowPiece, server.readableLength);
      if (size > 0) {
        const chunk = server.read(size) as Buffer | null;
        if (chunk) this.#take(chunk);
      } else server.read(0);
      this.#flush();
    }

    #flush(): void {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
      if (this.#done) return;
      const now = clock();
      while (this.#held.length > 0 && !this.#clientBlocked) {
        const first = this.#held[0] as { chunk: Buffer; at: number };
        if (first.at > now) {
          this.#flushTimer = setTimeout(() => this.#pump(), first.at - now);
          break;
        }
        this.#held.shift();
        this.#heldBytes -= first.chunk.length;
        this.record.bytesDown += first.chunk.length;
        if (!this.#client.write(first.chunk)) {
          this.#clientBlocked = true;
          this.#client.once('drain', () => {
            this.#clientBlocked = false;
            this.#pump();
          });
        }
      }
      if (this.#serverDone && this.#held.length === 0 && !this.#done) {
        // The server ended: the client gets what was forwarded, then the end.
        this.#done = true;
        this.#client.end();
        this.#stopTimers();
      }
    }

    #onServerEnd(how: 'fin' | 'error', code?: string): void {
      if (this.#serverDone) return;
      this.#serverDone = true;
      if (!this.#done) this.#noteServerEnd(how, code);
      // Bytes still held were read from the server: they go on, then the end.
      for (const held of this.#held) held.at = 0;
      this.#flush();
    }

    #longestQuiet(now: number): number {
      const since = now - 6_000;
      let previous = Math.max(since, this.record.openedAt);
      let longest = 0;
      for (const at of [...this.#takes, now]) {
        if (at < since) continue;
        longest = Math.max(longest, at - previous);
        previous = at;
      }
      return Math.round(longest);
    }

    /** What the proxy was doing when the server ended the connection. */
    #noteServerEnd(how: 'fin' | 'error' | 'unseen', code?: string): void {
      if (this.record.cut || this.record.serverEnd) return;
      const at = clock();
      this.record.serverEnd = {
        how,
        code,
        at,
        mode: this.#mode,
        idleMs: Math.round(at - this.#lastTakeAt),
        quietMs: this.#longestQuiet(at),
        sinceStallMs:
          this.#mode === 'stall'
            ? 0
            : this.#stallEndedAt === undefined
              ? undefined
              : Math.round(at - this.#stallEndedAt),
        slowRead:
          this.#slowReadStartedAt === undefined
            ? undefined
            : {
                sinceMs: this.#slowReadEndedAt === undefined ? 0 : Math.round(at - this.#slowReadEndedAt),
                lastedMs: Math.round((this.#slowReadEndedAt ?? at) - this.#slowReadStartedAt),
              },
      };
    }

    #cut(how: 'fin' | 'rst', partial: boolean): void {
      if (this.#done) return;
      this.#done = true;
      this.#cutOnNextChunk = undefined;
      this.record.cut = { how, at: clock(), wall: Date.now(), partial };
      this.#stopTimers();
      if (how === 'rst') {
        this.#client.resetAndDestroy();
        this.#server.resetAndDestroy();
      } else {
        this.#client.end();
        this.#server.end();
        setTimeout(() => {
          this.#client.destroy();
          this.#server.destroy();
        }, 1000).unref();
      }
    }

    #stopTimers(): void {
      clearTimeout(this.#faultTimer);
      clearTimeout(this.#modeTimer);
      clearTimeout(this.#flushTimer);
      clearInterval(this.#slowTimer);
      this.#faultTimer = this.#modeTimer = this.#flushTimer = this.#slowTimer = undefined;
    }

    /** The client's side closed: the server's goes too. */
    #finish(): void {
      this.record.closedAt ??= clock();
      // A client that read the server's last chunk closes at once, maybe before the proxy
      // read the server's FIN: the server ended it all the same.
      if (!this.#serverDone && !this.#done) this.#noteServerEnd('unseen');
      this.#done = true;
      this.#stopTimers();
      this.#server.destroy();
      state.live.delete(this);
    }

    destroy(): void {
      this.#done = true;
      this.#stopTimers();
      this.#client.destroy();
      this.#server.destroy();
    }
  }

  return {
    name,
    counts,
    connections,
    ...(await serveConnections(state, (client) => new ClientConnection(client))),
  };
}

export interface RedisProxyOptions {
  name: string;
  /** Redis's port on 127.0.0.1. */
  target: number;
  seed: number;
  clock: () => number;
  meanGapMs: number;
  stallMs?: [number, number];
  weights?: Partial<Record<RedisFault, number>>;
}

export interface RedisFaultProxy extends FaultProxy {
  readonly log: FaultEntry[];
  /**
   * Stops forwarding on every connection, new ones included, and closes nothing: what a
   * network that drops every packet does. TCP retransmits such packets, so what was held goes
   * on at `lift()`, unless its connection closed meanwhile.
   */
  blackhole(): void;
  lift(): void;
}

/** A proxy between one app instance and Redis that stalls and cuts its connections. */
export async function createRedisProxy(options: RedisProxyOptions): Promise<RedisFaultProxy> {
  const { name, target, seed, clock, meanGapMs, stallMs = [200, 2500] } = options;
  const weights: Record<RedisFault, number> = { stall: 3, 'cut-fin': 1, 'cut-rst': 1, ...options.weights };
  const counts = emptyCounts(REDIS_FAULTS);
  const log: FaultEntry[] = [];
  const state: ProxyState<RedisConnection> = { armed: false, calm: false, live: new Set() };
  let opened = 0;
  let blackholed = false;

  class RedisConnection {
    readonly #n: number;
    readonly #app: net.Socket;
    readonly #redis: net.Socket;
    readonly #random: Random;
    #stalled = false;
    #held: [net.Socket, Buffer][] = [];
    #timer: NodeJS.Timeout | undefined;
    #done = false;
    #first = true;

    constructor(app: net.Socket) {
      this.#n = ++opened;
      counts.connections++;
      this.#app = app;
      this.#redis = net.connect(target, '127.0.0.1');
      this.#random = createRandom(seed, `redis/${name}/${this.#n}`);
      this.#forward(app, this.#redis);
      this.#forward(this.#redis, app);
      const close = () => this.destroy();
      for (const socket of [app, this.#redis]) {
        socket.on('error', () => {});
        socket.on('end', () => (socket === app ? this.#redis : app).end());
        socket.on('close', close);
      }
      if (state.armed) this.arm();
    }

    #forward(from: net.Socket, to: net.Socket): void {
      from.on('data', (chunk: Buffer) => {
        if (this.#stalled || blackholed) this.#held.push([to, chunk]);
        else to.write(chunk);
      });
    }

    arm(): void {
      if (state.calm || this.#done || this.#timer) return;
      const random = this.#random;
      // The first fault of each connection rotates through the kinds: every kind shows up.
      const kind = this.#first ? (REDIS_FAULTS[this.#n % REDIS_FAULTS.length] as RedisFault) : random.weighted(weights);
      this.#first = false;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (state.calm || this.#done) return;
        const entry: FaultEntry = { kind, at: clock(), wall: Date.now(), detail: `connection ${this.#n}` };
        log.push(entry);
        counts.faults[kind] = (counts.faults[kind] ?? 0) + 1;
        if (kind === 'stall') {
          entry.ms = Math.round(random.between(stallMs[0], stallMs[1]));
          this.#stalled = true;
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.#stalled = false;
            this.release();
            this.arm();
          }, entry.ms);
        } else this.#cut(kind === 'cut-fin' ? 'fin' : 'rst');
      }, random.exponential(meanGapMs));
    }

    /** Forwards what was held, unless a stall or the blackhole still holds it. */
    release(): void {
      if (this.#stalled || blackholed) return;
      const held = this.#held;
      this.#held = [];
      for (const [to, chunk] of held) if (!to.destroyed) to.write(chunk);
    }

    #cut(how: 'fin' | 'rst'): void {
      this.#done = true;
      if (how === 'rst') {
        this.#app.resetAndDestroy();
        this.#redis.resetAndDestroy();
      } else {
        this.#app.end();
        this.#redis.end();
        setTimeout(() => this.destroy(), 500).unref();
      }
    }

    calm(): void {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      if (!this.#stalled) return;
      this.#stalled = false;
      this.release();
    }

    destroy(): void {
      this.#done = true;
      clearTimeout(this.#timer);
      this.#app.destroy();
      this.#redis.destroy();
      state.live.delete(this);
    }
  }

  return {
    name,
    counts,
    log,
    connections: new Map(),
    ...(await serveConnections(state, (socket) => new RedisConnection(socket))),
    blackhole() {
      blackholed = true;
    },
    lift() {
      blackholed = false;
      for (const connection of state.live) connection.release();
    },
  };
}
