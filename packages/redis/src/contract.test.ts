// The broker contract (@ssekit/testing/broker-contract), run against RedisBroker on a real
// redis-server. Every case opens its own broker on one server, on channels of its own.
import { type BrokerContractSubject, brokerContract } from '@ssekit/testing/broker-contract';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type RedisServer, startRedis } from '../test/redis-server.js';
import { RedisBroker } from './index.js';

let redis: RedisServer;
beforeAll(async () => {
  // Trimming (`MAXLEN ~`) drops whole stream nodes: with one entry per node, a history of
  // `historySize` keeps about that many events, as the contract's bounded-history case needs.
  redis = await startRedis({ persist: false, args: ['--stream-node-max-entries', '1'] });
});
afterAll(() => redis?.stop());

async function open({ historySize }: { historySize: number }): Promise<BrokerContractSubject> {
  const broker = new RedisBroker({ url: redis.url, history: { size: historySize } });
  try {
    await broker.ready;
  } catch (error) {
    await broker.close();
    throw error;
  }
  return { broker, historySize };
}

describe('RedisBroker, under the broker contract', () => {
  for (const c of brokerContract) it(c.name, () => c.run(open));
});
