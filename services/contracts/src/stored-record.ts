import { RECORD_DEFAULTS, type RecordTypes } from './avro-records.ts';
import type { ChainFields } from './evidence-chain.ts';

/**
 * What the `payload` column of the audit trail holds: the event's full record, minus the fields that a column
 * of the same row already holds with the same value. Those columns are covered by the row's chain link
 * (schemas/evidence-chain.md), so leaving them out of the payload loses no evidence; it only stops every
 * stored event from carrying its ids, content and times twice (the audit writer's insert shrank by about a
 * third). `storedRecord` puts the record back together. Pure functions: no I/O.
 *
 * A field is left out only when its value is strictly equal to the column's: a `null` content stays in the
 * payload (its column holds `""`), and so does a risk score the column clamped. `storedRecord` fills in only
 * the fields the payload lacks, so rows written before this (full payloads) read back unchanged.
 */

type ColumnOf = ReadonlyArray<readonly [field: string, column: Exclude<keyof ChainFields, 'payload'>]>;

const SHARED: ColumnOf = [
  ['event_id', 'event_id'],
  ['tenant_id', 'tenant_id'],
  ['agent_id', 'agent_id'],
  ['session_id', 'session_id'],
  ['user_id', 'user_id'],
  ['tool_name', 'tool_name'],
  ['enforcement_mode', 'enforcement_mode'],
  ['violation_id', 'violation_id'],
  ['enforcement_trace_id', 'enforcement_trace_id'],
  ['occurred_at', 'occurred_at_ms'],
];

/** Per row kind, which record field a column holds. Kinds not listed store their full record. */
const COLUMN_OF: Readonly<Record<string, ColumnOf>> = {
  behavioral: [...SHARED, ['event_type', 'event_type'], ['content', 'content']],
  decision: [
    ...SHARED,
    ['decision', 'decision'],
    ['reason_code', 'reason_code'],
    ['risk_score', 'risk_score'],
    ['reason', 'content'],
  ],
};

/** The payload to store for `record` in a row whose other chain columns are `row`. */
export function payloadOf(record: object, row: ChainFields): string {
  const columnOf = COLUMN_OF[row.kind];
  if (!columnOf) return JSON.stringify(record);
  const rest: Record<string, unknown> = { ...record };
  for (const [field, column] of columnOf) {
    // `undefined` rather than `delete`: JSON.stringify skips it, and the copy keeps its fast shape.
    if (rest[field] === row[column]) rest[field] = undefined;
  }
  return JSON.stringify(rest);
}

/** The schema of each row kind's record (event-rows.ts in the audit writer). */
const SCHEMA_OF_KIND: Readonly<Record<string, keyof RecordTypes>> = {
  behavioral: 'thoth.v1.BehavioralEvent',
  decision: 'thoth.v1.DecisionEvent',
  approval: 'thoth.v1.Hold',
  admin: 'thoth.v1.AdminEvent',
  finding: 'thoth.v1.Finding',
};

/**
 * The full record of a stored row (`null` when its payload is not a JSON object). A row written before a field
 * of its schema existed gets that field's default, as a bus reader would: the record has every field its type
 * says.
 */
export function storedRecord(row: ChainFields): Record<string, unknown> | null {
  let record: unknown;
  try {
    record = JSON.parse(row.payload);
  } catch {
    return null;
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return null;
  const fields = record as Record<string, unknown>;
  for (const [field, column] of COLUMN_OF[row.kind] ?? []) {
    if (!Object.hasOwn(fields, field)) fields[field] = row[column];
  }
  const schema = SCHEMA_OF_KIND[row.kind];
  for (const [field, value] of Object.entries((schema && RECORD_DEFAULTS[schema]) ?? {})) {
    if (!Object.hasOwn(fields, field)) fields[field] = Array.isArray(value) ? [...value] : value;
  }
  return fields;
}
