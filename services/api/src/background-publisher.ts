import type { Bus, OutgoingMessage } from '@thoth/common/bus/bus';
import type { Logger } from '@thoth/common/logger';

/**
 * Publishes off the hot path: `enqueue` returns at once, a loop flushes every `intervalMs` (or sooner when
 * `batchSize` messages wait), retrying with backoff while the bus is down. The queue is bounded; past the
 * bound the oldest messages are dropped and counted — loudly, as that loses audit records.
 */
export class BackgroundPublisher {
  private queue: Array<{ topic: string; message: OutgoingMessage }> = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  dropped = 0;
  published = 0;

  constructor(
    private readonly deps: {
      bus: Bus;
      log: Logger;
      intervalMs?: number;
      batchSize?: number;
      maxQueue?: number;
    },
  ) {}

  enqueue(topic: string, message: OutgoingMessage): void {
    this.queue.push({ topic, message });
    const max = this.deps.maxQueue ?? 200_000;
    if (this.queue.length > max) {
      const excess = this.queue.length - max;
      this.queue.splice(0, excess);
      this.dropped += excess;
      this.deps.log.error({ dropped: this.dropped }, 'event queue full: oldest events dropped');
    }
    if (this.queue.length >= (this.deps.batchSize ?? 1_000)) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.deps.intervalMs ?? 20);
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Publishes everything queued so far (one flush at a time). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing ??= this.publishQueued().finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0) this.timer ??= setTimeout(() => void this.flush(), this.backoffMs());
    });
    return this.flushing;
  }

  /**
   * Resolves once everything enqueued before the call is on the bus (throws after `timeoutMs`): for a write
   * that must not overtake an earlier queued one on the same key.
   */
  async settle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 || this.flushing) {
      if (Date.now() > deadline) throw new Error('the event bus did not accept queued messages in time');
      await (this.flushing ?? this.flush());
      if (this.queue.length > 0 && this.failures > 0)
        await new Promise((r) => setTimeout(r, this.backoffMs()));
    }
  }

  /** Flushes until the queue is empty or `timeoutMs` passed (at shutdown). */
  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 && Date.now() < deadline) {
      await this.flush();
      if (this.queue.length > 0) await new Promise((r) => setTimeout(r, this.backoffMs()));
    }
    clearTimeout(this.timer);
    if (this.queue.length > 0)
      this.deps.log.error({ lost: this.queue.length }, 'shutdown with unpublished events');
  }

  private backoffMs(): number {
    return this.failures === 0 ? (this.deps.intervalMs ?? 20) : Math.min(5_000, 100 * 2 ** this.failures);
  }

  private async publishQueued(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const { topic, message } of batch) {
      const list = byTopic.get(topic) ?? [];
      list.push(message);
      byTopic.set(topic, list);
    }
    const failed: Array<{ topic: string; message: OutgoingMessage }> = [];
    await Promise.all(
      [...byTopic].map(async ([topic, messages]) => {
        try {
          await this.deps.bus.publish(topic, messages);
          this.published += messages.length;
        } catch (error) {
          for (const message of messages) failed.push({ topic, message });
          this.deps.log.warn({ err: error, topic, count: messages.length }, 'publish failed; will retry');
        }
      }),
    );
    if (failed.length > 0) {
      this.failures++;
      this.queue = [...failed, ...this.queue];
    } else this.failures = 0;
  }
}
