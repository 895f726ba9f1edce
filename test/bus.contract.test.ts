import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bus, IncomingMessage, Subscription } from '@thoth/platform';
import { MemoryBus } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapters, uniquePrefix, waitFor } from './helpers.ts';

const msg = (key: string, n: number) => ({
  key,
  value: Buffer.from(`${key}:${n}`),
  headers: { n: String(n) },
});

/** Messages numbered `from` … `from + count - 1`, keyed by `key(n)` (one key by default: one partition). */
const numbered = (count: number, from = 0, key: (n: number) => string = () => 'k') =>
  Array.from({ length: count }, (_, i) => msg(key(from + i), from + i));

describe.each(adapters)('bus contract: $name adapter', (adapter) => {
  let bus: Bus;
  let prefix: string;
  const subs: Subscription[] = [];

  beforeAll(() => {
    bus = adapter.create();
    prefix = uniquePrefix(`contract-${adapter.name}`);
  });
  afterAll(async () => {
    await Promise.all(subs.map((s) => s.stop()));
    await bus.close();
  });

  async function collect(
    group: string,
    topic: string,
    into: IncomingMessage[],
    opts: { fromBeginning?: boolean } = {},
  ) {
    const sub = await bus.subscribe({
      group,
      topics: [topic],
      fromBeginning: opts.fromBeginning,
      handler: async (batch) => {
        into.push(...batch.messages);
      },
    });
    subs.push(sub);
    return sub;
  }

  it('keeps each key in order on one partition and carries headers', async () => {
    const topic = `${prefix}.order`;
    await bus.ensureTopics([{ name: topic, partitions: 3 }]);
    const keys = ['a/1', 'b/2', 'c/3', 'd/4'];
    for (let n = 0; n < 50; n++)
      await bus.publish(
        topic,
        keys.map((k) => msg(k, n)),
      );
    const got: IncomingMessage[] = [];
    await collect(`${prefix}-g-order`, topic, got);
    await waitFor('200 messages', () => got.length >= 200);
    expect(got).toHaveLength(200);
    for (const key of keys) {
      const mine = got.filter((m) => m.key === key);
      expect(mine.map((m) => Number(m.headers.n))).toEqual([...Array(50).keys()]);
      expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
      expect(mine[0]!.value!.toString()).toBe(`${key}:0`);
    }
  });

  it('commits a group offset only after its handler succeeded, and resumes from it', async () => {
    const topic = `${prefix}.resume`;
    const group = `${prefix}-g-resume`;
    await bus.ensureTopics([{ name: topic, partitions: 2 }]);
    await bus.publish(topic, numbered(20));
    const first: IncomingMessage[] = [];
    const sub = await collect(group, topic, first);
    await waitFor('first 20', () => first.length >= 20);
    await sub.stop();
    await bus.publish(topic, numbered(5, 20));
    const second: IncomingMessage[] = [];
    await collect(group, topic, second);
    await waitFor('next 5', () => second.length >= 5);
    await new Promise((r) => setTimeout(r, 500));
    expect(second.map((m) => Number(m.headers.n))).toEqual([20, 21, 22, 23, 24]);
  });

  it('redelivers a batch whose handler threw, and never skips past it', async () => {
    const topic = `${prefix}.redeliver`;
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.publish(topic, numbered(10));
    const seen: number[] = [];
    let failed = false;
    const sub = await bus.subscribe({
      group: `${prefix}-g-redeliver`,
      topics: [topic],
      handler: async (batch) => {
        const ns = batch.messages.map((m) => Number(m.headers.n));
        if (!failed && ns.includes(5)) {
          failed = true;
          throw new Error('injected failure');
        }
        seen.push(...ns);
      },
    });
    subs.push(sub);
    await waitFor('all 10 after a redelivery', () => seen.includes(9) && seen.includes(5));
    expect(failed).toBe(true);
    // Everything arrives, in order, each once after its successful delivery.
    expect([...new Set(seen)].sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    expect(seen.indexOf(5)).toBeLessThan(seen.indexOf(9));
  });

  it('with maxInFlightBatches, hands over later batches while earlier ones run, and commits in order', async () => {
    const topic = `${prefix}.pipeline`;
    const group = `${prefix}-g-pipeline`;
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.publish(topic, numbered(20));
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const started: number[][] = [];
    const finished: number[] = [];
    const sub = await bus.subscribe({
      group,
      topics: [topic],
      maxBatchSize: 5,
      maxInFlightBatches: 2,
      handler: async (batch) => {
        const ns = batch.messages.map((m) => Number(m.headers.n));
        started.push(ns);
        if (ns.includes(0)) await firstHeld;
        finished.push(...ns);
      },
    });
    subs.push(sub);
    // The second batch runs (and finishes) while the first is held; no third starts: two in flight at most.
    await waitFor('the second batch done while the first is held', () => finished.includes(9));
    await new Promise((r) => setTimeout(r, 300));
    expect(started).toHaveLength(2);
    expect(started[0]![0]).toBe(0);
    // Nothing commits past a batch still running, even when a later one resolved.
    expect(await bus.lag(group, topic)).toBe(20);
    releaseFirst();
    await waitFor('all 20 handled', () => finished.length >= 20);
    expect(started.flat()).toEqual([...Array(20).keys()]);
    await waitFor('all committed', async () => (await bus.lag(group, topic)) === 0);
  });

  it('with maxInFlightBatches, a failed batch comes again followed by every batch after it', async () => {
    const topic = `${prefix}.pipeline-fail`;
    const group = `${prefix}-g-pipeline-fail`;
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.publish(topic, numbered(30));
    const deliveries: number[][] = [];
    const tokens: Array<string | undefined> = [];
    let lagAtRetry = -1;
    let failed = false;
    const sub = await bus.subscribe({
      group,
      topics: [topic],
      maxBatchSize: 5,
      maxInFlightBatches: 3,
      handler: async (batch) => {
        const ns = batch.messages.map((m) => Number(m.headers.n));
        deliveries.push(ns);
        tokens.push(batch.delivery);
        if (ns.includes(10)) {
          if (!failed) {
            // Fail after the batches behind it had time to start (and resolve): they must not commit.
            await new Promise((r) => setTimeout(r, 200));
            failed = true;
            throw new Error('injected failure');
          }
          lagAtRetry = await bus.lag(group, topic);
        }
      },
    });
    subs.push(sub);
    await waitFor('everything after the redelivery', async () => (await bus.lag(group, topic)) === 0);
    expect(failed).toBe(true);
    // At the retry, the commit stood right before the failed batch: 10 handled, 20 to go.
    expect(lagAtRetry).toBe(20);
    const tenAt = deliveries.findIndex((ns) => ns.includes(10));
    const retryAt = deliveries.findIndex((ns, i) => i > tenAt && ns.includes(10));
    expect(retryAt).toBeGreaterThan(tenAt);
    // From the retry on, the partition is delivered again in order, to its end.
    expect(deliveries.slice(retryAt).flat()).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i));
    // Before the failure: each message once, in order (batches behind the failed one may have started too).
    expect(deliveries.slice(0, tenAt).flat()).toEqual([...Array(10).keys()]);
    // The batches handed over until the rewind share the failed batch's delivery token; the redelivery and
    // everything after it carry another one (a consumer tells batches to refuse from its redelivery by it).
    expect(tokens[0]).toEqual(expect.any(String));
    expect(new Set(tokens.slice(0, retryAt)).size).toBe(1);
    expect(new Set(tokens.slice(retryAt))).toEqual(new Set([tokens[retryAt]]));
    expect(tokens[retryAt]).not.toBe(tokens[0]);
  });

  it('moves a partition to a joining member only once the handlers of its old owner settled', async () => {
    const topic = `${prefix}.handover`;
    const group = `${prefix}-g-handover`;
    await bus.ensureTopics([{ name: topic, partitions: 2 }]);
    const publish = (from: number) =>
      bus.publish(
        topic,
        numbered(40, from, (n) => `key-${n}`),
      );
    await publish(0);
    const handled: Array<{ member: string; n: number }> = [];
    let started = 0;
    let releaseHeld!: () => void;
    const held = new Promise<void>((resolve) => {
      releaseHeld = resolve;
    });
    const member = (name: string, hold: boolean) =>
      bus.subscribe({
        group,
        topics: [topic],
        maxBatchSize: 5,
        maxInFlightBatches: 2,
        handler: async (batch) => {
          started++;
          if (hold) await held;
          for (const m of batch.messages) handled.push({ member: name, n: Number(m.headers.n) });
        },
      });
    subs.push(await member('first', true));
    await waitFor('the first member handling batches', () => started >= 2);
    // Its handlers stay held past a heartbeat (3 s), so it learns of the rebalance the second member starts
    // while they run. The partition it gives up must not reach the second member before they settled and
    // committed, or both members would handle those batches.
    setTimeout(releaseHeld, 5_000);
    subs.push(await member('second', false));
    await publish(40);
    await waitFor('all 80 handled', () => new Set(handled.map((h) => h.n)).size >= 80, 90_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(handled.map((h) => h.n).sort((a, b) => a - b)).toEqual([...Array(80).keys()]);
    expect(new Set(handled.map((h) => h.member))).toEqual(new Set(['first', 'second']));
  });

  it('splits partitions among the members of one group, each message to one member', async () => {
    const topic = `${prefix}.members`;
    const group = `${prefix}-g-members`;
    await bus.ensureTopics([{ name: topic, partitions: 3 }]);
    const a: IncomingMessage[] = [];
    const b: IncomingMessage[] = [];
    await collect(group, topic, a);
    await collect(group, topic, b);
    await new Promise((r) => setTimeout(r, adapter.name === 'kafka' ? 3_000 : 100));
    const keys = Array.from({ length: 30 }, (_, i) => `agent-${i}`);
    await bus.publish(
      topic,
      keys.map((k) => msg(k, 0)),
    );
    await waitFor('30 across members', () => a.length + b.length >= 30);
    await new Promise((r) => setTimeout(r, 500));
    expect(a.length + b.length).toBe(30);
    expect(new Set([...a, ...b].map((m) => m.key)).size).toBe(30);
  });

  it('a group that starts at the end sees only new messages', async () => {
    const topic = `${prefix}.latest`;
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.publish(topic, [msg('k', 0), msg('k', 1)]);
    const got: IncomingMessage[] = [];
    await collect(`${prefix}-g-latest`, topic, got, { fromBeginning: false });
    await new Promise((r) => setTimeout(r, adapter.name === 'kafka' ? 3_000 : 100));
    await bus.publish(topic, [msg('k', 2)]);
    await waitFor('the new message', () => got.length >= 1);
    expect(got.map((m) => Number(m.headers.n))).toEqual([2]);
  });

  it('materializes a compacted topic as a current key → value map', async () => {
    const topic = `${prefix}.table`;
    await bus.ensureTopics([{ name: topic, partitions: 3, compacted: true }]);
    await bus.publish(topic, [
      { key: 'x', value: Buffer.from('1') },
      { key: 'y', value: Buffer.from('1') },
      { key: 'x', value: Buffer.from('2') },
    ]);
    const changes: string[] = [];
    const view = await bus.openView(topic, (key, value) =>
      changes.push(`${key}=${value?.toString() ?? 'null'}`),
    );
    expect(view.get('x')?.toString()).toBe('2');
    expect(view.get('y')?.toString()).toBe('1');
    await bus.publish(topic, [
      { key: 'y', value: null },
      { key: 'z', value: Buffer.from('3') },
    ]);
    await waitFor('the view to follow', () => view.get('z') !== undefined && view.get('y') === undefined);
    expect(view.size).toBe(2);
    expect(changes).toContain('y=null');
    await view.close();
  });

  it('opens a view of an empty compacted topic at once', async () => {
    const topic = `${prefix}.empty`;
    await bus.ensureTopics([{ name: topic, partitions: 2, compacted: true }]);
    const started = Date.now();
    const view = await bus.openView(topic);
    expect(view.size).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    await view.close();
  });
});

