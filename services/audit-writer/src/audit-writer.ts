import type { AvroCodec } from '@thoth/common/bus/avro-codec';
import type { Bus, Subscription } from '@thoth/common/bus/bus';
import { type DeadLetter, type DecodedRecord, subscribeRecords } from '@thoth/common/bus/record-consumer';
import type { Logger } from '@thoth/common/logger';
import type { Store } from '@thoth/common/store/store';
import { behavioralEventRow, decisionEventRow, type EventRow } from './event-rows.ts';

export interface AuditWriterDeps {
  bus: Bus;
  codec: AvroCodec;
  store: Pick<Store, 'select' | 'insertRows'>;
  eventsTopic: string;
  log: Logger;
  group?: string;
  maxBatchSize?: number;
}

/**
 * Writes every event and decision on the events topic into the `events` table. At-least-once: the bus
 * commits a batch only after `insertNew` resolved; a redelivered batch is harmless because rows whose
 * event_id is already stored are skipped (dedup on event_id, within the batch and against the table).
 */
export class AuditWriter {
  private subscription: Subscription | undefined;

  constructor(private readonly deps: AuditWriterDeps) {}

  async start(): Promise<void> {
    this.subscription = await subscribeRecords({
      bus: this.deps.bus,
      codec: this.deps.codec,
      group: this.deps.group ?? 'audit-writer',
      topics: [this.deps.eventsTopic],
      maxBatchSize: this.deps.maxBatchSize ?? 5_000,
      handler: (records) => this.write(records),
      onDeadLetter: (letter) =>
        this.deps.log.warn({ reason: letter.reason, offset: letter.message.offset }, 'event sent to DLQ'),
    });
  }

  /** Stops consuming; the in-flight batch finishes and commits first. */
  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = undefined;
  }

  private async write(records: DecodedRecord[]): Promise<DeadLetter[]> {
    const rows: EventRow[] = [];
    const dead: DeadLetter[] = [];
    for (const record of records) {
      if (record.schema === 'thoth.v1.BehavioralEvent') rows.push(behavioralEventRow(record.value));
      else if (record.schema === 'thoth.v1.DecisionEvent') rows.push(decisionEventRow(record.value));
      else dead.push({ message: record.message, reason: `unexpected ${record.schema} on the events topic` });
    }
    await insertNew(this.deps.store, rows);
    return dead;
  }
}

/** Inserts the rows whose event_id is neither earlier in the batch nor already stored. Returns how many. */
export async function insertNew(
  store: Pick<Store, 'select' | 'insertRows'>,
  rows: EventRow[],
): Promise<number> {
  const unique = new Map<string, EventRow>();
  for (const row of rows) if (!unique.has(row.event_id)) unique.set(row.event_id, row);
  if (unique.size === 0) return 0;
  const stored = await store.select<{ event_id: string }>(
    'SELECT event_id FROM events WHERE tenant_id IN {tenants:Array(String)} AND event_id IN {ids:Array(String)}',
    { tenants: [...new Set([...unique.values()].map((r) => r.tenant_id))], ids: [...unique.keys()] },
  );
  for (const { event_id } of stored) unique.delete(event_id);
  await store.insertRows('events', [...unique.values()]);
  return unique.size;
}
