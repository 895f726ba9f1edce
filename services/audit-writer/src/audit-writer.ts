import { agentChainKey, type ChainHead, ulid } from '@thoth/contracts';
import type { AvroCodec, Bus, Logger, Redactor, SigningKey, Subscription } from '@thoth/platform';
import {
  auditFlushDurationSeconds,
  auditFlushFailuresTotal,
  auditFlushRowsTotal,
  chainCheckpointsTotal,
  clickhouseTime,
  type DeadLetter,
  type DecodedRecord,
  subscribeRecords,
} from '@thoth/platform';
import { type AgentSpan, type AuditStore, storedState, TenantEventIds } from './audit-store.ts';
import { BatchingInserter } from './batching-inserter.ts';
import {
  adminEventRow,
  approvalEventRow,
  behavioralEventRow,
  decisionEventRow,
  type EventRow,
  findingEventRow,
} from './event-rows.ts';
import { EVENTS_BODY_FORMAT, EventsBodyWriter } from './events-body.ts';

export interface AuditWriterDeps {
  bus: Bus;
  codec: AvroCodec;
  store: AuditStore;
  eventsTopic: string;
  log: Logger;
  group?: string;
  maxBatchSize?: number;
  /** One insert gathers rows until this many, or until `flushMs` passed. */
  flushRows?: number;
  flushMs?: number;
  /** Signs the tenants' chain heads every `checkpointIntervalMs` (no checkpoints without a key); its public
   * half is published on `controlTopic`, where every API replica learns it. */
  signingKey?: SigningKey;
  controlTopic?: string;
  checkpointIntervalMs?: number;
  /** Redacts behavioral events that reached the topic without the API's redaction (record-redaction.ts). */
  redactor?: Redactor;
}

/**
 * Writes every event and decision of the events topic into the audit trail (`events`), each linked into its
 * agent's evidence chain. At-least-once: the bus commits a batch only after its rows are stored. Idempotent:
 * an event already stored (same tenant and event_id) is skipped, so a redelivered event gets neither a second
 * row nor a second link; another tenant's event with the same id is another event.
 * One agent's events are on one partition, delivered in order and stored flush after flush in that order, which
 * keeps each chain sequential. Flushes are pipelined: the bus hands over a partition's next batch while the last
 * one is stored (two in flight), and the next flush is prepared (looked up, linked, encoded) meanwhile.
 */
