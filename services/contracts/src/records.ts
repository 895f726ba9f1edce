/**
 * The records of the bus: their shapes are generated from schemas/avro/ (avro-records.ts, `npm run gen:records`);
 * this module adds the names the code uses for parts of them.
 */
import type { FindingRecord, HoldRecord, RecordTypes } from './avro-records.ts';

export * from './avro-records.ts';

export type FindingSeverity = FindingRecord['severity'];
export type HoldStatus = HoldRecord['status'];
export type SchemaName = keyof RecordTypes;

/** The agent id of a tenant's control-plane changes in the audit trail: their own evidence chain. */
export const ADMIN_AGENT_ID = '_admin';
