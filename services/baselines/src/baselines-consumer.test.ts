import { agentKey } from '@thoth/contracts';
import { AvroCodec, type Batch, type BatchHandler, type Bus, createLogger } from '@thoth/platform';
import { afterEach, describe, expect, it } from 'vitest';
import { callDecision, testBaselineSettings } from '../../../test/fixtures.ts';
import type { BaselineStore } from './baseline-store.ts';
import { BaselinesConsumer } from './baselines-consumer.ts';

/**
 * Which batches the consumer refuses after a failure, driven batch by batch through a bus that only hands
 * over what the test gives it (the adapters' side, Batch.delivery, is in test/bus.contract.test.ts).
 */
const settings = testBaselineSettings({ learningCalls: 1_000 });
const codec = new AvroCodec();
const TOPIC = 'thoth.events';
const t0 = Date.parse('2026-12-01T10:00:00Z');
let consumer: BaselinesConsumer | undefined;

afterEach(async () => {
  await consumer?.stop();
  consumer = undefined;
});

/** A consumer on a bus whose one subscription's handler the test calls, and a store whose saves may fail. */
async function harness() {
  let handler: BatchHandler | undefined;
  const bus = {
    subscribe: async (options: { handler: BatchHandler }) => {
      handler = options.handler;
      return { stop: async () => undefined };
    },
    publish: async () => undefined,
  } as unknown as Bus;
  const saves = { failures: 0, stored: 0 };
  const store: BaselineStore = {
    select: async () => [],
    insertRows: async (table) => {
      if (table !== 'baseline_state') return;
      if (saves.failures > 0) {
        saves.failures--;
        throw new Error('injected: baseline_state insert failed');
      }
      saves.stored++;
    },
  };
  consumer = new BaselinesConsumer({
    bus,
    codec,
    store,
    eventsTopic: TOPIC,
    directivesTopic: 'thoth.directives',
    log: createLogger('silent'),
    settings,
    saveIntervalMs: 0,
  });
  await consumer.start();
  /** Hands over the call `offset` of agent-1 as a batch of its own, of the delivery `delivery`. */
  const deliver = (offset: number, delivery: string | undefined) => {
    const event = callDecision('acme', 'agent-1', offset, t0 + offset * 1_000, 'search_docs', 10);
    const message = codec.encode('thoth.v1.DecisionEvent', agentKey('acme', 'agent-1'), event);
    const batch: Batch = {
      topic: TOPIC,
      partition: 0,
      delivery,
      messages: [
        {
          ...message,
          topic: TOPIC,
          partition: 0,
          offset: String(offset),
          headers: message.headers ?? {},
          timestamp: 0,
        },
      ],
    };
    return handler!(batch);
  };
  const calls = () => consumer!.baselineOf('acme', 'agent-1')?.calls;
  return { deliver, saves, calls };
}

describe('baselines consumer: batches behind a failure', () => {
  it('refuses the batches of the failed delivery after it, and takes its redelivery and what follows', async () => {
    const { deliver, saves, calls } = await harness();
    await deliver(0, 'lane-1.0');
    saves.failures = 1;
    await expect(deliver(1, 'lane-1.0')).rejects.toThrow('injected');
    // Handed over before the bus saw the failure: refused, nothing learned.
    await expect(deliver(2, 'lane-1.0')).rejects.toThrow('a batch before offset 2 failed');
    expect(calls()).toBeUndefined(); // the failed save's agent was forgotten (it reloads what is stored)
    // The redelivery, from the failed batch on.
    await deliver(1, 'lane-1.1');
    await deliver(2, 'lane-1.1');
    expect(calls()).toBe(2);
  });

  it('from a bus that stamps no delivery, the offset alone tells the redelivery', async () => {
    const { deliver, saves, calls } = await harness();
    await deliver(0, undefined);
    saves.failures = 1;
    await expect(deliver(1, undefined)).rejects.toThrow('injected');
    await expect(deliver(2, undefined)).rejects.toThrow('a batch before offset 2 failed');
    await deliver(1, undefined);
    await deliver(2, undefined);
    await deliver(3, undefined);
    expect(calls()).toBe(3);
  });

  it('a new delivery that starts past the failed batch is taken: the partition came back from elsewhere', async () => {
    const { deliver, saves, calls } = await harness();
    await deliver(0, 'lane-1.0');
    saves.failures = 1;
    await expect(deliver(1, 'lane-1.0')).rejects.toThrow('injected');
    // Another member stored up to offset 7 meanwhile; this member gets the partition again, in a new lane.
    await deliver(8, 'lane-2.0');
    await deliver(9, 'lane-2.0');
    expect(calls()).toBe(2);
    expect(saves.stored).toBe(3);
  });
});
