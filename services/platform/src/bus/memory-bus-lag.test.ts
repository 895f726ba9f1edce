import { describe, expect, it } from 'vitest';
import type { PartitionLag } from './bus.ts';
import { MemoryBus } from './memory-bus.ts';

const byPartition = (lags: PartitionLag[], group: string) =>
  Object.fromEntries(lags.filter((l) => l.group === group).map((l) => [`${l.topic}/${l.partition}`, l.lag]));

describe('MemoryBus.consumerLags', () => {
  it("reports each partition's backlog behind the group's commit, while a handler holds it and after", async () => {
    const bus = new MemoryBus({ defaultPartitions: 2 });
    await bus.ensureTopics([{ name: 'events', partitions: 2 }]);
    // Keys that land on partition 0 and 1 (murmur2, as Kafka places them).
    await bus.publish(
      'events',
      ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'].map((key) => ({ key, value: Buffer.from(key) })),
    );
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const seen: string[] = [];
    const subscription = await bus.subscribe({
      group: 'writer',
      topics: ['events'],
      handler: async (batch) => {
        await held;
        seen.push(...batch.messages.map((m) => m.key));
      },
    });
    const live = await bus.subscribe({
      group: 'tail',
      topics: ['events'],
      ephemeral: true,
      handler: async () => {},
    });

    const during = await bus.consumerLags();
    const backlog = byPartition(during, 'writer');
    expect(Object.keys(backlog).sort()).toEqual(['events/0', 'events/1']);
    expect(backlog['events/0']! + backlog['events/1']!).toBe(6);
    // A live view's group is no consumer's backlog.
    expect(during.some((l) => l.group === 'tail')).toBe(false);

    release();
    const deadline = Date.now() + 5_000;
    while (Object.values(byPartition(await bus.consumerLags(), 'writer')).some((lag) => lag > 0)) {
      if (Date.now() > deadline) throw new Error('the group never caught up');
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(seen.sort()).toEqual(['k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
    await live.stop();
    await subscription.stop();
    // A group with no member here is not reported.
    expect(byPartition(await bus.consumerLags(), 'writer')).toEqual({});
    await bus.close();
  });
});

describe('MemoryBus.oldestPendingMs', () => {
  it('is the age of the oldest message a group here has not committed, live tails left out', async () => {
    const bus = new MemoryBus({ defaultPartitions: 2 });
    await bus.ensureTopics([
      { name: 'events', partitions: 2 },
      { name: 'other', partitions: 1 },
    ]);
    const published = Date.now();
    await bus.publish('events', [{ key: 'k1', value: Buffer.from('1') }]);
    // Nobody consumes it yet: nothing is pending for anyone.
    expect(await bus.oldestPendingMs('events', published + 5_000)).toBe(0);
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const tail = await bus.subscribe({
      group: 'tail',
      topics: ['events'],
      ephemeral: true,
      handler: () => held,
    });
    expect(await bus.oldestPendingMs('events', published + 5_000)).toBe(0);

    const writer = await bus.subscribe({ group: 'writer', topics: ['events'], handler: () => held });
    const pending = await bus.oldestPendingMs('events', published + 5_000);
    expect(pending).toBeGreaterThan(4_900);
    expect(pending).toBeLessThanOrEqual(5_000);
    // Another topic's backlog is its own.
    expect(await bus.oldestPendingMs('other', published + 5_000)).toBe(0);

    release();
    const deadline = Date.now() + 5_000;
    while ((await bus.oldestPendingMs('events')) > 0) {
      if (Date.now() > deadline) throw new Error('the group never caught up');
      await new Promise((r) => setTimeout(r, 10));
    }
    await tail.stop();
    await writer.stop();
    await bus.close();
  });
});
