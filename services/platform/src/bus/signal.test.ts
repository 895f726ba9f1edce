import { describe, expect, it } from 'vitest';
import { Signal } from './signal.ts';

describe('Signal', () => {
  it('wakes every waiter at once, not only every other one', async () => {
    const signal = new Signal();
    const started = Date.now();
    const waits = [signal.wait(5_000), signal.wait(5_000), signal.wait(5_000)];
    signal.notify();
    await Promise.all(waits);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('resolves after the timeout without a notify, and a later notify finds nobody', async () => {
    const signal = new Signal();
    const started = Date.now();
    await signal.wait(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    signal.notify();
  });
});
