import { randomUUID } from 'node:crypto';
import type { BehavioralEvent } from '@thoth/common/records';

/** A behavioral event as the ingest API would put it on the bus. */
export function behavioralEvent(overrides: Partial<BehavioralEvent> = {}): BehavioralEvent {
  const now = Date.now();
  return {
    event_id: randomUUID(),
    tenant_id: 'acme-corp',
    agent_id: 'invoice-processor-v2',
    session_id: 'session-1',
    user_id: 'system',
    source_type: 'agent_tool_call',
    event_type: 'TOOL_CALL_PRE',
    tool_name: 'search_docs',
    content: 'search_docs("quarterly report")',
    metadata_json: JSON.stringify({ sdk_language: 'typescript', event_phase: 'pre' }),
    approved_scope: ['search_docs'],
    enforcement_mode: 'progressive',
    session_tool_calls: ['search_docs'],
    occurred_at: now,
    ingested_at: now,
    ttl: null,
    violation_id: null,
    purpose: null,
    data_classification: null,
    task_context_json: null,
    endpoint_id: null,
    hostname: null,
    enforcement_trace_id: null,
    chain_index: null,
    hash: null,
    previous_hash: null,
    signature: null,
    ...overrides,
  };
}
