import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncomingMessage } from '../bus/bus.ts';
import { MemoryBus } from '../bus/memory-bus.ts';
import type { AnalyticsStore } from '../store/analytics-store.ts';
import { BridgedBus, serveBus } from './bus-bridge.ts';
import { ownBytes, RpcPort } from './rpc-port.ts';
import { BridgedStore, serveStore } from './store-bridge.ts';

const channels: MessageChannel[] = [];
function pair(): [RpcPort, RpcPort] {
  const channel = new MessageChannel();
  channels.push(channel);
  return [new RpcPort(channel.port1), new RpcPort(channel.port2)];
}
afterEach(() => {
  for (const channel of channels.splice(0)) channel.port1.close();
});

describe('RpcPort', () => {
  it('answers calls both ways, with results and with the error of a method that threw', async () => {
    const [main, thread] = pair();
    main.handle('add', (a: number, b: number) => a + b);
    main.handle('fail', async () => {
      throw new Error('the store refused it');
    });
    thread.handle('echo', (text: string) => `thread: ${text}`);
    expect(await thread.call('add', 2, 3)).toBe(5);
    await expect(thread.call('fail')).rejects.toThrow('the store refused it');
    await expect(thread.call('missing')).rejects.toThrow(/no method "missing"/);
    expect(await main.call('echo', 'hi')).toBe('thread: hi');
  });

  it('fails every waiting and later call once closed', async () => {
    const [main, thread] = pair();
    main.handle('never', () => new Promise(() => {}));
    const waiting = thread.call('never');
    thread.close(new Error('the thread died'));
    await expect(waiting).rejects.toThrow('the thread died');
    await expect(thread.call('never')).rejects.toThrow('the thread died');
  });

  it('sends a slice of a large buffer without its neighbours', () => {
    const big = Buffer.alloc(1_000_000, 7);
    const slice = big.subarray(10, 20);
    const own = ownBytes(slice);
    expect(own.buffer.byteLength).toBe(10);
    expect([...own]).toEqual([...slice]);
    const whole = new Uint8Array(4);
    expect(ownBytes(whole)).toBe(whole);
    // Shared memory crosses as it is (the other thread sees the same bytes): a slice of it is not copied.
    const shared = Buffer.from(new SharedArrayBuffer(1_000)).subarray(10, 20);
    expect(ownBytes(shared)).toBe(shared);
  });
});

describe('bus bridge', () => {
  it("delivers each group the message's bytes; a large message crosses once, as shared memory", async () => {
    const [main, thread] = pair();
    const bus = new MemoryBus({ defaultPartitions: 1 });
    const served = serveBus(main, bus);
    const bridged = new BridgedBus(thread);
    const seen = new Map<string, IncomingMessage[]>();
    for (const group of ['audit', 'baselines'])
      await bridged.subscribe({
        group,
        topics: ['events'],
        handler: async (batch) => {
          seen.set(group, [...(seen.get(group) ?? []), ...batch.messages]);
        },
      });
    const large = Buffer.alloc(100_000);
    for (let i = 0; i < large.length; i++) large[i] = i % 251;
    await bus.publish('events', [
      { key: 'a', value: large },
      { key: 'b', value: Buffer.from('small') },
    ]);
    await expect
      .poll(() => seen.get('audit')?.length === 2 && seen.get('baselines')?.length === 2)
      .toBe(true);
    const [audit, baselines] = [seen.get('audit')!, seen.get('baselines')!];
    for (const messages of [audit, baselines]) {
      expect(Buffer.compare(messages[0]!.value!, large)).toBe(0);
      expect(messages[0]!.value!.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(Buffer.isBuffer(messages[0]!.value)).toBe(true);
      expect(messages[1]!.value!.toString()).toBe('small');
      expect(messages[1]!.value!.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    }
    // One copy for both groups: the two views are of the same memory (the bus's own bytes are not shared).
    audit[0]!.value![0] = 99;
    expect(baselines[0]!.value![0]).toBe(99);
    expect(large[0]).toBe(0);
    await served.close();
    await bus.close();
  });
});

describe('store bridge', () => {
  it('carries selects and insert bodies to the main thread store, as Buffers', async () => {
    const [main, thread] = pair();
    const inserted: Array<{ table: string; body: string; isBuffer: boolean }> = [];
    const store: AnalyticsStore = {
      select: async <T>(query: string, params?: Record<string, unknown>) =>
        [{ query, tenant: params?.tenant }] as T[],
      insertRows: async () => {},
      insertBody: async (table, chunks) => {
        for (const chunk of chunks)
          inserted.push({ table, body: chunk.toString('utf8'), isBuffer: Buffer.isBuffer(chunk) });
      },
    };
    serveStore(main, store);
    const bridged = new BridgedStore(thread);
    expect(await bridged.select('SELECT 1', { tenant: 'acme' })).toEqual([
      { query: 'SELECT 1', tenant: 'acme' },
    ]);
    await bridged.insertRows('events', [{ a: 1 }, { a: 2 }]);
    expect(inserted).toEqual([{ table: 'events', body: '{"a":1}\n{"a":2}\n', isBuffer: true }]);
  });
});
