import type { DecisionEvent } from '@thoth/contracts';
import type { IncomingMessage, OutgoingMessage } from '@thoth/platform';
import { AvroCodec, createLogger, MemoryBus, publisherDroppedTotal } from '@thoth/platform';
import { describe, expect, it } from 'vitest';
import { callDecision } from '../../../test/fixtures.ts';
import { BackgroundPublisher } from './background-publisher.ts';

const TOPIC = 'test.events';
const codec = new AvroCodec();
const log = createLogger('silent');
/** The process's `thoth_publisher_dropped_events_total` (docs/metrics.md). */
const droppedMetric = async () => (await publisherDroppedTotal.get()).values[0]?.value ?? 0;

/** Decision `n` of `agent`; its event id is `acme:<agent>-<n>`. */
function decision(agent: string, n: number): DecisionEvent {
  return callDecision('acme', agent, n, 1_700_000_000_000 + n, 'search_docs', 0);
}

/** Each message on the topic, in partition order, as the event ids it carries. */
async function readTopic(bus: MemoryBus, expected: number): Promise<Array<{ key: string; ids: string[] }>> {
  const seen: IncomingMessage[] = [];
  await bus.subscribe({
    group: 'reader',
    topics: [TOPIC],
    fromBeginning: true,
    handler: async (batch) => {
      seen.push(...batch.messages);
    },
  });
  const ids = () =>
    seen.flatMap((m) => {
      const decoded = codec.decodeAll(m);
      return decoded.ok ? decoded.records : [];
    });
  for (let i = 0; i < 200 && ids().length < expected; i++) await new Promise((r) => setTimeout(r, 10));
  return seen.map((message) => {
    const decoded = codec.decodeAll(message);
    if (!decoded.ok) throw new Error(decoded.reason);
    return {
      key: message.key,
      ids: decoded.records.map((r) => (r.value as { event_id: string }).event_id),
    };
  });
}

describe('BackgroundPublisher', () => {
  it("encodes a key's queued records as batch messages, in order, split by a message queued between them", async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    await bus.ensureTopics([{ name: TOPIC, partitions: 1 }]);
    const publisher = new BackgroundPublisher({ bus, codec, log, intervalMs: 1 });
    for (let n = 1; n <= 3; n++)
      publisher.enqueueRecord(TOPIC, 'thoth.v1.DecisionEvent', 'a', decision('a', n));
    publisher.enqueueRecord(TOPIC, 'thoth.v1.DecisionEvent', 'b', decision('b', 1));
    publisher.enqueue(TOPIC, codec.encode('thoth.v1.DecisionEvent', 'a', decision('a', 4)));
    for (let n = 5; n <= 6; n++)
      publisher.enqueueRecord(TOPIC, 'thoth.v1.DecisionEvent', 'a', decision('a', n));
    publisher.enqueueRecord(TOPIC, 'thoth.v1.DecisionEvent', 'b', decision('b', 2));
    await publisher.settle();

    expect(await readTopic(bus, 8)).toEqual([
      { key: 'a', ids: ['acme:a-1', 'acme:a-2', 'acme:a-3'] },
      { key: 'b', ids: ['acme:b-1', 'acme:b-2'] },
      { key: 'a', ids: ['acme:a-4'] },
      { key: 'a', ids: ['acme:a-5', 'acme:a-6'] },
    ]);
    expect(publisher.published).toBe(8);
    expect(publisher.pending).toBe(0);
    await bus.close();
  });

  it('keeps the encoded batches while the bus refuses them, and publishes them once it accepts', async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    await bus.ensureTopics([{ name: TOPIC, partitions: 1 }]);
    let refuse = 2;
    const flaky = Object.assign(Object.create(bus) as MemoryBus, {
      publish: async (topic: string, messages: OutgoingMessage[]) => {
        if (refuse-- > 0) throw new Error('broker down');
        await bus.publish(topic, messages);
      },
    });
    const publisher = new BackgroundPublisher({ bus: flaky, codec, log, intervalMs: 1 });
    for (let n = 1; n <= 5; n++)
      publisher.enqueueRecord(TOPIC, 'thoth.v1.DecisionEvent', 'a', decision('a', n));
    await publisher.settle();

    expect(refuse).toBe(-1);
    expect(await readTopic(bus, 5)).toEqual([
      { key: 'a', ids: ['acme:a-1', 'acme:a-2', 'acme:a-3', 'acme:a-4', 'acme:a-5'] },
    ]);
    expect(publisher.published).toBe(5);
    await bus.close();
  });

  it('bounds the queue by records, counting a requeued batch message as its records', async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    await bus.ensureTopics([{ name: TOPIC, partitions: 1 }]);
    let refuse = true;
    const flaky = Object.assign(Object.create(bus) as MemoryBus, {
      publish: async (topic: string, messages: OutgoingMessage[]) => {
        if (refuse) throw new Error('broker down');
        await bus.publish(topic, messages);
      },
    });
    const publisher = new BackgroundPublisher({ bus: flaky, codec, log, intervalMs: 60_000, maxQueue: 5 });
    const droppedBefore = await droppedMetric();
    for (let n = 1; n <= 3; n++)
      publisher.enqueueRecord(TOPIC, 'thoth.v1.DecisionEvent', 'a', decision('a', n));
    await publisher.flush(); // refused: back in the queue as one batch message of 3 records
    expect(publisher.pending).toBe(3);
    for (let n = 4; n <= 6; n++)
      publisher.enqueueRecord(TOPIC, 'thoth.v1.DecisionEvent', 'a', decision('a', n));
    // 6 records > 5: the oldest item goes, and it held 3.
    expect(publisher.dropped).toBe(3);
    expect((await droppedMetric()) - droppedBefore).toBe(3);
    expect(publisher.pending).toBe(3);
    refuse = false;
    await publisher.settle();
    expect(await readTopic(bus, 3)).toEqual([{ key: 'a', ids: ['acme:a-4', 'acme:a-5', 'acme:a-6'] }]);
    expect(publisher.published).toBe(3);
    await bus.close();
  });

  it('drops and counts a record that does not encode, and publishes the others', async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    await bus.ensureTopics([{ name: TOPIC, partitions: 1 }]);
    const publisher = new BackgroundPublisher({ bus, codec, log, intervalMs: 1 });
    const droppedBefore = await droppedMetric();
    publisher.enqueueRecord(TOPIC, 'thoth.v1.DecisionEvent', 'a', decision('a', 1));
    publisher.enqueueRecord(TOPIC, 'thoth.v1.DecisionEvent', 'a', {
      ...decision('a', 2),
      risk_score: 'high' as unknown as number,
    });
    publisher.enqueueRecord(TOPIC, 'thoth.v1.DecisionEvent', 'a', decision('a', 3));
    await publisher.settle();
    expect(await readTopic(bus, 2)).toEqual([{ key: 'a', ids: ['acme:a-1', 'acme:a-3'] }]);
    expect(publisher.dropped).toBe(1);
    expect((await droppedMetric()) - droppedBefore).toBe(1);
    expect(publisher.published).toBe(2);
    await bus.close();
  });
});
