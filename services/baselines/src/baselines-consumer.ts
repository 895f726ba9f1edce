import type { DirectiveRecord, FindingRecord } from '@thoth/contracts';
import { agentKey, directiveKey } from '@thoth/contracts';
import type { AvroCodec, Bus, Logger, OutgoingMessage, Subscription } from '@thoth/platform';
import {
  type Batch,
  baselinesDirectivesTotal,
  baselinesFindingsTotal,
  type DecodedRecord,
  subscribeRecords,
} from '@thoth/platform';
import {
  type AgentBaseline,
  alreadyApplied,
  analyzeCall,
  type BaselineSettings,
  markApplied,
  newBaseline,
} from './agent-baseline.ts';
import {
  agentId,
  type BaselineStore,
  insertFindings,
  loadBaselines,
  loadEscalatedBaselines,
  saveBaselines,
} from './baseline-store.ts';
import { directiveFor } from './escalation.ts';
import { callObservation } from './observations.ts';

export interface BaselinesDeps {
  bus: Bus;
  codec: AvroCodec;
  store: BaselineStore;
  eventsTopic: string;
  directivesTopic: string;
  log: Logger;
  settings: BaselineSettings;
  group?: string;
  maxBatchSize?: number;
  /** How often escalations are checked for decay (a lower level or a tombstone to publish). */
  decayCheckMs?: number;
  /** Agents kept in memory; past it the least recently seen ones are dropped (they are persisted). */
  maxAgentsInMemory?: number;
  /** The agents' states are saved at most this often under a steady stream (default 250 ms; see saveFor). */
  saveIntervalMs?: number;
}

/** Batches of a partition in the handler at once: they apply one after the other and share a state save. */
const MAX_IN_FLIGHT_BATCHES = 8;

/**
 * The baselines consumer (own group): learns every agent's normal from the events topic, runs the detectors
 * on each call, records findings (findings table + finding events on the events topic, which the audit
 * writer chains), and publishes each agent's escalation on the compacted directives topic, where the enforce
 * API picks it up.
 *
 * At-least-once and idempotent: a batch's directives, findings and agent states are stored before its
 * offsets commit; states are loaded from ClickHouse on an agent's first event after a start, and a
 * redelivered record (at or below the agent's last applied bus position, or an event id it applied recently)
 * is not learned twice. Batches and the decay timer run one at a time.
 *
 * A batch's findings and directives go out as soon as it is applied; the agents' states are saved for several
 * batches at once (every `saveIntervalMs`, or at the end of a batch when the batches waiting hold a full batch of
 * records or are as many as the bus hands over at once), and each batch is committed only once a save that
 * includes it is stored. Each insert costs the store about as much as a few hundred rows, whatever its size: a
 * save per batch, under a steady stream of small batches, cost the embedded product about a tenth of its CPU.
 */
export class BaselinesConsumer {
  private subscription: Subscription | undefined;
  private readonly baselines = new Map<string, AgentBaseline>();
  private exclusive: Promise<unknown> = Promise.resolve();
  private decayTimer: NodeJS.Timeout | undefined;
  /** Agents applied since the last save was taken (their effects are out; their state is not stored yet). */
  private readonly unsaved = new Map<string, AgentBaseline>();
  /** The save the batches applied since then wait for; undefined until one of them asks for it. */
  private nextSave: PendingSave | undefined;
  private lastSaveAt = Number.NEGATIVE_INFINITY;
  /** A batch failed to apply after the pending save's batches changed state in memory: that save must fail too. */
  private poisoned: { error: unknown } | undefined;
  /**
   * Per partition (`topic/partition`), where the earliest batch that failed (to apply or to be saved) starts,
   * and its delivery: the bus delivers it and every batch after it again, as a new delivery. Batches of the same
   * delivery after it (handed over before the bus saw the failure) are refused: applied now, on the state its
   * failure left, they would record themselves (and, by their position, the failed records) as applied.
   */
  private readonly rewinding = new Map<string, BatchStart>();
  findingsRecorded = 0;
  directivesPublished = 0;

  constructor(private readonly deps: BaselinesDeps) {}

  /** The consumer group's default name: after the topic (which carries THOTH_TOPIC_PREFIX). */
  static group(eventsTopic: string): string {
    return `${eventsTopic}.baselines`;
  }

