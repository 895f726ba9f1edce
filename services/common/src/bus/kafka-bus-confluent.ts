import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  type Bus,
  type ChangeListener,
  type CompactedView,
  type Headers,
  type IncomingMessage,
  mapView,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type TopicSpec,
} from './bus.ts';
import type { KafkaBusOptions } from './kafka-bus.ts';
import { PartitionLane } from './partition-lane.ts';
import { Signal } from './signal.ts';

/**
 * The Bus on Apache Kafka via @confluentinc/kafka-javascript (librdkafka) and its KafkaJS-compatible API: an
 * alternative to kafka-bus.ts, selected with THOTH_KAFKA_CLIENT=confluent (kafka-client.ts). Not a dependency of
 * the project: it is loaded only when selected (its install builds or downloads a native librdkafka; see
 * docs/performance.md, "Kafka client").
 *
 * Same design as kafka-bus.ts (PartitionLane per partition: in-order commits after the handlers resolved, the
 * rewind of a failed batch); the handover is librdkafka's own: its rebalance callback runs before the member
 * gives its partitions up and rejoins, and waits here until every handler settled and committed.
 */
export class ConfluentKafkaBus implements Bus {
  private readonly client: CkjsModule;
  private readonly kafka: CkjsKafka;
  private producerReady: Promise<CkjsProducer> | undefined;
  private producer: CkjsProducer | undefined;
  private admin: CkjsAdmin | undefined;
  private readonly consumers = new Set<CkjsConsumer>();
  private readonly subscriptions = new Set<Subscription>();

