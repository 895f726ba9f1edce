import { type BackoffOptions, backoffDelayMs } from '../backoff.ts';
import type { ThothLogger } from '../options.ts';
import { BoundedQueue } from './bounded-queue.ts';
import type { WireEvent } from './events.ts';
import type { TelemetryTransport } from './transport.ts';

export interface TelemetrySenderOptions {
  maxQueueSize: number;
  batchSize: number;
  flushIntervalMs: number;
  backoff?: BackoffOptions;
  logger: ThothLogger;
}

export interface TelemetryStats {
  /** Events the sink accepted. */
  sent: number;
  /** Events dropped because the queue was full (oldest first). */
  dropped: number;
  /** Events the sink refused for good (e.g. 400/401/403): retrying would not help. */
  rejected: number;
  /** Events still waiting. */
  pending: number;
}

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, maxMs: 30_000 };

/**
 * Sends behavioral events in background batches, off the tool call's critical path: `enqueue` is
 * synchronous and O(1); one batch is in flight at a time; a failed batch goes back to the front of the
 * queue and is retried after an exponential backoff. Background timers are unref'd so telemetry never keeps
 * a finished agent alive — `flush()` (awaited by the caller, or run at `beforeExit`) is how the last events
 * get out.
 */
export class TelemetrySender {
  private readonly queue: BoundedQueue<WireEvent>;
  private readonly backoff: BackoffOptions;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = 0;
  private consecutiveFailures = 0;
  private sent = 0;
  private rejected = 0;
  private warnedDrop = false;
  private warnedFailure = false;
  private warnedRefusal = false;

  constructor(
    private readonly transport: TelemetryTransport,
    private readonly options: TelemetrySenderOptions,
  ) {
    this.queue = new BoundedQueue(options.maxQueueSize);
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  enqueue(event: WireEvent): void {
    if (this.queue.push(event) > 0) this.warnDropped();
    if (this.consecutiveFailures > 0) return; // the retry timer is already set
    this.schedule(this.queue.size >= this.options.batchSize ? 0 : this.options.flushIntervalMs);
  }

  stats(): TelemetryStats {
    return {
      sent: this.sent,
      dropped: this.queue.dropped,
      rejected: this.rejected,
      pending: this.queue.size,
    };
  }

  get pending(): number {
    return this.queue.size;
  }

  /**
   * Sends everything queued, retrying with backoff until the queue is empty or `timeoutMs` passed. Its
   * waits are ref'd timers, so an awaited flush holds the process open until it is done.
   */
  async flush(timeoutMs = 5_000): Promise<TelemetryStats> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.pump();
      const remaining = deadline - Date.now();
      if (this.queue.size === 0 && !this.inFlight) break;
      if (remaining <= 0) break;
      if (this.consecutiveFailures > 0)
        await sleep(Math.min(remaining, backoffDelayMs(this.consecutiveFailures, this.backoff)));
    }
    return this.stats();
  }

  async close(timeoutMs = 5_000): Promise<TelemetryStats> {
    const stats = await this.flush(timeoutMs);
    this.clearTimer();
    await this.transport.close();
    return stats;
  }

  private schedule(delayMs: number): void {
    const dueAt = Date.now() + delayMs;
    if (this.timer && this.timerDueAt <= dueAt) return;
    this.clearTimer();
    this.timerDueAt = dueAt;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pump();
    }, delayMs);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Sends batches until the queue is empty or a send fails; concurrent callers share the same run. */
  private pump(): Promise<void> {
    this.inFlight ??= this.drain().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async drain(): Promise<void> {
    while (this.queue.size > 0) {
      const batch = this.queue.take(this.options.batchSize);
      const outcome = await this.transport.send(batch);
      if (outcome.ok) {
        this.sent += batch.length;
        if (this.warnedFailure)
          this.options.logger.warn(`[thoth] telemetry delivery recovered (${this.transport.name})`);
        this.consecutiveFailures = 0;
        this.warnedFailure = false;
        continue;
      }
      if (!outcome.retryable) {
        this.rejected += batch.length;
        // Once: a sink that refuses one batch (bad key, no kafkajs) usually refuses them all.
        if (!this.warnedRefusal) {
          this.warnedRefusal = true;
          this.options.logger.warn(
            `[thoth] telemetry refused by ${this.transport.name}: ${outcome.message} (events dropped; counted as rejected)`,
          );
        }
        continue;
      }
      if (this.queue.requeue(batch) > 0) this.warnDropped();
      this.consecutiveFailures++;
      if (!this.warnedFailure) {
        this.warnedFailure = true;
        this.options.logger.warn(
          `[thoth] telemetry delivery failing (${this.transport.name}: ${outcome.message}); events are queued and retried`,
        );
      }
      this.schedule(backoffDelayMs(this.consecutiveFailures, this.backoff));
      return;
    }
  }

  private warnDropped(): void {
    if (this.warnedDrop) return;
    this.warnedDrop = true;
    this.options.logger.warn(
      `[thoth] telemetry queue full (${this.options.maxQueueSize} events): dropping the oldest events; see flush() stats`,
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
