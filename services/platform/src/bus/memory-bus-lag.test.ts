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
  it('is the age of the oldest message the named groups have not committed', async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    await bus.ensureTopics([
      { name: 'events', partitions: 1 },
      { name: 'other', partitions: 1 },
    ]);
    const t0 = Date.now();
    await bus.publish('events', [{ key: 'a', value: Buffer.from('1') }]);
    // Nobody consumes it yet: nothing is pending for anyone.
    expect(await bus.oldestPendingMs('events', ['writer', 'slow'], t0 + 5_000)).toBe(0);

    // `writer` takes the first message, then holds the second (published 50 ms later); `slow` holds the first.
    let releaseWriter = () => {};
    const writerHeld = new Promise<void>((resolve) => (releaseWriter = resolve));
    let releaseSlow = () => {};
    const slowHeld = new Promise<void>((resolve) => (releaseSlow = resolve));
    const slow = await bus.subscribe({ group: 'slow', topics: ['events'], handler: () => slowHeld });
    const writerSaw: string[] = [];
    const writer = await bus.subscribe({
      group: 'writer',
      topics: ['events'],
      handler: async (batch) => {
        writerSaw.push(...batch.messages.map((m) => m.key));
        if (batch.messages.some((m) => m.key === 'b')) await writerHeld;
      },
    });
    const deadline = Date.now() + 5_000;
    while (!writerSaw.includes('a') || (await bus.oldestPendingMs('events', ['writer'])) > 0) {
      if (Date.now() > deadline) throw new Error('the writer never committed the first message');
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 50));
    const t1 = Date.now();
    await bus.publish('events', [{ key: 'b', value: Buffer.from('2') }]);

    const now = t1 + 5_000;
    // The writer waits on `b` only: its age, not `a`'s.
    const writerPending = await bus.oldestPendingMs('events', ['writer'], now);
    expect(writerPending).toBeGreaterThanOrEqual(5_000 - 10);
    expect(writerPending).toBeLessThanOrEqual(5_000);
    // `slow` still waits on `a`, 50 ms older: the oldest over the groups named.
    expect(await bus.oldestPendingMs('events', ['writer', 'slow'], now)).toBeGreaterThanOrEqual(5_050);
    // Groups not named, unknown ones, and another topic count for nothing.
    expect(await bus.oldestPendingMs('events', ['nobody'], now)).toBe(0);
    expect(await bus.oldestPendingMs('other', ['writer', 'slow'], now)).toBe(0);

    releaseWriter();
    releaseSlow();
    while ((await bus.oldestPendingMs('events', ['writer', 'slow'])) > 0) {
      if (Date.now() > deadline) throw new Error('the groups never caught up');
      await new Promise((r) => setTimeout(r, 5));
    }
    await slow.stop();
    await writer.stop();
    await bus.close();
  });
});