describe('in-process bus persistence', () => {
  it('forgets an ephemeral group (a live view) when it stops: no hold on retention, no trace on disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thoth-bus-'));
    try {
      const bus = new MemoryBus({ dir, defaultPartitions: 1 });
      await bus.publish('ev', numbered(10));
      const view = await bus.subscribe({
        group: 'live-view-1',
        topics: ['ev'],
        fromBeginning: false,
        ephemeral: true,
        handler: async () => {},
      });
      await view.stop();
      await bus.publish('ev', numbered(100, 10));
      const durable: IncomingMessage[] = [];
      const sub = await bus.subscribe({
        group: 'writer',
        topics: ['ev'],
        handler: async (b) => void durable.push(...b.messages),
      });
      await waitFor('the writer consumed all', () => durable.length === 110);
      await sub.stop();
      // Everything the durable group committed is trimmed: a new group from the beginning finds nothing.
      const late: IncomingMessage[] = [];
      const lateSub = await bus.subscribe({
        group: 'late',
        topics: ['ev'],
        handler: async (b) => void late.push(...b.messages),
      });
      await new Promise((r) => setTimeout(r, 200));
      await lateSub.stop();
      expect(late).toHaveLength(0);
      await bus.close();
      const offsets = JSON.parse(readFileSync(join(dir, 'offsets.json'), 'utf8')) as Record<string, unknown>;
      expect(Object.keys(offsets).sort()).toEqual(['late', 'writer']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('saves group offsets shortly after commits, while it runs (not only at close)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thoth-bus-'));
    const saved = (): number => {
      try {
        const offsets = JSON.parse(readFileSync(join(dir, 'offsets.json'), 'utf8')) as Record<
          string,
          Record<string, number>
        >;
        return offsets.g?.['ev/0'] ?? -1;
      } catch {
        return -1; // not written yet
      }
    };
    const bus = new MemoryBus({ dir, defaultPartitions: 1 });
    try {
      await bus.ensureTopics([{ name: 'ev', partitions: 1 }]);
      let consumed = 0;
      await bus.subscribe({
        group: 'g',
        topics: ['ev'],
        handler: async (b) => {
          consumed += b.messages.length;
        },
      });
      // Commits in quick succession, over several of the saves' timer periods.
      for (let round = 1; round <= 20; round++) {
        await bus.publish('ev', numbered(5, round * 5));
        await waitFor(`round ${round} consumed`, () => consumed === round * 5);
      }
      await waitFor('the last commit saved without a close', () => saved() === 100, 5_000);
    } finally {
      await bus.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps messages, compacted state and group offsets across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thoth-bus-'));
    try {
      const first = new MemoryBus({ dir, defaultPartitions: 2 });
      await first.ensureTopics([
        { name: 'ev', partitions: 2 },
        { name: 'tbl', partitions: 1, compacted: true },
      ]);
      await first.publish(
        'ev',
        numbered(10, 0, (n) => `k${n % 3}`),
      );
      await first.publish('tbl', [
        { key: 'a', value: Buffer.from('old') },
        { key: 'a', value: Buffer.from('new') },
        { key: 'gone', value: Buffer.from('x') },
        { key: 'gone', value: null },
      ]);
      const got: IncomingMessage[] = [];
      const sub = await first.subscribe({
        group: 'g',
        topics: ['ev'],
        handler: async (b) => void got.push(...b.messages),
      });
      await waitFor('10 consumed', () => got.length === 10);
      await sub.stop();
      await first.publish('ev', [msg('k0', 10), msg('k1', 11)]);
      await first.close();

      const second = new MemoryBus({ dir, defaultPartitions: 2 });
      const view = await second.openView('tbl');
      expect(view.get('a')?.toString()).toBe('new');
      expect(view.get('gone')).toBeUndefined();
      const after: IncomingMessage[] = [];
      await second.subscribe({
        group: 'g',
        topics: ['ev'],
        handler: async (b) => void after.push(...b.messages),
      });
      await waitFor('the 2 unconsumed', () => after.length >= 2);
      await new Promise((r) => setTimeout(r, 200));
      expect(after.map((m) => Number(m.headers.n)).sort((x, y) => x - y)).toEqual([10, 11]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
