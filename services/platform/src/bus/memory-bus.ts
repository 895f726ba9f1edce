import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopicSpec } from '@thoth/contracts';
import {
  type Batch,
  type Bus,
  type ChangeListener,
  type CompactedView,
  mapView,
  type OutgoingMessage,
  type PartitionLag,
  partitionForKey,
  type SubscribeOptions,
  type Subscription,
  type ViewOptions,
} from './bus.ts';
import { PartitionLane } from './partition-lane.ts';
import { PartitionLog, type StoredRecord } from './partition-log.ts';
import { Signal } from './signal.ts';

/** A batch's values stop at about this many bytes, as the Kafka adapter's fetch per partition does. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export interface MemoryBusOptions {
  /** Where topics and group offsets persist; undefined keeps everything in memory (tests). */
  dir?: string;
  /** Partitions of a topic created implicitly by publish/subscribe. */
  defaultPartitions?: number;
  onError?: (error: unknown, context: string) => void;
}

interface Topic {
  name: string;
  compacted: boolean;
  partitions: PartitionLog[];
}

interface Member {
  id: number;
  topics: string[];
}

/** Where `group` goes on in a partition: its committed offset, or the log's start when it has none. */
const resumeAt = (group: Group, topic: string, partition: number, log: PartitionLog): number =>
  group.committed.get(`${topic}/${partition}`) ?? log.startOffset;

interface Group {
  name: string;
  /** SubscribeOptions.ephemeral: not persisted, and dropped (with its hold on retention) when its last member leaves. */
  ephemeral: boolean;
  members: Member[];
  /** Next offset to consume, per `topic/partition`. */
  committed: Map<string, number>;
  /** Partitions a member is handling right now: a partition is never handled by two members at once. */
  busy: Set<string>;
  changed: Signal;
}

type OffsetFile = Record<string, Record<string, number>>;

/**
 * The in-process bus of the embedded mode: Kafka's semantics (keyed partitions, consumer groups, offsets
 * committed after the handler succeeded, redelivery, compacted topics) in one process, persisted under `dir`.
 */
export class MemoryBus implements Bus {
  private readonly topics = new Map<string, Promise<Topic>>();
  private readonly groups = new Map<string, Group>();
  private readonly defaultPartitions: number;
  private nextMemberId = 1;
  private offsetsDirty = false;
  private offsetsTimer: NodeJS.Timeout | undefined;
  /** The offsets file being written (by the timer: off the thread, see saveOffsetsSoon). */
  private offsetsSaving: Promise<void> | undefined;
  private closed = false;
  private readonly subscriptions = new Set<Subscription>();

  constructor(private readonly options: MemoryBusOptions = {}) {
    this.defaultPartitions = options.defaultPartitions ?? 3;
    if (options.dir) {
      mkdirSync(options.dir, { recursive: true });
      this.loadOffsets();
    }
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    await Promise.all(specs.map((spec) => this.topic(spec.name, spec)));
  }