  constructor(private readonly options: KafkaBusOptions) {
    this.client = loadClient();
    const { logLevel } = this.client.KafkaJS;
    this.kafka = new this.client.KafkaJS.Kafka({
      kafkaJS: {
        clientId: options.clientId,
        brokers: options.brokers,
        retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5_000 },
        logLevel: logLevel.WARN,
        logger: {
          info: () => {},
          debug: () => {},
          warn: (message: string) => options.onLog?.('warn', message),
          error: (message: string) => options.onLog?.('error', message),
          namespace() {
            return this;
          },
          setLogLevel: () => {},
        },
      },
    });
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    const admin = await this.connectedAdmin();
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.name));
    if (missing.length === 0) return;
    await admin.createTopics({
      topics: missing.map((s) => ({
        topic: s.name,
        numPartitions: s.partitions ?? this.options.defaultPartitions ?? 6,
        replicationFactor: this.options.replicationFactor ?? 1,
        configEntries: s.compacted
          ? [
              { name: 'cleanup.policy', value: 'compact' },
              { name: 'min.cleanable.dirty.ratio', value: '0.1' },
            ]
          : [],
      })),
    });
    const names = missing.map((s) => s.name);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const topics = await admin.fetchTopicMetadata({ topics: names }).catch(() => []);
      if (
        topics.length === names.length &&
        topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
      )
        return;
      if (Date.now() > deadline) throw new Error(`topics without a leader after 30 s: ${names.join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const producer = await this.connectedProducer();
    await producer.send({
      topic,
      messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers ?? {} })),
    });
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const { ERR__ASSIGN_PARTITIONS, ERR__REVOKE_PARTITIONS } = this.client.CODES.ERRORS;
    const maxBatch = options.maxBatchSize ?? 5_000;
    let running = true;
    /** Between librdkafka's revoke and the next assignment: no handler starts. */
    let revoking = false;
    let assigned = new Set<string>();
    const stopSignal = new Signal();
    const lanes = new Map<string, ConfluentLane>();
    let joinedResolve!: () => void;
    const joined = new Promise<void>((resolve) => {
      joinedResolve = resolve;
    });
    const drain = async (): Promise<void> => {
      const settled = Promise.all([...lanes.values()].map((state) => state.lane.settled()));
      const bound = new Promise<'late'>((resolve) =>
        setTimeout(() => resolve('late'), REBALANCE_TIMEOUT_MS / 2).unref(),
      );
      if ((await Promise.race([settled, bound])) === 'late')
        this.options.onError?.(
          new Error('handlers still running when the group rebalanced'),
          `group ${options.group}: giving partitions up with handlers in flight; their batches may be handled twice`,
        );
    };
    const consumer = this.kafka.consumer({
      kafkaJS: {
        groupId: options.group,
        fromBeginning: options.fromBeginning !== false,
        autoCommit: false,
        allowAutoTopicCreation: true,
        maxWaitTimeInMs: 100,
        maxBytesPerPartition: 4 * 1024 * 1024,
        maxBytes: 32 * 1024 * 1024,
        sessionTimeout: this.options.sessionTimeoutMs ?? 30_000,
        heartbeatInterval: Math.min(3_000, Math.floor((this.options.sessionTimeoutMs ?? 30_000) / 3)),
        rebalanceTimeout: REBALANCE_TIMEOUT_MS,
        partitionAssigners: [this.client.KafkaJS.PartitionAssigners.roundRobin],
      },
      // Every message the client holds for a partition in one eachBatch (its default hands over 32 at most,
      // fewer while its cache warms up); batches are cut here, by count and bytes, as kafka-bus.ts does.
      'js.consumer.max.batch.size': -1,
      // librdkafka calls this before it gives the partitions up (eager protocol: all of them) and rejoins, and
      // waits for it: the handlers settle and commit first, so a partition never has two members handling it.
      rebalance_cb: async (
        error: { code: number },
        assignment: Array<{ topic: string; partition: number }>,
      ) => {
        if (error.code === ERR__REVOKE_PARTITIONS) {
          revoking = true;
          assigned = new Set();
          await drain();
        } else if (error.code === ERR__ASSIGN_PARTITIONS) {
          revoking = false;
          assigned = new Set(assignment.map((tp) => `${tp.topic}/${tp.partition}`));
          // A group that starts at the end starts at the end as of now: the subscription resolves live (librdkafka
          // would look the end up later, and miss what is published meanwhile).
          const positioned =
            options.fromBeginning === false && assignment.length > 0
              ? await this.positions(options.group, assignment).catch(() => undefined)
              : undefined;
          joinedResolve();
          return positioned;
        }
        return undefined;
      },
    });
    this.consumers.add(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: options.topics });
    const laneOf = (topic: string, partition: number): ConfluentLane => {
      const id = `${topic}/${partition}`;
      let state = lanes.get(id);
      if (!state) {
        const created: ConfluentLane = {
          lane: new PartitionLane(
            options.maxInFlightBatches ?? 1,
            (offset) => consumer.commitOffsets([{ topic, partition, offset }]),
            (error) => this.options.onError?.(error, `group ${options.group} ${id}: offset commit failed`),
            () => {
              if (created.lane.failure && !created.recovering) void recover(topic, partition, created);
            },
            () => running && !revoking,
          ),
          recovering: false,
        };
        state = created;
        lanes.set(id, state);
      }
      return state;
    };
    const recover = async (topic: string, partition: number, state: ConfluentLane): Promise<void> => {
      const { lane } = state;
      state.recovering = true;
      tryQuietly(() => consumer.pause([{ topic, partitions: [partition] }]));
      await lane.settled();
      const failure = lane.failure;
      if (failure)
        this.options.onError?.(
          failure.error,
          `group ${options.group} ${topic}/${partition}: handler failed, batch will be redelivered`,
        );
      await stopSignal.wait(lane.retryDelayMs);
      lane.reset();
      state.recovering = false;
      if (!running) return;
      if (failure && assigned.has(`${topic}/${partition}`))
        tryQuietly(() => consumer.seek({ topic, partition, offset: failure.offset }));
      tryQuietly(() => consumer.resume([{ topic, partitions: [partition] }]));
    };
    await consumer.run({
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 16,
      eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
        const state = laneOf(batch.topic, batch.partition);
        if (!running || !isRunning() || isStale() || state.recovering || batch.messages.length === 0) return;
        const all = batch.messages.map(
          (m): IncomingMessage => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key?.toString() ?? '',
            value: m.value,
            headers: toHeaders(m.headers),
            timestamp: Number(m.timestamp),
          }),
        );
        for (let i = 0; i < all.length; ) {
          // At most maxBatch messages and about MAX_BATCH_BYTES (bus.ts: both adapters bound a batch's bytes, as
          // kafkajs's fetch does): the client hands over everything it holds for the partition, a whole backlog.
          let end = i + 1;
          let bytes = all[i]!.value?.length ?? 0;
          while (end < all.length && end - i < maxBatch && bytes < MAX_BATCH_BYTES)
            bytes += all[end++]!.value?.length ?? 0;
          const messages = all.slice(i, end);
          i = end;
          const last = messages[messages.length - 1]!.offset;
          const started = await state.lane.start(messages[0]!.offset, last, () =>
            options.handler({ topic: batch.topic, partition: batch.partition, messages }),
          );
          // Not started: the client fetches it again (it rewinds to the first offset not resolved).
          if (!started || !running) return;
          resolveOffset(last);
        }
      },
    });
    const timeout = new Promise<void>((_, reject) =>
      setTimeout(() => reject(new Error(`group ${options.group} did not join within 60 s`)), 60_000).unref(),
    );
    await Promise.race([joined, timeout]);
    const subscription: Subscription = {
      stop: async () => {
        if (!running) return;
        running = false;
        stopSignal.notify();
        tryQuietly(() => consumer.pause(options.topics.map((topic) => ({ topic }))));
        await Promise.all([...lanes.values()].map((state) => state.lane.settled()));
        await consumer.disconnect();
        this.consumers.delete(consumer);
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async openView(topic: string, onChange?: ChangeListener): Promise<CompactedView> {
    const admin = await this.connectedAdmin();
    const ends = await admin.fetchTopicOffsets(topic);
    const pending = new Map(
      ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]),
    );
    const caughtUp = new Signal();
    const map = new Map<string, Buffer>();
    const consumer = this.kafka.consumer({
      kafkaJS: {
        groupId: `${this.options.clientId}.view.${topic}.${randomUUID()}`,
        fromBeginning: true,
        autoCommit: false,
        maxWaitTimeInMs: 100,
      },
      'js.consumer.max.batch.size': -1,
    });
    this.consumers.add(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const key = m.key?.toString() ?? '';
          if (m.value === null) map.delete(key);
          else map.set(key, m.value);
          onChange?.(key, m.value, toHeaders(m.headers));
        }
        const last = batch.messages[batch.messages.length - 1];
        const target = pending.get(batch.partition);
        if (last && target !== undefined && BigInt(last.offset) + 1n >= target) {
          pending.delete(batch.partition);
          caughtUp.notify();
        }
      },
    });
    const deadline = Date.now() + 60_000;
    while (pending.size > 0) {
      if (Date.now() > deadline) throw new Error(`timed out reading compacted topic ${topic}`);
      await caughtUp.wait(200);
    }
    return mapView(map, async () => {
      await consumer.disconnect();
      this.consumers.delete(consumer);
    });
  }

  async lag(group: string, topic: string): Promise<number> {
    const admin = await this.connectedAdmin();
    const [ends, [committed]] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId: group, topics: [topic] }),
    ]);
    const done = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    let lag = 0n;
    for (const end of ends) {
      const from = done.get(end.partition) ?? -1n;
      lag += BigInt(end.high) - (from < 0n ? BigInt(end.low) : from);
    }
    return Number(lag);
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    await Promise.all([...this.consumers].map((c) => c.disconnect()));
    await this.producer?.disconnect();
    await this.admin?.disconnect();
  }

  /** Where each partition starts: its committed offset, else its current end. */
  private async positions(
    group: string,
    assignment: Array<{ topic: string; partition: number }>,
  ): Promise<Array<{ topic: string; partition: number; offset: number }>> {
    const admin = await this.connectedAdmin();
    const topics = [...new Set(assignment.map((tp) => tp.topic))];
    const committed = new Map<string, bigint>();
    for (const { topic, partitions } of await admin.fetchOffsets({ groupId: group, topics }))
      for (const p of partitions) committed.set(`${topic}/${p.partition}`, BigInt(p.offset));
    const ends = new Map<string, bigint>();
    for (const topic of topics)
      for (const e of await admin.fetchTopicOffsets(topic))
        ends.set(`${topic}/${e.partition}`, BigInt(e.high));
    return assignment.map(({ topic, partition }) => {
      const id = `${topic}/${partition}`;
      const from = committed.get(id) ?? -1n;
      return { topic, partition, offset: Number(from >= 0n ? from : (ends.get(id) ?? 0n)) };
    });
  }

  private connectedProducer(): Promise<CkjsProducer> {
    this.producerReady ??= (async () => {
      const producer = this.kafka.producer({
        kafkaJS: { idempotent: true, acks: -1, allowAutoTopicCreation: true },
        // Each publish awaits its delivery: a short linger still batches the concurrent ones.
        'linger.ms': 2,
      });
      await producer.connect();
      this.producer = producer;
      return producer;
    })();
    this.producerReady.catch(() => {
      this.producerReady = undefined;
    });
    return this.producerReady;
  }

  private async connectedAdmin(): Promise<CkjsAdmin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }
}

const REBALANCE_TIMEOUT_MS = 60_000;
/** What kafka-bus.ts fetches per partition at most (maxBytesPerPartition). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** The package, if installed (an optional, native dependency: nothing else in Thoth loads it). */
function loadClient(): CkjsModule {
  try {
    return createRequire(import.meta.url)('@confluentinc/kafka-javascript') as CkjsModule;
  } catch (error) {
    throw new Error(
      'THOTH_KAFKA_CLIENT=confluent needs @confluentinc/kafka-javascript installed (npm install ' +
        '@confluentinc/kafka-javascript; without access to its prebuilt binaries, CKJS_LINKING=dynamic builds ' +
        `librdkafka from source with a C compiler): ${(error as Error).message}`,
    );
  }
}

function tryQuietly(action: () => void): void {
  try {
    action();
  } catch {
    // pause/resume/seek of a partition this member no longer holds: nothing to do.
  }
}

interface ConfluentLane {
  lane: PartitionLane;
  recovering: boolean;
}

function toHeaders(headers: CkjsMessage['headers']): Headers {
  const out: Headers = {};
  if (!headers) return out;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? String(v[v.length - 1]) : v.toString();
  }
  return out;
}

// The slice of @confluentinc/kafka-javascript's KafkaJS-compatible API this adapter uses (typed here, so the
// project type-checks without the optional package).
interface CkjsModule {
  KafkaJS: {
    Kafka: new (config: object) => CkjsKafka;
    logLevel: { WARN: number };
    PartitionAssigners: { roundRobin: string };
  };
  CODES: { ERRORS: { ERR__ASSIGN_PARTITIONS: number; ERR__REVOKE_PARTITIONS: number } };
}
interface CkjsKafka {
  producer(config: object): CkjsProducer;
  consumer(config: object): CkjsConsumer;
  admin(config?: object): CkjsAdmin;
}
interface CkjsProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: {
    topic: string;
    messages: Array<{ key: string; value: Buffer | null; headers: Headers }>;
  }): Promise<unknown>;
}
interface CkjsMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | Array<Buffer | string> | undefined>;
  timestamp: string;
}
interface CkjsBatchPayload {
  batch: { topic: string; partition: number; messages: CkjsMessage[] };
  resolveOffset(offset: string): void;
  isRunning(): boolean;
  isStale(): boolean;
}
type TopicPartitions = Array<{ topic: string; partitions?: number[] }>;
interface CkjsConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: string[] }): Promise<void>;
  run(config: {
    eachBatch: (payload: CkjsBatchPayload) => Promise<void>;
    eachBatchAutoResolve?: boolean;
    partitionsConsumedConcurrently?: number;
  }): Promise<void>;
  commitOffsets(offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void>;
  pause(topics: TopicPartitions): void;
  resume(topics: TopicPartitions): void;
  seek(position: { topic: string; partition: number; offset: string }): void;
}
interface CkjsAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listTopics(): Promise<string[]>;
  createTopics(options: {
    topics: Array<{
      topic: string;
      numPartitions: number;
      replicationFactor: number;
      configEntries: Array<{ name: string; value: string }>;
    }>;
  }): Promise<boolean>;
  fetchTopicMetadata(options: {
    topics: string[];
  }): Promise<Array<{ name: string; partitions: Array<{ partitionId: number; leader: number }> }>>;
  fetchTopicOffsets(topic: string): Promise<Array<{ partition: number; high: string; low: string }>>;
  fetchOffsets(options: {
    groupId: string;
    topics: string[];
  }): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
}
