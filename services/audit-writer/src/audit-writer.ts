import { agentChainKey, type ChainFieldsJson, type ChainHead, chainFieldsJson, ulid } from '@thoth/contracts';
import type {
  AvroCodec,
  Bus,
  IncomingMessage,
  Logger,
  Redactor,
  SigningKey,
  Subscription,
} from '@thoth/platform';
import {
  auditFlushDurationSeconds,
  auditFlushFailuresTotal,
  auditFlushRowsTotal,
  chainCheckpointsTotal,
  clickhouseTime,
  type DeadLetter,
  type DecodedRecord,
  decodeRecords,
  subscribeRecordStream,
} from '@thoth/platform';
import {
  type AgentSpan,
  type AuditStore,
  type EventIdentity,
  EventOwners,
  storedState,
  TenantEventIds,
} from './audit-store.ts';
import { BatchingInserter } from './batching-inserter.ts';
import {
  adminEventRow,
  approvalEventRow,
  behavioralEventRow,
  decisionEventRow,
  type EventRow,
  findingEventRow,
} from './event-rows.ts';
import { BODY_BYTES_PER_ROW, BodyBuffers, EVENTS_BODY_FORMAT, EventsBodyWriter } from './events-body.ts';

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
  /** Flushes cut by time start at least this far apart (BatchingInserter's minIntervalMs). Default 0. */
  flushIntervalMs?: number;
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
 * one is stored (two in flight), and the next flush is prepared (looked up, checked) meanwhile.
 *
 * Rows are linked and encoded as they arrive, on top of every row before them (stored or not), into their flush's
 * body: a row is garbage as soon as its line is written, instead of living (and being moved by the garbage
 * collector) until its flush is prepared. The lookup before the insert then only confirms that nothing moved: in
 * steady state no event of the flush is stored yet and no other writer linked onto its agents. When something
 * did move (a redelivery, a rebalance), the flush is built again from its messages on what the store holds.
 */