  async publish(topicName: string, messages: OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    if (messages.length === 0) return;
    const topic = await this.topic(topicName);
    const byPartition = new Map<number, Array<Omit<StoredRecord, 'offset'>>>();
    const timestamp = Date.now();
    for (const m of messages) {
      const p = partitionForKey(m.key, topic.partitions.length);
      const list = byPartition.get(p) ?? [];
      byPartition.set(p, list);
      list.push({ key: m.key, value: m.value, headers: m.headers ?? {}, timestamp });
    }
    await Promise.all([...byPartition].map(([p, records]) => topic.partitions[p]!.append(records)));
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const topics = await Promise.all(options.topics.map((name) => this.topic(name)));
    const group = this.group(options.group, options.ephemeral === true);
    const member: Member = { id: this.nextMemberId++, topics: options.topics };
    for (const topic of topics) {
      topic.partitions.forEach((log, p) => {
        const id = `${topic.name}/${p}`;
        // A new group's position counts at once, so retention never trims what it has yet to read.
        if (!group.committed.has(id))
          group.committed.set(id, options.fromBeginning === false ? log.endOffset : log.startOffset);
      });
    }
    group.members.push(member);
    group.changed.notify();

    let running = true;
    const stopSignal = new Signal();
    const maxBatch = options.maxBatchSize ?? 500;
    const loops = topics.flatMap((topic) =>
      topic.partitions.map((log, p) =>
        this.consumeLoop(group, member, topic, p, log, maxBatch, options, () => running, stopSignal),
      ),
    );
    const subscription: Subscription = {
      stop: async () => {
        if (!running) return;
        running = false;
        stopSignal.notify();
        for (const log of topics.flatMap((t) => t.partitions)) log.appended.notify();
        group.changed.notify();
        await Promise.all(loops);
        group.members = group.members.filter((m) => m !== member);
        group.changed.notify();
        if (group.ephemeral && group.members.length === 0) this.groups.delete(group.name);
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async openView(
    topicName: string,
    onChange?: ChangeListener,
    options?: ViewOptions,
  ): Promise<CompactedView> {
    const topic = await this.topic(topicName);
    const map = new Map<string, Buffer>();
    const retain = options?.retain ?? true;
    const apply = (records: StoredRecord[]): void => {
      for (const r of records) {
        if (retain) {
          if (r.value === null) map.delete(r.key);
          else map.set(r.key, r.value);
        }
        onChange?.(r.key, r.value, r.headers);
      }
    };
    const unfollow = topic.partitions.map((log) => log.follow(apply));
    return mapView(map, async () => {
      for (const stop of unfollow) stop();
    });
  }

  /** Each partition's lag for every group with a member here (live-tail groups, which come and go, left out). */
  async consumerLags(): Promise<PartitionLag[]> {
    const lags: PartitionLag[] = [];
    for (const group of [...this.groups.values()]) {
      if (group.ephemeral) continue;
      for (const name of new Set(group.members.flatMap((m) => m.topics))) {
        const topic = await this.topic(name);
        topic.partitions.forEach((log, partition) => {
          lags.push({
            group: group.name,
            topic: name,
            partition,
            lag: log.endOffset - resumeAt(group, name, partition, log),
          });
        });
      }
    }
    return lags;
  }

  /**
   * How long (ms) the oldest message of `topicName` that one of `groupNames` (those with a member here) has not
   * committed has waited; 0 when they are caught up.
   */
  async oldestPendingMs(topicName: string, groupNames: readonly string[], now = Date.now()): Promise<number> {
    const topic = await this.topic(topicName);
    let oldest = now;
    for (const name of groupNames) {
      const group = this.groups.get(name);
      if (!group?.members.some((m) => m.topics.includes(topicName))) continue;
      topic.partitions.forEach((log, partition) => {
        const committed = resumeAt(group, topicName, partition, log);
        if (committed >= log.endOffset) return;
        const first = log.read(committed, 1)[0];
        if (first && first.timestamp < oldest) oldest = first.timestamp;
      });
    }
    return Math.max(0, now - oldest);
  }

  async lag(groupName: string, topicName: string): Promise<number> {
    const topic = await this.topic(topicName);
    const group = this.group(groupName);
    return topic.partitions.reduce(
      (sum, log, p) => sum + log.endOffset - resumeAt(group, topicName, p, log),
      0,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.closed = true;
    clearTimeout(this.offsetsTimer);
    await this.offsetsSaving;
    this.saveOffsets();
    for (const topic of await Promise.all(this.topics.values())) {
      await Promise.all(topic.partitions.map((log) => log.close()));
    }
  }

  private async consumeLoop(
    group: Group,
    member: Member,
    topic: Topic,
    partition: number,
    log: PartitionLog,
    maxBatch: number,
    options: SubscribeOptions,
    isRunning: () => boolean,
    stopSignal: Signal,
  ): Promise<void> {
    const id = `${topic.name}/${partition}`;
    const lane = new PartitionLane(
      options.maxInFlightBatches ?? 1,
      async (next) => {
        group.committed.set(id, Number(next));
        this.scheduleOffsetSave();
        if (!topic.compacted) log.trimBelow(this.minCommitted(topic.name, partition));
      },
      (error) => this.options.onError?.(error, `group ${group.name} ${id}: offset commit failed`),
      () => log.appended.notify(),
      isRunning,
    );
    /** This member holds the partition (no other member reads it) from taking it until its handlers settled. */
    let holding = false;
    /** The next offset to hand over (read ahead of the commit while handlers run). */
    let position = 0;
    const release = async (): Promise<void> => {
      await lane.settled();
      // The next holder starts from the commit: a rewind pending here is moot.
      lane.reset();
      if (!holding) return;
      holding = false;
      group.busy.delete(id);
      group.changed.notify();
    };
    while (isRunning()) {
      if (this.ownerOf(group, topic.name, partition) !== member) {
        await release();
        await group.changed.wait(250);
        continue;
      }
      if (!holding) {
        if (group.busy.has(id)) {
          await group.changed.wait(250);
          continue;
        }
        group.busy.add(id);
        holding = true;
        position = group.committed.get(id) ?? log.startOffset;
      }
      if (lane.failure) {
        await lane.settled();
        // Read only now: a batch before the first one to fail may have failed since.
        const failure = lane.failure;
        this.options.onError?.(
          failure.error,
          `group ${group.name} ${id}: handler failed, batch will be redelivered`,
        );
        if (isRunning()) await stopSignal.wait(lane.retryDelayMs);
        lane.reset();
        position = Number(failure.offset);
        continue;
      }
      const records = log.read(position, maxBatch, MAX_BATCH_BYTES);
      if (records.length === 0) {
        // Woken by an append, or by a handler settling (a failure to act on).
        await log.appended.wait(1_000);
        continue;
      }
      const batch: Batch = {
        topic: topic.name,
        partition,
        delivery: lane.delivery,
        messages: records.map((r) => ({
          topic: topic.name,
          partition,
          offset: String(r.offset),
          key: r.key,
          value: r.value,
          headers: r.headers,
          timestamp: r.timestamp,
        })),
      };
      const last = records[records.length - 1]!.offset;
      const started = await lane.start(String(records[0]!.offset), String(last), () =>
        options.handler(batch),
      );
      if (started) position = last + 1;
    }
    await release();
  }

  /** Round-robin assignment of a group's partitions to its members, in join order (like Kafka's). */
  private ownerOf(group: Group, topicName: string, partition: number): Member | undefined {
    const members = group.members.filter((m) => m.topics.includes(topicName));
    return members[partition % Math.max(1, members.length)];
  }

  private minCommitted(topicName: string, partition: number): number {
    let min = Number.POSITIVE_INFINITY;
    for (const group of this.groups.values()) {
      const c = group.committed.get(`${topicName}/${partition}`);
      if (c !== undefined) min = Math.min(min, c);
    }
    return Number.isFinite(min) ? min : 0;
  }

  private group(name: string, ephemeral = false): Group {
    let group = this.groups.get(name);
    if (!group) {
      group = { name, ephemeral, members: [], committed: new Map(), busy: new Set(), changed: new Signal() };
      this.groups.set(name, group);
    }
    return group;
  }

  private topic(name: string, spec?: TopicSpec): Promise<Topic> {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = this.openTopic(name, spec);
      this.topics.set(name, topic);
    }
    return topic;
  }

  private async openTopic(name: string, spec?: TopicSpec): Promise<Topic> {
    const dir = this.options.dir ? join(this.options.dir, 'topics', name) : undefined;
    const metaPath = dir ? join(dir, 'topic.json') : undefined;
    let meta = {
      partitions: spec?.partitions ?? this.defaultPartitions,
      compacted: spec?.compacted ?? false,
    };
    if (metaPath && existsSync(metaPath)) meta = JSON.parse(readFileSync(metaPath, 'utf8')) as typeof meta;
    else if (dir && metaPath) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(metaPath, JSON.stringify(meta));
    }
    const partitions = await Promise.all(
      Array.from({ length: meta.partitions }, (_, p) =>
        PartitionLog.open(dir ? join(dir, `${p}.log`) : undefined, (records) =>
          meta.compacted ? compact(records) : records.filter((r) => r.offset >= this.minCommitted(name, p)),
        ),
      ),
    );
    return { name, compacted: meta.compacted, partitions };
  }

  private scheduleOffsetSave(): void {
    if (!this.options.dir) return;
    this.offsetsDirty = true;
    this.offsetsTimer ??= setTimeout(() => {
      this.offsetsTimer = undefined;
      this.saveOffsetsSoon();
    }, 100);
  }

  /**
   * Offsets are saved shortly after commits; after a crash a group may get a batch again (at-least-once). The
   * timer's saves write and rename on libuv's threads, not on the bus's own: in the embedded process that is the
   * enforce path's thread, where a synchronous write and rename took about 0.5 ms, ten times a second under
   * load. One save at a time; commits made meanwhile are saved by the next.
   */
  private saveOffsetsSoon(): void {
    if (this.offsetsSaving || !this.options.dir || !this.offsetsDirty) return;
    this.offsetsDirty = false;
    const path = join(this.options.dir, 'offsets.json');
    const text = this.offsetsJson();
    let failed = false;
    this.offsetsSaving = writeFile(`${path}.tmp`, text)
      .then(() => rename(`${path}.tmp`, path))
      .catch((error: unknown) => {
        // Saved again with the next commit, or at close (not retried in a loop while the disk refuses): until
        // then a restart redelivers a little more.
        failed = true;
        this.offsetsDirty = true;
        this.options.onError?.(error, "saving the consumer groups' offsets");
      })
      .finally(() => {
        this.offsetsSaving = undefined;
        // Commits made during the save are saved by the next one.
        if (this.offsetsDirty && !failed && !this.closed) this.scheduleOffsetSave();
      });
  }

  /** The last save, at close (after any save in flight): synchronous, so it is done when close resolves. */
  private saveOffsets(): void {
    if (!this.options.dir || !this.offsetsDirty) return;
    this.offsetsDirty = false;
    const path = join(this.options.dir, 'offsets.json');
    writeFileSync(`${path}.tmp`, this.offsetsJson());
    renameSync(`${path}.tmp`, path);
  }

  private offsetsJson(): string {
    const out: OffsetFile = {};
    for (const [name, group] of this.groups)
      if (!group.ephemeral) out[name] = Object.fromEntries(group.committed);
    return JSON.stringify(out);
  }

  private loadOffsets(): void {
    const path = join(this.options.dir!, 'offsets.json');
    if (!existsSync(path)) return;
    const saved = JSON.parse(readFileSync(path, 'utf8')) as OffsetFile;
    for (const [name, offsets] of Object.entries(saved)) {
      const group = this.group(name);
      for (const [id, offset] of Object.entries(offsets)) group.committed.set(id, offset);
    }
  }
}

/** Keeps the last record of each key, and drops keys whose last record is a tombstone. */
function compact(records: StoredRecord[]): StoredRecord[] {
  const last = new Map<string, StoredRecord>();
  for (const r of records) last.set(r.key, r);
  return [...last.values()].filter((r) => r.value !== null).sort((a, b) => a.offset - b.offset);
}
