import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnalyticsStore } from '../store/analytics-store.ts';
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
