import type { ApiOutcome } from './thoth-api-client.ts';
import { describeOutcome } from './thoth-api-client.ts';
import type { WireEvent } from './tool-call-events.ts';

export interface EventBatcherDeps {
  post(events: WireEvent[]): Promise<ApiOutcome>;
  warn(message: string): void;
  flushIntervalMs?: number;
  batchSize?: number;
  maxQueued?: number;
}

/**
 * Sends behavioral events to POST /v1/events/batch in the background: `enqueue` is synchronous, so an
 * event never delays an MCP message. Bounded: when Thoth is away for long, the oldest events are dropped
 * (and counted) rather than growing without end. A batch that failed for an outage is kept for the next
 * flush; one Thoth refused (4xx) is dropped, since resending it cannot succeed.
 */
export class EventBatcher {
  private queue: WireEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private failing = false;
  /** One warning per outage, not one per retried batch. */
  private warned = false;
  dropped = 0;
  sent = 0;

  constructor(private readonly deps: EventBatcherDeps) {}

  enqueue(event: WireEvent): void {
    this.queue.push(event);
    const max = this.deps.maxQueued ?? 10_000;
    if (this.queue.length > max) this.dropped += this.queue.splice(0, this.queue.length - max).length;
    if (this.queue.length >= (this.deps.batchSize ?? 100)) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.deps.flushIntervalMs ?? 200);
      this.timer.unref();
    }
  }

  /** Sends what is queued (one batch at a time, in order). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight) await this.inFlight;
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.deps.batchSize ?? 100);
    this.inFlight = this.send(batch);
    await this.inFlight;
    this.inFlight = undefined;
    if (this.queue.length > 0 && !this.failing) await this.flush();
    else if (this.queue.length > 0 && !this.timer) {
      this.timer = setTimeout(() => void this.flush(), 1_000);
      this.timer.unref();
    }
  }

  /** At exit: what can be sent within `deadlineMs`. */
  async drain(deadlineMs: number): Promise<void> {
    this.failing = false;
    await Promise.race([this.flush(), new Promise((resolve) => setTimeout(resolve, deadlineMs).unref())]);
    if (this.queue.length > 0) this.deps.warn(`[thoth] ${this.queue.length} event(s) not delivered at exit`);
  }

  private async send(batch: WireEvent[]): Promise<void> {
    const outcome = await this.deps.post(batch);
    if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) {
      this.sent += batch.length;
      if (this.warned) this.deps.warn('[thoth] event delivery to Thoth resumed');
      this.failing = false;
      this.warned = false;
      return;
    }
    const transient =
      outcome.kind !== 'response' || outcome.status === 429 || outcome.status >= 500 || outcome.status === 0;
    if (!this.warned)
      this.deps.warn(
        `[thoth] events not delivered (${describeOutcome(outcome)})${transient ? '; retrying' : '; dropped'}`,
      );
    this.warned = true;
    this.failing = transient;
    if (transient) this.queue.unshift(...batch);
    else this.dropped += batch.length;
  }
}
