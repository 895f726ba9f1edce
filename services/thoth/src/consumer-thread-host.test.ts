import { createLogger, loadConfig, MemoryBus } from '@thoth/platform';
import { describe, expect, it } from 'vitest';
import { startConsumerThread } from './consumer-thread-host.ts';

/** A consumers' thread that starts, then dies (as a consumer's uncaught error would end it). */
const DYING_THREAD = new URL(
  `data:text/javascript,${encodeURIComponent(`
    import { parentPort } from 'node:worker_threads';
    parentPort.on('message', (m) => {
      if (m.kind === 'call' && m.method === 'consumers.start') {
        parentPort.postMessage({ kind: 'result', id: m.id, value: undefined });
        setTimeout(() => { throw new Error('a consumer failed for good'); }, 50);
      }
    });`)}`,
);

describe('startConsumerThread', () => {
  it('reports a thread that died after it started, and stops without waiting on it', async () => {
    const bus = new MemoryBus();
    const fatal: Error[] = [];
    const consumers = await startConsumerThread({
      config: loadConfig({ LOG_LEVEL: 'silent' }),
      log: createLogger('silent'),
      bus,
      store: undefined,
      wanted: new Set(['audit-writer']),
      onFatal: (error) => fatal.push(error),
      threadModule: DYING_THREAD,
    });
    await expect.poll(() => fatal.length, { timeout: 5_000 }).toBe(1);
    expect(fatal[0]!.message).toMatch(/a consumer failed for good/);
    await consumers.stop(); // the thread is gone: nothing to drain, and no call waits for an answer
    await bus.close();
  });
});