export class AuditWriter {
  private subscription: Subscription | undefined;
  private readonly inserter: BatchingInserter<GatheringFlush, PreparedFlush>;
  private readonly bodies: BodyBuffers;
  private readonly touchedTenants = new Set<string>();
  /** Chain heads this writer stored (a hint: every batch still asks the store for anything past them). */
  private readonly heads = new Map<string, ChainHead>();
  /**
   * What the flushes prepared but not stored yet will add: the next flush links on from their heads. Forgotten
   * when a flush fails (every flush behind it is dropped, see BatchingInserter).
   */
  private readonly projectedHeads = new Map<string, ChainHead>();
  /**
   * The chain heads after every row linked so far, stored, prepared or gathering: an arriving row links on from
   * here. An agent is missing while its head is not known (its first flush after a start or a failure, or after a
   * lookup moved it): its rows then wait, unlinked, until the flush before them is prepared.
   */
  private readonly arrivalHeads = new Map<string, ChainHead>();
  /** Flushes gathering, prepared or being stored, oldest first. */
  private openFlushes: GatheringFlush[] = [];
  /** The events those flushes hold, each by the flush that holds it: an arriving copy of one is skipped. */
  private readonly unstoredEvents = new EventOwners<GatheringFlush>();
  private flushSeq = 0;
  /** Bumped by every reset: a prepare that was running across one does not project its flush. */
  private generation = 0;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: AuditWriterDeps) {
    // A flush ends at the first batch that reaches flushRows, and batches hold thousands of rows (a partition's
    // fetch): flushes of half as many again are common. Pages of a buffer never written cost nothing.
    this.bodies = new BodyBuffers(2 * this.flushRows * BODY_BYTES_PER_ROW);
    // Partition batches meet in one flush: one lookup (stored ids, chain heads) and one insert for all of
    // them, instead of two lookups per partition batch queuing on the store in front of the inserts. Under
    // load, a flush gathers what arrives while the one before it is stored; the wait only matters at low load,
    // where a longer one only adds to every event's latency.
    this.inserter = new BatchingInserter<GatheringFlush, PreparedFlush>(
      {
        open: () => {
          const flush = new GatheringFlush(++this.flushSeq, new EventsBodyWriter(this.bodies.take()));
          this.openFlushes.push(flush);
          return flush;
        },
        prepare: (flush) => this.prepare(flush),
        store: (flush) => this.store(flush),
        reset: () => {
          this.generation++;
          this.projectedHeads.clear();
          this.arrivalHeads.clear();
          // Their body buffers are not given back: a prepare running across the reset may still write into one.
          this.openFlushes = [];
          this.unstoredEvents.clear();
        },
      },
      this.flushRows,
      deps.flushMs ?? 20,
      deps.flushIntervalMs ?? 0,
    );
  }

  private get flushRows(): number {
    return this.deps.flushRows ?? 20_000;
  }

  private get maxBatchSize(): number {
    return this.deps.maxBatchSize ?? Math.min(5_000, this.flushRows);
  }

  /** The consumer group's default name: after the topic (which carries THOTH_TOPIC_PREFIX). */
  static group(eventsTopic: string): string {
    return `${eventsTopic}.audit-writer`;
  }

  async start(): Promise<void> {
    this.subscription = await subscribeRecordStream({
      bus: this.deps.bus,
      codec: this.deps.codec,
      // Named after the topic (which carries THOTH_TOPIC_PREFIX), so deployments sharing a broker never mix.
      group: this.deps.group ?? AuditWriter.group(this.deps.eventsTopic),
      topics: [this.deps.eventsTopic],
      // No partition batch larger than one flush: a batch is stored (and committed) in one piece.
      maxBatchSize: this.maxBatchSize,
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

  /** Records arrive decoded a message at a time (subscribeRecordStream): each is encoded, then garbage. */
  private async write(records: Iterable<DecodedRecord>): Promise<DeadLetter[]> {
    const dead: DeadLetter[] = [];
    await this.inserter.add((flush) => this.gather(flush, records, dead));
    return dead;
  }

  /** Adds a batch's records to the gathering flush, each linked and encoded now when its agent's head is known. */
  private gather(flush: GatheringFlush, records: Iterable<DecodedRecord>, dead: DeadLetter[]): number {
    let added = 0;
    for (const record of records) {
      if (flush.messages[flush.messages.length - 1] !== record.message) flush.messages.push(record.message);
      const encoded = encodedRow(record);
      if (typeof encoded === 'string') {
        dead.push({ message: record.message, reason: encoded });
        continue;
      }
      const { row } = encoded;
      if (this.unstoredEvents.get(row.tenant_id, row.event_id)) continue;
      this.unstoredEvents.set(row.tenant_id, row.event_id, flush);
      flush.events.push({ tenant_id: row.tenant_id, event_id: row.event_id });
      flush.note(row, encoded.key);
      added++;
      if (this.arrivalHeads.has(encoded.key)) flush.link(encoded, this.arrivalHeads);
      else flush.wait(encoded);
    }
    return added;
  }

  /**
   * Checks a flush against the store before it is inserted: which of its events the trail holds already, and
   * whether its agents' chains still end where its rows linked on from (the heads the flushes before it end on,
   * stored or not: if one of those fails, this one is dropped with it). Rows whose agent's head was unknown on
   * arrival are linked now, on the store's heads; so are the rows of those agents that later flushes hold.
   */
  private async prepare(flush: GatheringFlush): Promise<PreparedFlush> {
    const generation = this.generation;
    if (flush.events.length === 0) return { chunks: [], heads: new Map(), rows: 0, flush };
    const cache = new Map<string, ChainHead>();
    for (const key of flush.spans.keys()) {
      const head = this.projectedHeads.get(key) ?? this.heads.get(key);
      if (head) cache.set(key, head);
    }
    const stored = await storedState(this.deps.store, [...flush.spans.values()], flush.events, cache);
    const moved = [...cache.keys()].filter((key) => !sameHead(stored.heads.get(key), cache.get(key)));
    // Another writer linked onto a chain whose flush of ours is not stored yet (a rebalance in progress):
    // linking on from the store would fork it. Fail: this flush and those behind it come again.
    if (moved.some((key) => this.projectedHeads.has(key)))
      throw new Error('an evidence chain moved under a flush not yet stored; the batch will be redelivered');
    const linkedOnHeads = [...flush.linkedFrom].every(([key, from]) => sameHead(from, cache.get(key)));
    let heads: Map<string, ChainHead>;
    if (linkedOnHeads && stored.events.empty && moved.length === 0) {
      // Steady state: the rows linked on arrival stand.
      heads = new Map(stored.heads);
      for (const [key, head] of flush.linkedHeads) heads.set(key, head);
      for (const rows of flush.waiting.values())
        for (const { row, j, key } of rows) flush.body.appendJson(row, j, key, heads);
    } else {
      flush.body.clear();
      heads = new Map(stored.heads);
      for (const { row, j, key } of this.rowsAgain(flush))
        if (!stored.events.has(row.tenant_id, row.event_id)) flush.body.appendJson(row, j, key, heads);
    }
    flush.waiting.clear();
    // The body goes to the store as a view of the flush's buffer, which comes back once the insert is done.
    const rows = flush.body.rows;
    const chunks = rows > 0 ? [flush.body.body()] : [];
    if (rows === 0) this.bodies.give(flush.body.buffer);
    if (generation === this.generation) {
      for (const [key, head] of heads) {
        this.projectedHeads.set(key, head);
        const linked = flush.linkedHeads.get(key);
        // Rows that arrived after this flush's rows linked on from where those ended on arrival. If the lookup
        // moved that, they are wrong: their flushes are built again at their turn, and the agent's next rows wait.
        if (linked && !sameHead(head, linked)) this.arrivalHeads.delete(key);
        else if (!this.arrivalHeads.has(key)) this.catchUp(key, head, flush);
      }
    }
    return { chunks, heads, rows, flush };
  }

  /**
   * Links the rows of `key` that flushes after `flush` hold unlinked on from `head` (the end of the agent's
   * chain once `flush` is stored), in order; the agent's next rows then link on arrival.
   */
  private catchUp(key: string, head: ChainHead, flush: GatheringFlush): void {
    const heads = new Map([[key, head]]);
    for (const later of this.openFlushes) {
      const rows = later.seq > flush.seq ? later.waiting.get(key) : undefined;
      if (!rows) continue;
      later.waiting.delete(key);
      for (const row of rows) later.link(row, heads);
    }
    this.arrivalHeads.set(key, heads.get(key)!);
  }

  /** The flush's rows decoded again from its messages, as they were taken on arrival: the same rows, in order. */
  private rowsAgain(flush: GatheringFlush): EncodedRow[] {
    const rows: EncodedRow[] = [];
    const taken = new TenantEventIds();
    for (const message of flush.messages) {
      const decoded = decodeRecords(this.deps.codec, message, this.deps.redactor);
      if (!decoded.ok) continue;
      for (const record of decoded.records) {
        const encoded = encodedRow(record);
        if (typeof encoded === 'string') continue;
        const { tenant_id, event_id } = encoded.row;
        if (this.unstoredEvents.get(tenant_id, event_id) === flush && taken.add(tenant_id, event_id))
          rows.push(encoded);
      }
    }
    return rows;
  }

  private async store(prepared: PreparedFlush): Promise<void> {
    const flushTimer = auditFlushDurationSeconds.startTimer();
    try {
      await this.deps.store.insertBody('events', prepared.chunks, EVENTS_INSERT_SETTINGS, EVENTS_BODY_FORMAT);
    } catch (error) {
      auditFlushFailuresTotal.inc();
      throw error;
    } finally {
      // Settled, failed or not: the store reads the body no more.
      if (prepared.rows > 0) this.bodies.give(prepared.flush.body.buffer);
    }
    flushTimer();
    auditFlushRowsTotal.inc(prepared.rows);
    // Only stored links advance the cache: a failed insert leaves it as it was, and the next flush re-checks
    // the store for anything past it anyway.
    for (const [key, head] of prepared.heads) {
      this.heads.set(key, head);
      // A flush prepared behind this one may have projected a later head already: keep that one.
      if (this.projectedHeads.get(key) === head) this.projectedHeads.delete(key);
    }
    const { flush } = prepared;
    this.openFlushes = this.openFlushes.filter((open) => open !== flush);
    for (const { tenant_id, event_id } of flush.events)
      this.unstoredEvents.release(tenant_id, event_id, flush);
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

interface PreparedFlush {
  chunks: Buffer[];
  /** The chain heads after these rows. */
  heads: Map<string, ChainHead>;
  /** How many rows the chunks hold. */
  rows: number;
  flush: GatheringFlush;
}

/** A row on its way into a body: its fields escaped once (`chainFieldsJson`), and its agent's chain key. */
interface EncodedRow {
  row: EventRow;
  j: ChainFieldsJson;
  key: string;
}

/** One flush while rows arrive, and until it is stored. */
class GatheringFlush {
  /** Its events (each once, an event no other open flush holds): the lookup asks for them. */
  readonly events: EventIdentity[] = [];
  readonly spans = new Map<string, AgentSpan>();
  readonly tenants = new Set<string>();
  /** The head each agent's rows of this flush linked on from on arrival, and the head they ended on. */
  readonly linkedFrom = new Map<string, ChainHead>();
  readonly linkedHeads = new Map<string, ChainHead>();
  /** Rows whose agent's head was unknown on arrival, by agent: linked once the flush before them is prepared. */
  readonly waiting = new Map<string, EncodedRow[]>();
  /** The messages its rows came in, in order, to build it again from when the lookup moved something. */
  readonly messages: IncomingMessage[] = [];

  constructor(
    readonly seq: number,
    readonly body: EventsBodyWriter,
  ) {}

  /** Links `row` on from its agent's head in `heads` (which it advances) into the body. */
  link(encoded: EncodedRow, heads: Map<string, ChainHead>): void {
    const { row, j, key } = encoded;
    if (!this.linkedFrom.has(key)) this.linkedFrom.set(key, heads.get(key)!);
    this.body.appendJson(row, j, key, heads);
    this.linkedHeads.set(key, heads.get(key)!);
  }

  /** Keeps `row` for later: its agent's head is not known yet. */
  wait(encoded: EncodedRow): void {
    const rows = this.waiting.get(encoded.key);
    if (rows) rows.push(encoded);
    else this.waiting.set(encoded.key, [encoded]);
  }

  /** A row joins: its agent's span of occurred_at and its tenant. */
  note(row: EventRow, key: string): void {
    const span = this.spans.get(key);
    if (span) {
      if (row.occurred_at_ms < span.fromMs) span.fromMs = row.occurred_at_ms;
      if (row.occurred_at_ms > span.toMs) span.toMs = row.occurred_at_ms;
    } else
      this.spans.set(key, {
        tenantId: row.tenant_id,
        agentId: row.agent_id,
        fromMs: row.occurred_at_ms,
        toMs: row.occurred_at_ms,
      });
    this.tenants.add(row.tenant_id);
  }
}

/**
 * The row a record becomes, its fields escaped; or why it cannot be stored (a row the store refuses would fail
 * its whole flush, redelivered forever: its partition would stall).
 */
function encodedRow(record: DecodedRecord): EncodedRow | string {
  let row: EventRow;
  if (record.schema === 'thoth.v1.BehavioralEvent') row = behavioralEventRow(record.value);
  else if (record.schema === 'thoth.v1.DecisionEvent') row = decisionEventRow(record.value);
  else if (record.schema === 'thoth.v1.Hold') row = approvalEventRow(record.value);
  else if (record.schema === 'thoth.v1.AdminEvent') row = adminEventRow(record.value);
  else if (record.schema === 'thoth.v1.Finding') row = findingEventRow(record.value);
  else return `unexpected ${record.schema} on the events topic`;
  const unstorable = unstorableTime(row);
  if (unstorable) return unstorable;
  let j: ChainFieldsJson;
  try {
    j = chainFieldsJson(row);
  } catch (error) {
    return `unstorable: ${(error as Error).message}`;
  }
  return { row, j, key: agentChainKey(row.tenant_id, row.agent_id) };
}

/**
 * The engine's work on a flush's insert runs in the writer's process (chDB), so its settings are the cheapest
 * measured (about 15% less CPU a row than the defaults):
 * - every time in these rows is clickhouseTime()'s fixed form, which the basic parser reads fastest;
 * - one parser thread: splitting a flush's body across threads costs more CPU than it saves time here;
 * - no merge of the inserted block with itself (ReplacingMergeTree's dedup): the writer inserts no duplicate;
 * - a synchronous insert (chDB 3.4 inserts asynchronously by default: the body is queued, copied, and parsed by a
 *   background thread the insert waits for; about a fifth fewer new pages touched a row without it, and the
 *   same behaviour as a ClickHouse server's default). The flush is the batching.
 */
const EVENTS_INSERT_SETTINGS = {
  date_time_input_format: 'basic',
  input_format_parallel_parsing: 0,
  optimize_on_insert: 0,
  async_insert: 0,
} as const;

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
  if (!storable(row.occurred_at_ms)) return outsideStorable('occurred_at', row.occurred_at_ms);
  if (!storable(row.ingested_at_ms)) return outsideStorable('ingested_at', row.ingested_at_ms);
  return undefined;
}

function storable(ms: number): boolean {
  return Number.isFinite(ms) && ms >= FIRST_STORABLE_MS && ms <= LAST_STORABLE_MS;
}

function outsideStorable(field: string, ms: number): string {
  const shown = Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
  return `${field} ${shown} is outside 1970-01-01 … 9999-12-31, the times the audit trail stores`;
}