  async start(): Promise<void> {
    for (const b of await loadEscalatedBaselines(this.deps.store))
      this.baselines.set(agentId(b.tenant_id, b.agent_id), b);
    this.subscription = await subscribeRecords({
      bus: this.deps.bus,
      codec: this.deps.codec,
      group: this.deps.group ?? BaselinesConsumer.group(this.deps.eventsTopic),
      topics: [this.deps.eventsTopic],
      maxBatchSize: this.maxBatchSize,
      maxInFlightBatches: MAX_IN_FLIGHT_BATCHES,
      handler: async (records, batch) => {
        const { saved } = await this.serially(() => this.handle(records, batchStart(batch)));
        await saved;
        return [];
      },
      onDeadLetter: (letter) =>
        this.deps.log.warn({ reason: letter.reason, offset: letter.message.offset }, 'event sent to DLQ'),
    });
    this.decayTimer = setInterval(() => {
      void this.serially(() => this.decay(Date.now())).catch((error: unknown) =>
        this.deps.log.error({ err: error }, 'baseline decay check failed; retried at the next tick'),
      );
    }, this.deps.decayCheckMs ?? 1_000);
  }

  /** Stops consuming (the in-flight batch is stored and committed first) and the decay timer. */
  async stop(): Promise<void> {
    clearInterval(this.decayTimer);
    await this.subscription?.stop();
    this.subscription = undefined;
    await this.exclusive.catch(() => undefined);
  }

  /** The in-memory state of an agent (tests and the benchmark look at it). */
  baselineOf(tenantId: string, agent: string): AgentBaseline | undefined {
    return this.baselines.get(agentId(tenantId, agent));
  }