export class AuditWriter {
  private subscription: Subscription | undefined;
  private readonly inserter: BatchingInserter<EventRow, PreparedFlush>;
  private readonly touchedTenants = new Set<string>();
  /** Chain heads this writer stored (a hint: every batch still asks the store for anything past them). */
  private readonly heads = new Map<string, ChainHead>();
  /**
   * What the flushes prepared but not stored yet will add: the next flush links on from their heads and skips
   * their events. Forgotten when a flush fails (every flush behind it is dropped, see BatchingInserter).
   */
  private readonly projectedHeads = new Map<string, ChainHead>();
  /** The events of each flush prepared but not stored yet (one set a flush: a stored flush drops its set whole). */
  private unstoredFlushes: TenantEventIds[] = [];
  /** Bumped by every reset: a prepare that was running across one does not project its flush. */
  private generation = 0;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: AuditWriterDeps) {
    // Partition batches meet in one flush: one lookup (stored ids, chain heads) and one insert for all of
    // them, instead of two lookups per partition batch queuing on the store in front of the inserts. Under
    // load, a flush gathers what arrives while the one before it is stored; the wait only matters at low load,
    // where a longer one only adds to every event's latency.
    this.inserter = new BatchingInserter<EventRow, PreparedFlush>(
      {
        prepare: (rows) => this.prepare(rows),
        store: (flush) => this.store(flush),
        reset: () => {
          this.generation++;
          this.projectedHeads.clear();
          this.unstoredFlushes = [];
        },
      },
      deps.flushRows ?? 20_000,
      deps.flushMs ?? 20,
    );
  }

  async start(): Promise<void> {
    this.subscription = await subscribeRecords({
      bus: this.deps.bus,
      codec: this.deps.codec,
      // Named after the topic (which carries THOTH_TOPIC_PREFIX), so deployments sharing a broker never mix.
      group: this.deps.group ?? `${this.deps.eventsTopic}.audit-writer`,
      topics: [this.deps.eventsTopic],
      // No partition batch larger than one flush: a batch is stored (and committed) in one piece.
      maxBatchSize: this.deps.maxBatchSize ?? Math.min(5_000, this.deps.flushRows ?? 20_000),
      // The next batches arrive while the last ones are stored: they are prepared meanwhile (BatchingInserter).
      maxInFlightBatches: 2,
      redactor: this.deps.redactor,
      handler: (records) => this.write(records),
      onDeadLetter: (letter) =>
        this.deps.log.warn({ reason: letter.reason, offset: letter.message.offset }, 'event sent to DLQ'),
    });
    if (this.deps.signingKey && this.deps.controlTopic) {
      const key = this.deps.signingKey;
      await this.deps.bus.publish(this.deps.controlTopic, [
        this.deps.codec.encode('thoth.v1.ReceiptKey', `receipt-key/${key.keyId}`, {
          key_id: key.keyId,
          public_key_pem: key.publicKeyPem,
          created_at: Date.now(),
        }),
      ]);
    }
    if (this.deps.signingKey) {
      const every = this.deps.checkpointIntervalMs ?? 60_000;
      this.checkpointTimer = setInterval(() => {
        this.checkpointing = this.checkpointing
          .then(async () => void (await this.checkpoint()))
          .catch((error: unknown) => {
            this.deps.log.error({ err: error }, 'checkpoint failed; will retry at the next interval');
          });
      }, every);
    }
  }

  /** Stops consuming; the in-flight batches are stored and committed first; a last checkpoint is signed. */
  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = undefined;
    clearInterval(this.checkpointTimer);
    await this.checkpointing;
    if (this.deps.signingKey) await this.checkpoint().catch(() => undefined);
  }

  private async write(records: DecodedRecord[]): Promise<DeadLetter[]> {
    const rows: EventRow[] = [];
    const dead: DeadLetter[] = [];
    for (const record of records) {
      let row: EventRow;
      if (record.schema === 'thoth.v1.BehavioralEvent') row = behavioralEventRow(record.value);
      else if (record.schema === 'thoth.v1.DecisionEvent') row = decisionEventRow(record.value);
      else if (record.schema === 'thoth.v1.Hold') row = approvalEventRow(record.value);
      else if (record.schema === 'thoth.v1.AdminEvent') row = adminEventRow(record.value);
      else if (record.schema === 'thoth.v1.Finding') row = findingEventRow(record.value);
      else {
        dead.push({ message: record.message, reason: `unexpected ${record.schema} on the events topic` });
        continue;
      }
      // A row the store refuses would fail its whole flush, redelivered forever: its partition would stall.
      const unstorable = unstorableTime(row);
      if (unstorable) dead.push({ message: record.message, reason: unstorable });
      else rows.push(row);
    }
    await this.inserter.add(rows);
    return dead;
  }

  /**
   * Dedups and links one flush into the chains, continuing from the stored heads, or from the heads of the flush
   * still being stored before it (as if stored: if that one fails, this one is dropped with it). Rows arrive in
   * partition order and one agent lives on one partition, so each chain is linked in its events' order.
   */
  private async prepare(rows: EventRow[]): Promise<PreparedFlush> {
    const generation = this.generation;
    const seen = new TenantEventIds();
    const candidates: EventRow[] = [];
    for (const row of rows) {
      if (!this.unstored(row.tenant_id, row.event_id) && seen.add(row.tenant_id, row.event_id))
        candidates.push(row);
    }
    if (candidates.length === 0) return { chunks: [], heads: new Map(), rows: 0, events: seen, tenants: [] };
    const tenants = [...new Set(candidates.map((r) => r.tenant_id))];
    const spans = new Map<string, AgentSpan>();
    for (const r of candidates) {
      const key = agentChainKey(r.tenant_id, r.agent_id);
      const span = spans.get(key) ?? {
        tenantId: r.tenant_id,
        agentId: r.agent_id,
        fromMs: r.occurred_at_ms,
        toMs: r.occurred_at_ms,
      };
      span.fromMs = Math.min(span.fromMs, r.occurred_at_ms);
      span.toMs = Math.max(span.toMs, r.occurred_at_ms);
      spans.set(key, span);
    }
    const cache = new Map<string, ChainHead>();
    for (const key of spans.keys()) {
      const head = this.projectedHeads.get(key) ?? this.heads.get(key);
      if (head) cache.set(key, head);
    }
    const lookup = storedState(this.deps.store, [...spans.values()], candidates, cache);
    // Awaited below; a rejection during the build must not count as unhandled meanwhile.
    lookup.catch(() => {});
    // While chDB answers the lookup, build the insert on the heads this writer already knows. In steady state
    // the lookup changes nothing (no event stored before, no head moved by another writer) and that build is
    // the one stored; otherwise it is discarded and built again from its answer. One yield first, so the
    // query is on its way to chDB before the build takes the event loop.
    let built: BuiltInsert | undefined;
    if (cache.size === spans.size) {
      await new Promise((resolve) => setImmediate(resolve));
      built = buildInsert(candidates, NOTHING_STORED, new Map(cache));
    }
    const stored = await lookup;
    const moved = [...cache.keys()].filter((key) => !sameHead(stored.heads.get(key), cache.get(key)));
    // Another writer linked onto a chain whose flush of ours is not stored yet (a rebalance in progress):
    // linking on from the store would fork it. Fail: this flush and those behind it come again.
    if (moved.some((key) => this.projectedHeads.has(key)))
      throw new Error('an evidence chain moved under a flush not yet stored; the batch will be redelivered');
    if (!built || !stored.events.empty || moved.length > 0)
      built = buildInsert(candidates, stored.events, stored.heads);
    if (generation === this.generation) {
      for (const [key, head] of built.heads) this.projectedHeads.set(key, head);
      // Events of this flush the store held already stay in its set: skipping them again is right too.
      this.unstoredFlushes.push(seen);
    }
    return { ...built, events: seen, tenants };
  }

  /** Whether a flush prepared but not stored yet holds this event. */
  private unstored(tenantId: string, eventId: string): boolean {
    for (let i = 0; i < this.unstoredFlushes.length; i++)
      if (this.unstoredFlushes[i]!.has(tenantId, eventId)) return true;
    return false;
  }

  private async store(flush: PreparedFlush): Promise<void> {
    const flushTimer = auditFlushDurationSeconds.startTimer();
    await this.deps.store
      .insertBody('events', flush.chunks, EVENTS_INSERT_SETTINGS, EVENTS_BODY_FORMAT)
      .catch((error: unknown) => {
        auditFlushFailuresTotal.inc();
        throw error;
      });
    flushTimer();
    auditFlushRowsTotal.inc(flush.rows);
    // Only stored links advance the cache: a failed insert leaves it as it was, and the next flush re-checks
    // the store for anything past it anyway.
    for (const [key, head] of flush.heads) {
      this.heads.set(key, head);
      // A flush prepared behind this one may have projected a later head already: keep that one.
      if (this.projectedHeads.get(key) === head) this.projectedHeads.delete(key);
    }
    this.unstoredFlushes = this.unstoredFlushes.filter((ids) => ids !== flush.events);
    for (const t of flush.tenants) this.touchedTenants.add(t);
  }

  /** Signs the chain heads of every tenant written since the last checkpoint. */
  async checkpoint(): Promise<number> {
    const key = this.deps.signingKey;
    if (!key || this.touchedTenants.size === 0) return 0;
    const tenants = [...this.touchedTenants];
    this.touchedTenants.clear();
    const rows: Array<Record<string, unknown>> = [];
    for (const tenantId of tenants) {
      // Aliases differ from the column names: `max(chain_index) AS chain_index` would nest inside argMax.
      const heads = await this.deps.store.select<{
        agent_id: string;
        head_index: number | string;
        head_hash: string;
      }>(
        `SELECT agent_id, max(chain_index) AS head_index, argMax(hash, chain_index) AS head_hash
         FROM events WHERE tenant_id = {tenant:String} GROUP BY agent_id ORDER BY agent_id`,
        { tenant: tenantId },
      );
      const now = Date.now();
      const body = {
        checkpoint_id: `chk_${ulid(now)}`,
        tenant_id: tenantId,
        created_at: new Date(now).toISOString(),
        heads: heads.map((h) => ({
          agent_id: h.agent_id,
          chain_index: Number(h.head_index),
          hash: h.head_hash,
        })),
      };
      const signed = key.sign(body);
      rows.push({
        tenant_id: tenantId,
        checkpoint_id: body.checkpoint_id,
        created_at: clickhouseTime(now),
        heads: JSON.stringify(body.heads),
        signature: signed.signature,
        key_id: signed.key_id,
      });
    }
    await this.deps.store.insertRows('chain_checkpoints', rows);
    chainCheckpointsTotal.inc(rows.length);
    return rows.length;
  }
}

