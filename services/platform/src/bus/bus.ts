import type { TopicSpec } from '@thoth/contracts';
import { backoffMs } from '../retry.ts';
/**
 * The event bus: the one interface every service uses, with two adapters of the same semantics —
 * Apache Kafka (`kafka-bus.ts`, distributed mode) and an in-process log (`memory-bus.ts`, embedded mode).
 *
 * Semantics both adapters guarantee (checked by one contract test suite, test/bus.contract.test.ts):
 * - a message's partition is chosen by its key, so one key's messages stay ordered;
 * - `publish` resolves only when the messages are durable (Kafka: acks=all, idempotent producer);
 * - a consumer group receives each partition's messages in order, in batches; the group's offset advances
 *   only after the handler resolved; a handler that throws gets the same batch again (after a backoff);
 * - with `maxInFlightBatches` > 1, a partition's next batches are handed over before the earlier handlers
 *   resolved; offsets still commit in order, and a failed batch is delivered again followed by everything
 *   after it (partition-lane.ts);
 * - a partition moves to another member of the group only once its handlers here settled and committed;
 * - a compacted topic can be read as a key → value map that stays current (a null value deletes the key).
 */

export type Headers = Record<string, string>;

export interface OutgoingMessage {
  key: string;
  /** null is a tombstone: on a compacted topic it deletes the key. */
  value: Buffer | null;
  headers?: Headers;
}

export interface IncomingMessage {
  topic: string;
  partition: number;
  /** Offsets are decimal strings, as Kafka reports them. */
  offset: string;
  key: string;
  value: Buffer | null;
  headers: Headers;
  /** Epoch milliseconds when the bus accepted the message. */
  timestamp: number;
}

export interface Batch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
  /**
   * Which delivery of the partition the batch belongs to (partition-lane.ts): the batches handed over behind a
   * failed one carry its token; after the rewind (which the adapters do before anything else once a handler
   * failed, even when the partition moved away meanwhile), its redelivery and every batch after it carry a new
   * one. Both adapters set it.
   */
  delivery?: string;
}

export type BatchHandler = (batch: Batch) => Promise<void>;

export interface ViewOptions {
  /**
   * Keep each key's latest value in the view (default). `false`: only call `onChange`, for a topic with more
   * keys than a process should hold, whose reader keeps a bounded state of its own.
   */
  retain?: boolean;
}

export interface SubscribeOptions {
  group: string;
  topics: string[];
  handler: BatchHandler;
  /** Where a group without a committed offset starts. Default: the beginning. */
  fromBeginning?: boolean;
  /** Upper bound on messages per batch. Both adapters also bound its bytes (a few MB); batches may be smaller. */
  maxBatchSize?: number;
  /**
   * How many batches of one partition may be in the handler at once (default 1: one at a time). More lets a
   * consumer that stores in bulk receive the next batches while it stores the last ones: handlers still start
   * in offset order, offsets commit in order as they resolve, and when one throws, it and every batch after it
   * (whatever their handlers did) are delivered again, in order, after the backoff. So a handler must be
   * idempotent, and must not let a later batch's effect stand while an earlier one failed if order matters.
   */
  maxInFlightBatches?: number;
  /**
   * A group for this subscription alone (a live view such as the live tail, whose group name is new each
   * time): its position is not kept across a restart and is forgotten when the subscription stops. The
   * in-process bus trims a topic below its groups' committed offsets, so a forgotten durable group would keep
   * every later message in memory for good. (Kafka's retention is by time: the Kafka adapter treats it as any
   * group.)
   */
  ephemeral?: boolean;
}

export interface Subscription {
  /** Stops fetching, waits for the in-flight batches to settle, commits what succeeded, and leaves the group. */
  stop(): Promise<void>;
}

/** Messages of one partition after its consumer group's committed offset (`consumerLags` of both adapters, for metrics). */
export interface PartitionLag {
  group: string;
  topic: string;
  partition: number;
  lag: number;
}

/** A compacted topic materialized in memory. */
export interface CompactedView {
  get(key: string): Buffer | undefined;
  entries(): IterableIterator<[string, Buffer]>;
  readonly size: number;
  close(): Promise<void>;
}

/** Sees each change of a compacted topic, with the message's headers (the schema of the value). */
export type ChangeListener = (key: string, value: Buffer | null, headers: Headers) => void;

export interface Bus {
  /** Creates the topics that do not exist yet (idempotent). */
  ensureTopics(specs: TopicSpec[]): Promise<void>;
  publish(topic: string, messages: OutgoingMessage[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /**
   * Reads a compacted topic from its beginning into a map and keeps it current. Resolves once the map holds
   * everything the topic held when the call started. `onChange` sees every later change (and the initial load).
   */
  openView(topic: string, onChange?: ChangeListener, options?: ViewOptions): Promise<CompactedView>;
  /** Messages of `topic` the group has not committed yet, summed over partitions (for metrics). */
  lag(group: string, topic: string): Promise<number>;
  close(): Promise<void>;
}

/** A CompactedView over a map that an adapter keeps current. */
export function mapView(map: Map<string, Buffer>, close: () => Promise<void>): CompactedView {
  return {
    get: (key) => map.get(key),
    entries: () => map.entries(),
    get size() {
      return map.size;
    },
    close,
  };
}

/** Backoff for a batch whose handler threw: 100 ms doubling up to 5 s. */
export function redeliveryDelayMs(attempt: number): number {
  return backoffMs(attempt, 100, 5_000);
}

/** Kafka's default partitioner (murmur2, positive, modulo) so both adapters place a key identically. */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key)) & 0x7fffffff) % partitions;
}

function murmur2(data: Buffer): number {
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  const length = data.length;
  let h = seed ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k =
      (data[i4]! & 0xff) +
      ((data[i4 + 1]! & 0xff) << 8) +
      ((data[i4 + 2]! & 0xff) << 16) +
      ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const rest = length & 3;
  const base = length - rest;
  if (rest === 3) h ^= (data[base + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (data[base + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[base]! & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h;
}