  private get maxBatchSize(): number {
    return this.deps.maxBatchSize ?? 2_000;
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(work, work);
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  private async handle(records: DecodedRecord[], start: BatchStart): Promise<{ saved?: Promise<void> }> {
    const failed = this.rewinding.get(start.partition);
    if (failed) {
      // A bus that stamps no delivery token leaves the offset alone to tell the redelivery.
      const unstamped = start.delivery === undefined;
      if ((unstamped || start.delivery === failed.delivery) && start.offset > failed.offset)
        throw new Error(`a batch before offset ${start.offset} failed: delivered again after it`);
      if (unstamped || start.delivery !== failed.delivery) this.rewinding.delete(start.partition); // delivered anew
    }
    let states: AgentBaseline[];
    try {
      await this.loadMissing(records);
      states = await this.apply(records);
    } catch (error) {
      // The batch changed these agents' state in memory (and marked its records applied) before failing to
      // publish or save: forget them, so the redelivered batch starts again from their saved state instead of
      // skipping records whose findings and directives never went out.
      for (const record of records) {
        const value = record.value as { tenant_id?: string; agent_id?: string };
        if (value.tenant_id && value.agent_id)
          this.baselines.delete(agentId(value.tenant_id, value.agent_id));
      }
      // Batches before this one changed (in memory) agents it may have changed too: their pending save would
      // record this batch's records as applied. It fails instead, and they are all delivered again.
      if (this.nextSave) this.poisoned = { error };
      this.rewindFrom([start]);
      throw error;
    }
    if (states.length === 0) return {};
    const save = this.saveFor(states, records.length, start);
    // Only now: an agent is not forgotten before it is in `unsaved` (where forgetLeastRecent leaves it).
    this.forgetLeastRecent();
    if (save.batches >= MAX_IN_FLIGHT_BATCHES || save.records >= this.maxBatchSize) await this.saveNow(save);
    return { saved: save.done };
  }

  /** Refuses the batches of the same delivery after these (already handed over). */
  private rewindFrom(starts: Iterable<BatchStart>): void {
    for (const start of starts) {
      const known = this.rewinding.get(start.partition);
      if (!known || known.delivery !== start.delivery || start.offset < known.offset)
        this.rewinding.set(start.partition, start);
    }
  }

  /** Applies the records; answers the agents whose state changed (to be saved before the batch commits). */
  private async apply(records: DecodedRecord[]): Promise<AgentBaseline[]> {
    const findings: FindingRecord[] = [];
    const touched = new Map<string, { baseline: AgentBaseline; escalated: boolean; atMs: number }>();
    for (const record of records) {
      const value = record.value as { tenant_id?: string; agent_id?: string };
      if (!value.tenant_id || !value.agent_id) continue;
      const key = agentId(value.tenant_id, value.agent_id);
      const known = this.baselines.get(key);
      const call = callObservation(record, known?.enforces ?? false);
      if (!call) continue;
      const at = { ...record.message, index: record.index };
      if (known && alreadyApplied(known, at)) continue;
      const baseline = known ?? newBaseline(call.tenantId, call.agentId, call.atMs);
      // Re-inserted: the map's order is least recently seen first.
      this.baselines.delete(key);
      this.baselines.set(key, baseline);
      const analysis = analyzeCall(baseline, call, this.deps.settings);
      markApplied(baseline, at);
      findings.push(...analysis.findings);
      const seen = touched.get(key);
      touched.set(key, {
        baseline,
        escalated: (seen?.escalated ?? false) || analysis.escalated,
        atMs: Math.max(seen?.atMs ?? 0, call.atMs),
      });
    }
    if (touched.size === 0) return [];
    const directives: OutgoingMessage[] = [];
    for (const { baseline, escalated, atMs } of touched.values()) {
      const message = escalated ? this.directiveChange(baseline, atMs) : undefined;
      if (message) directives.push(message);
    }
    // Directives first: they are what the enforce API waits for.
    if (directives.length > 0) await this.deps.bus.publish(this.deps.directivesTopic, directives);
    const states = [...touched.values()].map(({ baseline }) => {
      baseline.version += 1;
      return baseline;
    });
    await Promise.all([
      findings.length > 0 ? insertFindings(this.deps.store, findings) : undefined,
      findings.length > 0
        ? this.deps.bus.publish(
            this.deps.eventsTopic,
            findings.map((f) =>
              this.deps.codec.encode('thoth.v1.Finding', agentKey(f.tenant_id, f.agent_id), f),
            ),
          )
        : undefined,
    ]);
    this.findingsRecorded += findings.length;
    this.directivesPublished += directives.length;
    baselinesFindingsTotal.inc(findings.length);
    baselinesDirectivesTotal.inc(directives.length);
    // The state last (saveFor): it records these records as applied, so it must not be saved unless everything
    // they caused (directive, findings) is out — else a redelivery would skip them.
    return states;
  }

  /**
   * Called at the end of an apply, in the exclusive section: the save that will include `states`. It runs in the
   * exclusive section too (so no batch is half applied): at the end of this apply when the batches waiting for
   * it hold a full batch of records (a backlog: each batch saves, as each insert is large) or are as many as the
   * bus hands over at once (handle); else `saveIntervalMs` after the last save.
   */
  private saveFor(states: AgentBaseline[], records: number, start: BatchStart): PendingSave {
    for (const baseline of states) this.unsaved.set(agentId(baseline.tenant_id, baseline.agent_id), baseline);
    let save = this.nextSave;
    if (!save) {
      let settle!: (failure?: { error: unknown }) => void;
      const done = new Promise<void>((resolve, reject) => {
        settle = (failure) => (failure ? reject(failure.error) : resolve());
      });
      // Every batch that joins it awaits it; a failure may settle it before the first of them does.
      done.catch(() => undefined);
      const wait = Math.max(0, this.lastSaveAt + (this.deps.saveIntervalMs ?? 250) - performance.now());
      const pending: PendingSave = {
        done,
        settle,
        batches: 0,
        records: 0,
        starts: new Map(),
        timer: undefined,
      };
      pending.timer = setTimeout(() => void this.serially(() => this.saveNow(pending)), wait);
      this.nextSave = save = pending;
    }
    save.batches += 1;
    save.records += records;
    if (!save.starts.has(start.partition)) save.starts.set(start.partition, start);
    return save;
  }

  /** Stores the states `save` covers and settles it (a failure reaches the batches through `save.done`). */
  private async saveNow(save: PendingSave): Promise<void> {
    if (this.nextSave !== save) return; // saved already
    clearTimeout(save.timer);
    this.nextSave = undefined; // batches applied from now on wait for the next save
    this.lastSaveAt = performance.now();
    const states = [...this.unsaved.values()];
    this.unsaved.clear();
    const poisoned = this.poisoned;
    this.poisoned = undefined;
    try {
      if (poisoned) throw poisoned.error;
      await saveBaselines(this.deps.store, states, Date.now());
      save.settle();
    } catch (error) {
      // Their batches are delivered again: those agents start again from their saved state, and the batches
      // after them wait for them.
      for (const b of states) this.baselines.delete(agentId(b.tenant_id, b.agent_id));
      this.rewindFrom(save.starts.values());
      save.settle({ error });
    }
  }

  /** Loads the saved state of agents this batch is about that are not in memory. */
  private async loadMissing(records: DecodedRecord[]): Promise<void> {
    const missing = new Set<string>();
    for (const record of records) {
      const value = record.value as { tenant_id?: string; agent_id?: string };
      if (!value.tenant_id || !value.agent_id) continue;
      const key = agentId(value.tenant_id, value.agent_id);
      if (!this.baselines.has(key)) missing.add(key);
    }
    for (const b of await loadBaselines(this.deps.store, [...missing]))
      this.baselines.set(agentId(b.tenant_id, b.agent_id), b);
  }

  /** The directive (or tombstone) to publish when the agent's escalation differs from what was published. */
  private directiveChange(baseline: AgentBaseline, nowMs: number): OutgoingMessage | undefined {
    const directive = directiveFor(
      baseline.tenant_id,
      baseline.agent_id,
      baseline.escalation,
      nowMs,
      this.deps.settings.escalation,
    );
    const level = directive?.level ?? null;
    const ids = directive?.finding_ids ?? [];
    const sameIds =
      ids.length === baseline.published_finding_ids.length &&
      ids.every((id, i) => id === baseline.published_finding_ids[i]);
    if (level === baseline.published_level && (level === null || sameIds)) return undefined;
    baseline.published_level = level;
    baseline.published_finding_ids = ids;
    return this.directiveMessage(baseline, directive);
  }

  private directiveMessage(baseline: AgentBaseline, directive: DirectiveRecord | undefined): OutgoingMessage {
    const key = directiveKey({
      tenant_id: baseline.tenant_id,
      agent_id: baseline.agent_id,
      session_id: null,
      tool_name: null,
    });
    return directive ? this.deps.codec.encode('thoth.v1.Directive', key, directive) : { key, value: null };
  }

  /** Publishes the lower level (or the tombstone) of escalations that decayed. */
  private async decay(nowMs: number): Promise<void> {
    const changed: AgentBaseline[] = [];
    const previous: Array<Pick<AgentBaseline, 'published_level' | 'published_finding_ids' | 'version'>> = [];
    const messages: OutgoingMessage[] = [];
    for (const baseline of this.baselines.values()) {
      if (baseline.published_level === null) continue;
      const directive = directiveFor(
        baseline.tenant_id,
        baseline.agent_id,
        baseline.escalation,
        nowMs,
        this.deps.settings.escalation,
      );
      if ((directive?.level ?? null) === baseline.published_level) continue;
      previous.push({
        published_level: baseline.published_level,
        published_finding_ids: baseline.published_finding_ids,
        version: baseline.version,
      });
      baseline.published_level = directive?.level ?? null;
      baseline.published_finding_ids = directive?.finding_ids ?? [];
      baseline.version += 1;
      changed.push(baseline);
      messages.push(this.directiveMessage(baseline, directive));
    }
    if (messages.length === 0) return;
    try {
      await this.deps.bus.publish(this.deps.directivesTopic, messages);
      await saveBaselines(this.deps.store, changed, nowMs);
    } catch (error) {
      // Back to what was published (and saved), so the next tick tries the change again.
      previous.forEach((p, i) => {
        Object.assign(changed[i]!, p);
      });
      throw error;
    }
    this.directivesPublished += messages.length;
  }

  private forgetLeastRecent(): void {
    const max = this.deps.maxAgentsInMemory ?? 100_000;
    for (const [key, baseline] of this.baselines) {
      if (this.baselines.size <= max) break;
      // An agent waiting for its save stays: loaded again meanwhile, it would miss what was applied.
      if (baseline.published_level === null && !this.unsaved.has(key)) this.baselines.delete(key);
    }
  }
}

/** Where a batch starts: its partition (`topic/partition`), delivery (Batch.delivery) and first offset. */
interface BatchStart {
  partition: string;
  delivery: string | undefined;
  offset: bigint;
}

function batchStart(batch: Batch): BatchStart {
  const first = batch.messages[0];
  if (!first) throw new Error('a batch without messages'); // the bus hands over none
  return {
    partition: `${batch.topic}/${batch.partition}`,
    delivery: batch.delivery,
    offset: BigInt(first.offset),
  };
}

interface PendingSave {
  /** Settles once the save is stored (or failed). */
  done: Promise<void>;
  settle: (failure?: { error: unknown }) => void;
  /** Where the first batch waiting for it starts, by partition. */
  starts: Map<string, BatchStart>;
  timer: NodeJS.Timeout | undefined;
  /** Batches waiting for it, and their records. */
  batches: number;
  records: number;
}
