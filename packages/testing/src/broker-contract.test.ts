// The broker contract, run against MemoryBroker; RedisBroker runs it in packages/redis. Here
// too, next to the suite: it bundles for the edge, importing no Node builtin and no vitest.
import { fileURLToPath } from 'node:url';
import { type Broker, MemoryBroker } from '@ssekit/core';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { type BrokerContractSubject, brokerContract } from './broker-contract.js';

const open = async ({ historySize }: { historySize: number }): Promise<BrokerContractSubject> => ({
  broker: new MemoryBroker({ history: { size: historySize } }),
  historySize,
});

describe('MemoryBroker, under the broker contract', () => {
  for (const c of brokerContract) it(c.name, () => c.run(open));
});

describe('the broker contract', () => {
  it('has cases with distinct names', () => {
    const names = brokerContract.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('fails, naming what differed, for a broker that breaks it', async () => {
    // Replays nothing: every case about replay must fail, and say so.
    const forgetful = async ({ historySize }: { historySize: number }): Promise<BrokerContractSubject> => {
      const memory = new MemoryBroker({ history: { size: historySize } });
      const broker: Broker = {
        publish: (channel, event) => memory.publish(channel, event),
        subscribe: (channel, listener) => memory.subscribe(channel, listener),
        replay: async () => ({ pages: (async function* () {})() }),
        close: () => memory.close(),
      };
      return { broker, historySize };
    };
    const replayCase = brokerContract.find((c) => c.name.startsWith('replay after an id gives'));
    await expect(replayCase?.run(forgetful)).rejects.toThrow(/a replay after event 0: expected \[\{"id":/);
  });

  it('bundles for workerd with @ssekit/core alone: no Node builtin, no vitest', async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('./broker-contract.ts', import.meta.url))],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      conditions: ['workerd', 'worker', 'browser'],
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((file) => !/^packages\/(core|testing)\/src\//.test(file))).toEqual([]);
    expect(inputs.filter((file) => file.startsWith('packages/testing/'))).toEqual([
      'packages/testing/src/broker-contract.ts',
    ]);
  });
});
