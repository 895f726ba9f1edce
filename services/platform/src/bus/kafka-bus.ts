import { randomUUID } from 'node:crypto';
import type { TopicSpec } from '@thoth/contracts';
import {
  type Admin,
  type Assignment,
  type Consumer,
  type IHeaders,
  Kafka,
  type KafkaConfig,
  logLevel,
  Partitioners,
  type Producer,
} from 'kafkajs';
import { backoffMs } from '../retry.ts';
import {
  type Bus,
  type ChangeListener,
  type CompactedView,
  type Headers,
  type IncomingMessage,
  mapView,
  type OutgoingMessage,
  type PartitionLag,
  type SubscribeOptions,
  type Subscription,
  type ViewOptions,
} from './bus.ts';
import { busyStaysAssigner } from './kafka-assigner.ts';
import { PartitionLane } from './partition-lane.ts';
import { Signal } from './signal.ts';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  defaultPartitions?: number;
  replicationFactor?: number;
  /** Consumer group session timeout (see KAFKA_SESSION_TIMEOUT_MS). */
  sessionTimeoutMs?: number;
  /** kafkajs gave up on a consumer and will not restart it: the process should end and be restarted. */
  onFatal?: (error: unknown, context: string) => void;
  /** How many partitions one subscription handles at the same time. */
  partitionsConsumedConcurrently?: number;
  onError?: (error: unknown, context: string) => void;
  onLog?: (level: 'error' | 'warn' | 'info', message: string) => void;
}

/**
 * The Bus on Apache Kafka via kafkajs. kafkajs is frozen upstream, so it stays behind this file.
 * Producer: idempotent, acks=all, so a resolved publish survives a broker failover and is never doubled.
 * Consumers: manual commits, in order, after the handlers resolved (PartitionLane); eachBatch hands a batch over
 * and returns, so kafkajs fetches on while handlers run (heartbeating while a handler holds a partition up). A
 * failing batch is fetched again after a backoff (a seek), so a partition stays ordered and nothing from a
 * failing batch on is committed. A partition never has two members handling it, with kafkajs's public API only
 * (it has no "partitions revoked" callback): a member that learns of a rebalance inside eachBatch (its own
 * heartbeat) stops handing batches over and lets its handlers settle and commit before kafkajs rejoins; and
 * when kafkajs's loop learns of it first, the partitions with handlers still running stay with this member
 * (busyStaysAssigner, kafka-assigner.ts).
 */
export class KafkaBus implements Bus {
  private readonly kafka: Kafka;
  private producer: Producer | undefined;
  private producerReady: Promise<Producer> | undefined;
  private admin: Admin | undefined;
  private readonly consumers = new Set<Consumer>();
  private readonly subscriptions = new Set<Subscription>();
  /** Each live subscription's group and the partitions its member holds (`topic/partition`), for consumerLags. */
  private readonly memberships = new Map<Subscription, { group: string; held: () => ReadonlySet<string> }>();

