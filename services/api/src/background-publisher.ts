import type { RecordTypes, SchemaName } from '@thoth/contracts';
import type { Bus, Logger, OutgoingMessage } from '@thoth/platform';
import { type AvroCodec, backoffMs, publisherDroppedTotal, RECORD_COUNT_HEADER } from '@thoth/platform';

/** A message ready for the bus, and how many records (events) it carries. */
interface Encoded {
  topic: string;
  message: OutgoingMessage;
  records: number;
}

/** A record waiting to be encoded together with the records of its key queued next to it. */
interface Pending {
  topic: string;
  schema: SchemaName;
  key: string;
  value: RecordTypes[SchemaName];
}

type Queued = Encoded | Pending;

/** Consecutive records of one topic, key and schema: one batch message (or a few, past the size bound). */
interface Run {
  topic: string;
  schema: SchemaName;
  key: string;
  values: RecordTypes[SchemaName][];
}

/**
 * Publishes off the hot path: `enqueue` returns at once, a loop flushes every `intervalMs` (or sooner when
 * `batchSize` messages wait), retrying with backoff while the bus is down. The queue is bounded; past the
 * bound the oldest messages are dropped and counted — loudly, as that loses audit records.
 *
 * Records queued with `enqueueRecord` are encoded at the flush, the records of one key together as batch
 * messages (`AvroCodec.encodeBatch`, which every consumer of the events topic reads): one decision event per
 * enforce call would otherwise cost the bus and its Kafka client a message each. A key's records and messages
 * keep their order: a message queued between two records of its key ends the batch before it.
 */
export class BackgroundPublisher {
  private queue: Queued[] = [];
  /** Records in `queue` (a batch message counts its records): what the bound and `pending` count. */
  private queuedRecords = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  /** Records (events) dropped and published; a batch message counts its records (as does `pending`). */
  dropped = 0;
  published = 0;

  constructor(
    private readonly deps: {
      bus: Bus;
      codec: AvroCodec;
      log: Logger;
      intervalMs?: number;
      batchSize?: number;
      maxQueue?: number;
    },
  ) {}

  /** Queues a message as it is. */
  enqueue(topic: string, message: OutgoingMessage): void {
    this.add({ topic, message, records: 1 });
  }

  /** Queues one record, encoded at the flush together with the records of its key queued next to it. */
  enqueueRecord<N extends SchemaName>(topic: string, schema: N, key: string, value: RecordTypes[N]): void {
    this.add({ topic, schema, key, value });
  }

  get pending(): number {
    return this.queuedRecords;
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
      this.deps.log.error({ lost: this.queuedRecords }, 'shutdown with unpublished events');
  }

  private add(item: Queued): void {
    this.queue.push(item);
    this.queuedRecords += recordsIn(item);
    const max = this.deps.maxQueue ?? 200_000;
    if (this.queuedRecords > max) {
      // Oldest first; a batch message requeued after a failed publish goes whole.
      let excess = 0;
      while (this.queuedRecords - excess > max) excess += recordsIn(this.queue.shift()!);
      this.queuedRecords -= excess;
      this.dropped += excess;
      publisherDroppedTotal.inc(excess);
      this.deps.log.error({ dropped: this.dropped }, 'event queue full: oldest events dropped');
    }
    if (this.queue.length >= (this.deps.batchSize ?? 1_000)) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.deps.intervalMs ?? 20);
  }

  private backoffMs(): number {
    return this.failures === 0 ? (this.deps.intervalMs ?? 20) : backoffMs(this.failures, 100, 5_000);
  }

  /** The queue as messages, in order per key: each run of a key's records becomes batch messages. */
  private encode(items: Queued[]): Encoded[] {
    const ordered: Array<Encoded | Run> = [];
    const openRuns = new Map<string, Run>();
    for (const item of items) {
      const runId = `${item.topic}\u0000${'message' in item ? item.message.key : item.key}`;
      if ('message' in item) {
        openRuns.delete(runId);
        ordered.push(item);
        continue;
      }
      const run = openRuns.get(runId);
      if (run && run.schema === item.schema) run.values.push(item.value);
      else {
        const started: Run = { topic: item.topic, schema: item.schema, key: item.key, values: [item.value] };
        openRuns.set(runId, started);
        ordered.push(started);
      }
    }
    return ordered.flatMap((entry) => ('message' in entry ? [entry] : this.encodeRun(entry)));
  }

  /**
   * A run as batch messages. A record its schema refuses (a bug upstream: the API validates what it queues)
   * must not hold up the rest of the queue forever: it is dropped and counted, loudly, and the others go.
   */
  private encodeRun(run: Run): Encoded[] {
    const asMessages = (values: Run['values']): Encoded[] =>
      this.deps.codec.encodeBatch(run.schema, run.key, values).map((message) => ({
        topic: run.topic,
        message,
        records: Number(message.headers?.[RECORD_COUNT_HEADER] ?? 1),
      }));
    try {
      return asMessages(run.values);
    } catch {
      const encodable = run.values.filter((value) => {
        try {
          this.deps.codec.encode(run.schema, run.key, value);
          return true;
        } catch (error) {
          this.dropped++;
          publisherDroppedTotal.inc();
          this.deps.log.error(
            { err: error, topic: run.topic, schema: run.schema, key: run.key, dropped: this.dropped },
            'a queued record does not encode: dropped',
          );
          return false;
        }
      });
      return encodable.length > 0 ? asMessages(encodable) : [];
    }
  }

  private async publishQueued(): Promise<void> {
    const queued = this.queue;
    this.queue = [];
    this.queuedRecords = 0;
    const batch = this.encode(queued);
    if (batch.length === 0) return;
    const byTopic = new Map<string, Encoded[]>();
    for (const item of batch) {
      const list = byTopic.get(item.topic) ?? [];
      list.push(item);
      byTopic.set(item.topic, list);
    }
    const failed: Encoded[] = [];
    await Promise.all(
      [...byTopic].map(async ([topic, items]) => {
        try {
          await this.deps.bus.publish(
            topic,
            items.map((item) => item.message),
          );
          for (const item of items) this.published += item.records;
        } catch (error) {
          failed.push(...items);
          this.deps.log.warn({ err: error, topic, count: items.length }, 'publish failed; will retry');
        }
      }),
    );
    if (failed.length > 0) {
      this.failures++;
      this.queue = [...failed, ...this.queue];
      this.queuedRecords += failed.reduce((sum, item) => sum + item.records, 0);
    } else this.failures = 0;
  }
}

function recordsIn(item: Queued): number {
  return 'message' in item ? item.records : 1;
}
