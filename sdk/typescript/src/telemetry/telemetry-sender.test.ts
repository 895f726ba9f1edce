import { describe, expect, it } from 'vitest';
import { BoundedQueue } from './bounded-queue.ts';
import type { WireEvent } from './events.ts';
import { TelemetrySender } from './telemetry-sender.ts';
import type { SendOutcome, TelemetryTransport } from './transport.ts';

const event = (n: number) => ({ eventId: `t:${n}` }) as WireEvent;
const quiet = { warn: () => {} };

class ScriptedTransport implements TelemetryTransport {
  readonly name = 'scripted';
  readonly batches: string[][] = [];
  constructor(private readonly outcomes: SendOutcome[]) {}
  async send(events: readonly WireEvent[]): Promise<SendOutcome> {
    const outcome = this.outcomes.shift() ?? { ok: true };
    if (outcome.ok) this.batches.push(events.map((e) => e.eventId));
    return outcome;
  }
  async close(): Promise<void> {}
}

describe('BoundedQueue', () => {
  it('drops the oldest and counts them', () => {
    const queue = new BoundedQueue<number>(2);
    queue.push(1);
    queue.push(2);
    expect(queue.push(3)).toBe(1);
    expect(queue.take(10)).toEqual([2, 3]);
    expect(queue.dropped).toBe(1);
  });
});

describe('TelemetrySender', () => {
  const options = {
    maxQueueSize: 3,
    batchSize: 2,
    flushIntervalMs: 10_000,
    logger: quiet,
    backoff: { baseMs: 1, maxMs: 2 },
  };

  it('batches, and flush sends everything in order', async () => {
    const transport = new ScriptedTransport([]);
    const sender = new TelemetrySender(transport, options);
    for (const n of [1, 2, 3]) sender.enqueue(event(n));
    const stats = await sender.flush(1_000);
    expect(transport.batches.flat()).toEqual(['t:1', 't:2', 't:3']);
    expect(stats).toEqual({ sent: 3, dropped: 0, rejected: 0, pending: 0 });
  });

  it('retries a failed batch with backoff, keeping order; drops the oldest past the bound', async () => {
    const transport = new ScriptedTransport([{ ok: false, retryable: true, message: 'down' }]);
    const sender = new TelemetrySender(transport, options);
    for (const n of [1, 2, 3, 4]) sender.enqueue(event(n));
    const stats = await sender.flush(1_000);
    expect(transport.batches.flat()).toEqual(['t:2', 't:3', 't:4']);
    expect(stats).toMatchObject({ sent: 3, dropped: 1, pending: 0 });
  });

  it('does not retry a refused batch', async () => {
    const transport = new ScriptedTransport([{ ok: false, retryable: false, message: '400' }]);
    const sender = new TelemetrySender(transport, options);
    sender.enqueue(event(1));
    expect(await sender.flush(1_000)).toMatchObject({ sent: 0, rejected: 1, pending: 0 });
  });

  it('gives up at the flush deadline when the sink stays down', async () => {
    const down: SendOutcome = { ok: false, retryable: true, message: 'down' };
    const sender = new TelemetrySender(new ScriptedTransport(Array(1_000).fill(down)), options);
    sender.enqueue(event(1));
    expect(await sender.flush(50)).toMatchObject({ sent: 0, pending: 1 });
  });
});