  constructor(private readonly options: KafkaBusOptions) {
    const config: KafkaConfig = {
      clientId: options.clientId,
      brokers: options.brokers,
      retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5_000 },
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ level, log }) => {
          // Retries are bounded on purpose (ingest answers 503 instead of hanging while the broker is away);
          // kafkajs warns about that on every idempotent producer.
          if (log.message.startsWith('Limiting retries for the idempotent producer')) return;
          const text = `${log.message}${log.error ? `: ${String(log.error)}` : ''}`;
          if (level === logLevel.ERROR) options.onLog?.('error', text);
          else if (level === logLevel.WARN) options.onLog?.('warn', text);
        },
    };
    this.kafka = new Kafka(config);
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    const admin = await this.connectedAdmin();
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.name));
    if (missing.length === 0) return;
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.name,
        numPartitions: s.partitions ?? this.options.defaultPartitions ?? 6,
        replicationFactor: this.options.replicationFactor ?? 1,
        configEntries: [
          ...(s.compacted
            ? [
                { name: 'cleanup.policy', value: s.retentionMs === undefined ? 'compact' : 'compact,delete' },
                { name: 'min.cleanable.dirty.ratio', value: '0.1' },
              ]
            : []),
          // Kafka deletes and compacts whole closed segments only: a segment that rolls hourly makes the retention
          // apply within the hour (the default rolls after 7 days or 1 GiB).
          ...(s.retentionMs === undefined
            ? []
            : [
                { name: 'retention.ms', value: String(s.retentionMs) },
                { name: 'segment.ms', value: String(Math.min(s.retentionMs, 3_600_000)) },
              ]),
        ],
      })),
    });
    // createTopics returns before every partition has a leader on a fresh broker; the first produce would
    // then fail with NOT_LEADER. Wait until the metadata shows a leader everywhere.
    const names = missing.map((s) => s.name);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { topics } = await retryRetriable(() => admin.fetchTopicMetadata({ topics: names }));
      if (topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
      if (Date.now() > deadline) throw new Error(`topics without a leader after 30 s: ${names.join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const producer = await this.connectedProducer();
    await producer.send({
      topic,
      acks: -1,
      messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers ?? {} })),
    });
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const heartbeatMs = Math.min(3_000, Math.floor((this.options.sessionTimeoutMs ?? 30_000) / 3));
    const consumer = this.kafka.consumer({
      groupId: options.group,
      allowAutoTopicCreation: true,
      maxWaitTimeInMs: 100,
      // kafkajs fetches at most 1 MB per partition by default (~1,500 events): a consumer that stores in bulk
      // (the audit writer) then spends its time on round trips instead of rows.
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
      sessionTimeout: this.options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: heartbeatMs,
      rebalanceTimeout: REBALANCE_TIMEOUT_MS,
      // Round robin, except that a partition with handlers still running stays with this member.
      partitionAssigners: [busyStaysAssigner(() => busyPartitions())],
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart)
        this.options.onFatal?.(payload.error, `consumer group ${options.group} stopped for good`);
    });
    this.consumers.add(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning !== false });
    // run() returns before the group is joined; callers expect a subscription that is live when it resolves.
    const joined = groupJoined(consumer);
    const maxBatch = options.maxBatchSize ?? 5_000;
    let running = true;
    const stopSignal = new Signal();
    const lanes = new Map<string, KafkaLane>();
    /** The partitions of this member's last join (`topic/partition`), and how many joins there were. */
    let assigned = new Set<string>();
    let joins = 0;
    /** A rebalance this member learned of through its own heartbeat, since its last join. */
    let rebalance: Error | undefined;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      joins++;
      rebalance = undefined;
      assigned = new Set(
        Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) =>
          partitions.map((partition) => `${topic}/${partition}`),
        ),
      );
      // A partition that went elsewhere starts afresh if it comes back (see KafkaLane.next).
      for (const [id, state] of lanes) if (!assigned.has(id)) state.next = undefined;
    });
    const busyPartitions = (): Assignment => {
      const busy: Assignment = {};
      for (const state of lanes.values()) {
        if (!state.lane.busy) continue;
        busy[state.topic] = [...(busy[state.topic] ?? []), state.partition];
      }
      return busy;
    };
    /** Heartbeats (kafkajs sends one only once its interval passed), noting a rebalance it reports. */
    const beat = (heartbeat: () => Promise<void>) => async (): Promise<void> => {
      const at = joins;
      try {
        await heartbeat();
      } catch (error) {
        if (at === joins && isRebalancing(error)) rebalance ??= error as Error;
      }
    };
    // Before this member rejoins: every handler settled and committed (bounded: the group waits for a member's
    // rejoin only that long). Fetching has stopped by then, and it restarts at the committed offsets.
    const drain = async (): Promise<void> => {
      const settled = Promise.all([...lanes.values()].map((state) => state.lane.settled()));
      const bound = new Promise<'late'>((resolve) =>
        setTimeout(() => resolve('late'), REBALANCE_TIMEOUT_MS / 2).unref(),
      );
      if ((await Promise.race([settled, bound])) === 'late')
        this.options.onError?.(
          new Error('handlers still running when the group rebalanced'),
          `group ${options.group}: rejoining with handlers in flight; their batches may be handled twice`,
        );
    };
    const laneOf = (topic: string, partition: number): KafkaLane => {
      const id = `${topic}/${partition}`;
      let state = lanes.get(id);
      if (!state) {
        const created: KafkaLane = {
          topic,
          partition,
          lane: new PartitionLane(
            options.maxInFlightBatches ?? 1,
            (offset) => consumer.commitOffsets([{ topic, partition, offset }]),
            // A commit lost to a rebalance: the partition's next owner gets those batches again.
            (error) => this.options.onError?.(error, `group ${options.group} ${id}: offset commit failed`),
            () => {
              if (created.lane.failure && !created.recovering) void recover(created);
            },
            // No handler starts once a rebalance is known: the member drains and rejoins.
            () => running && !rebalance,
          ),
          recovering: false,
          next: undefined,
        };
        state = created;
        lanes.set(id, state);
      }
      return state;
    };
    // A handler threw: stop fetching the partition, let its other handlers settle, wait out the backoff, and
    // fetch again from the failed batch (a seek: without auto-commit, kafkajs only moves its fetch position).
    const recover = async (state: KafkaLane): Promise<void> => {
      const { topic, partition, lane } = state;
      state.recovering = true;
      consumer.pause([{ topic, partitions: [partition] }]);
      await lane.settled();
      // Read only now: a batch before the first one to fail may have failed since.
      const failure = lane.failure;
      if (failure)
        this.options.onError?.(
          failure.error,
          `group ${options.group} ${topic}/${partition}: handler failed, batch will be redelivered`,
        );
      await stopSignal.wait(lane.retryDelayMs);
      // The partition stays paused through a rebalance, so no handler started meanwhile.
      lane.reset();
      state.recovering = false;
      if (!running) return;
      if (failure) {
        state.next = undefined;
        // Everything before the failed batch was handled (its commit may have been lost to a rebalance), so
        // the seek is right after a rejoin too; a partition that went elsewhere is its new owner's.
        if (assigned.has(`${topic}/${partition}`))
          consumer.seek({ topic, partition, offset: failure.offset });
      }
      consumer.resume([{ topic, partitions: [partition] }]);
    };
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Every partition at once by default: their batches meet in the consumer's own batching (one store write).
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 16,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const state = laneOf(batch.topic, batch.partition);
        if (!running || !isRunning() || isStale() || state.recovering) return;
        const heartbeatNow = beat(heartbeat);
        if (!rebalance) {
          // After a rejoin that left this partition here with handlers running (busyStaysAssigner), kafkajs
          // fetches again from the committed offset: what is already in a handler is not handed over twice.
          const from = state.next;
          const fresh =
            from === undefined ? batch.messages : batch.messages.filter((m) => BigInt(m.offset) >= from);
          if (fresh.length === 0) resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
          const all = fresh.map(
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
          for (let i = 0; i < all.length; i += maxBatch) {
            const messages = all.slice(i, i + maxBatch);
            const last = messages[messages.length - 1]!.offset;
            // kafkajs heartbeats only when asked: a handler that waits out a slow sink (SIEM exports back off
            // for minutes) must keep the membership alive, or the group would rebalance and redeliver behind it.
            const started = await withHeartbeat(
              heartbeatNow,
              heartbeatMs,
              state.lane.start(messages[0]!.offset, last, () =>
                options.handler({
                  topic: batch.topic,
                  partition: batch.partition,
                  messages,
                  delivery: state.lane.delivery,
                }),
              ),
            );
            if (!started || !running) break;
            // Fetch on past it while the handler runs; the commit follows when the handler resolved.
            resolveOffset(last);
            state.next = BigInt(last) + 1n;
          }
          // Heartbeat here, before kafkajs's loop does (it sends one only once its interval passed, and its
          // loop would rejoin at once): a rebalance learned here is drained first.
          if (!rebalance && running) await heartbeatNow();
        }
        if (rebalance && running) {
          // Hand nothing more over; rejoin (kafkajs does, on this error) once every handler settled and committed.
          const error = rebalance;
          await withHeartbeat(heartbeatNow, heartbeatMs, drain());
          throw error;
        }
      },
    });
    if (!(await joined)) throw new Error(`group ${options.group} did not join within 60 s`);
    const subscription: Subscription = {
      stop: async () => {
        if (!running) return;
        running = false;
        stopSignal.notify();
        // Handlers run on after eachBatch returned: let them finish and commit before leaving the group.
        consumer.pause(options.topics.map((topic) => ({ topic })));
        await Promise.all([...lanes.values()].map((state) => state.lane.settled()));
        await consumer.disconnect();
        this.consumers.delete(consumer);
        this.subscriptions.delete(subscription);
        this.memberships.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    // A live view's group (ephemeral) comes and goes with a browser tab: its lag is no consumer's backlog.
    if (!options.ephemeral)
      this.memberships.set(subscription, { group: options.group, held: () => assigned });
    return subscription;
  }

  async openView(topic: string, onChange?: ChangeListener, options?: ViewOptions): Promise<CompactedView> {
    const retain = options?.retain ?? true;
    const admin = await this.connectedAdmin();
    const ends = await retryRetriable(() => admin.fetchTopicOffsets(topic));
    // Partitions still to catch up on: next offset to read must reach the high watermark seen at open.
    const pending = new Map(
      ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]),
    );
    const caughtUp = new Signal();
    const map = new Map<string, Buffer>();
    // A view reads from the beginning and never commits: a throwaway group id per view.
    const consumer = this.kafka.consumer({
      groupId: `${this.options.clientId}.view.${topic}.${randomUUID()}`,
      maxWaitTimeInMs: 100,
    });
    this.consumers.add(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    // run() returns before the group is joined: a view opened on an empty topic would otherwise see what is
    // published in the seconds until it is (another replica's first updates, a key created right after start)
    // only that much later.
    const joined = groupJoined(consumer);
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        for (const m of batch.messages) {
          const key = m.key?.toString() ?? '';
          if (retain) {
            if (m.value === null) map.delete(key);
            else map.set(key, m.value);
          }
          onChange?.(key, m.value, toHeaders(m.headers));
          resolveOffset(m.offset);
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
    if (!(await joined)) {
      await this.dropConsumer(consumer);
      throw new Error(`timed out joining a view of ${topic}`);
    }
    while (pending.size > 0) {
      if (Date.now() > deadline) {
        await this.dropConsumer(consumer);
        throw new Error(`timed out reading compacted topic ${topic}`);
      }
      await caughtUp.wait(200);
    }
    return mapView(map, async () => {
      await consumer.disconnect();
      this.consumers.delete(consumer);
    });
  }

  /**
   * The lag of each partition this process's members hold (its high watermark minus the group's committed
   * offset), read from the brokers: current even while a handler is stuck, and each partition reported by the
   * one process that consumes it. A group the brokers do not answer for is left out.
   */
  async consumerLags(): Promise<PartitionLag[]> {
    const admin = await this.connectedAdmin();
    const perTopic = [...this.memberships.values()].flatMap(({ group, held }) => {
      const byTopic = new Map<string, Set<number>>();
      for (const id of held()) {
        const slash = id.lastIndexOf('/');
        const topic = id.slice(0, slash);
        byTopic.set(topic, (byTopic.get(topic) ?? new Set()).add(Number(id.slice(slash + 1))));
      }
      return [...byTopic].map(async ([topic, partitions]): Promise<PartitionLag[]> => {
        const [ends, [committed]] = await Promise.all([
          admin.fetchTopicOffsets(topic),
          admin.fetchOffsets({ groupId: group, topics: [topic] }),
        ]);
        const done = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
        return ends
          .filter((end) => partitions.has(end.partition))
          .map((end) => {
            const from = done.get(end.partition) ?? -1n;
            const lag = BigInt(end.high) - (from < 0n ? BigInt(end.low) : from);
            return { group, topic, partition: end.partition, lag: Number(lag) };
          });
      });
    });
    const settled = await Promise.allSettled(perTopic);
    return settled.flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
  }

  /** Disconnects a consumer that failed to open (its listeners go with it). */
  private async dropConsumer(consumer: Consumer): Promise<void> {
    this.consumers.delete(consumer);
    await consumer.disconnect().catch(() => {});
  }

  async lag(group: string, topic: string): Promise<number> {
    const admin = await this.connectedAdmin();
    const [ends, [committed]] = await Promise.all([
      retryRetriable(() => admin.fetchTopicOffsets(topic)),
      retryRetriable(() => admin.fetchOffsets({ groupId: group, topics: [topic] })),
    ]);
    const done = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    let lag = 0n;
    for (const end of ends) {
      const from = done.get(end.partition) ?? -1n;
      // -1: nothing committed yet, the group would start at the low watermark.
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

  private connectedProducer(): Promise<Producer> {
    this.producerReady ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: true,
        createPartitioner: Partitioners.DefaultPartitioner,
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

  private async connectedAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }
}

/**
 * Retries what Kafka marks retriable (a leader moving or just elected, a coordinator loading) for up to 15 s:
 * kafkajs's admin calls give up at once on a fresh broker's NOT_LEADER, which would fail a start.
 */
async function retryRetriable<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const retriable = (error as { retriable?: boolean }).retriable === true;
      if (!retriable || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, backoffMs(attempt, 50, 1_000)));
    }
  }
}

/** How long the group waits for its members to rejoin in a rebalance (kafkajs's default). */
const REBALANCE_TIMEOUT_MS = 60_000;

/** A partition's lane, and whether it is rewinding after a failure. */
interface KafkaLane {
  topic: string;
  partition: number;
  lane: PartitionLane;
  recovering: boolean;
  /** The offset after the last message handed to a handler while this member held the partition. */
  next: bigint | undefined;
}

/** kafkajs's rebalance errors (its `isRebalancing`, which it does not export). */
function isRebalancing(error: unknown): boolean {
  const type = (error as { type?: unknown } | undefined)?.type;
  return (
    type === 'REBALANCE_IN_PROGRESS' || type === 'NOT_COORDINATOR_FOR_GROUP' || type === 'ILLEGAL_GENERATION'
  );
}

/** Awaits `work`, heartbeating every `everyMs` meanwhile (a session must outlive a slow handler). */
async function withHeartbeat<T>(
  heartbeat: () => Promise<void>,
  everyMs: number,
  work: Promise<T>,
): Promise<T> {
  const beating = setInterval(() => void heartbeat(), everyMs);
  try {
    return await work;
  } finally {
    clearInterval(beating);
  }
}

function toHeaders(headers: IHeaders | undefined): Headers {
  const out: Headers = {};
  if (!headers) return out;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? String(v[v.length - 1]) : v.toString();
  }
  return out;
}

/**
 * Resolves true once `consumer` joined its group (register before `run()`: run returns before the join), false
 * after `withinMs` without a join.
 */
function groupJoined(consumer: Consumer, withinMs = 60_000): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      remove();
      resolve(false);
    }, withinMs);
    const remove = consumer.on(consumer.events.GROUP_JOIN, () => {
      clearTimeout(timer);
      remove();
      resolve(true);
    });
  });
}