interface BuiltInsert {
  chunks: Buffer[];
  /** The chain heads after these rows. */
  heads: Map<string, ChainHead>;
  /** How many rows the chunks hold. */
  rows: number;
}

interface PreparedFlush extends BuiltInsert {
  /** The flush's events, stored before or by this insert. */
  events: TenantEventIds;
  tenants: string[];
}

const NOTHING_STORED = new TenantEventIds();

/**
 * The engine's work on a flush's insert runs in the writer's process (chDB), so its settings are the cheapest
 * measured (about 15% less CPU a row than the defaults):
 * - every time in these rows is clickhouseTime()'s fixed form, which the basic parser reads fastest;
 * - one parser thread: splitting a flush's body across threads costs more CPU than it saves time here;
 * - no merge of the inserted block with itself (ReplacingMergeTree's dedup): the writer inserts no duplicate.
 */
const EVENTS_INSERT_SETTINGS = {
  date_time_input_format: 'basic',
  input_format_parallel_parsing: 0,
  optimize_on_insert: 0,
} as const;

/** The rows not `stored` yet, linked on from `heads` (which it advances: pass a map of your own), as one body. */
function buildInsert(
  rows: readonly EventRow[],
  stored: TenantEventIds,
  heads: Map<string, ChainHead>,
): BuiltInsert {
  const body = new EventsBodyWriter(rows.length);
  let written = 0;
  for (const row of rows) {
    if (stored.has(row.tenant_id, row.event_id)) continue;
    body.append(row, heads);
    written++;
  }
  return { chunks: written > 0 ? [body.body()] : [], heads, rows: written };
}

function sameHead(a: ChainHead | undefined, b: ChainHead | undefined): boolean {
  return a !== undefined && b !== undefined && a.chainIndex === b.chainIndex && a.hash === b.hash;
}

/**
 * Times the trail stores (and ingest accepts): 1970-01-01 … 9999-12-31 UTC. Events that reached the topic without
 * ingest's check (an SDK's Kafka transport) may carry others, which `clickhouseTime` cannot write (year 10000
 * has five digits) or the exports cannot carry.
 */
const FIRST_STORABLE_MS = 0;
const LAST_STORABLE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Why a row's times cannot be stored, or undefined. */
function unstorableTime(row: EventRow): string | undefined {
  for (const [field, ms] of [
    ['occurred_at', row.occurred_at_ms],
    ['ingested_at', row.ingested_at_ms],
  ] as const) {
    if (Number.isFinite(ms) && ms >= FIRST_STORABLE_MS && ms <= LAST_STORABLE_MS) continue;
    const shown = Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
    return `${field} ${shown} is outside 1970-01-01 … 9999-12-31, the times the audit trail stores`;
  }
  return undefined;
}
