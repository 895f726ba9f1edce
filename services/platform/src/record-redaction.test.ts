import type { BehavioralEvent, DecisionEvent } from '@thoth/contracts';
import { describe, expect, it } from 'vitest';
import { decisionEvent } from '../../../test/fixtures.ts';
import type { DecodedRecord } from './bus/record-consumer.ts';
import { REDACTED_HEADER, redactedRecord } from './record-redaction.ts';
import { createRedactor, DEFAULT_REDACTION_GROUPS } from './redaction.ts';

const redactor = createRedactor({ groups: DEFAULT_REDACTION_GROUPS });
const CARD = '4111 1111 1111 1111';
const BEARER = 'Bearer eyJhbGciOiJIUzI1NiJ9abcdefghij';

const event = (overrides: Partial<BehavioralEvent> = {}): BehavioralEvent => ({
  event_id: 'e1',
  tenant_id: 't',
  agent_id: 'a',
  session_id: 's',
  user_id: 'u',
  source_type: 'agent_tool_call',
  event_type: 'TOOL_CALL_PRE',
  tool_name: 'charge',
  content: `charge card ${CARD} with header ${BEARER}`,
  metadata_json: JSON.stringify({ tool_args: { card: CARD, note: 'ok' }, password: 'hunter2' }),
  approved_scope: [],
  enforcement_mode: null,
  session_tool_calls: [],
  occurred_at: 1,
  ingested_at: 1,
  ttl: null,
  violation_id: null,
  purpose: null,
  data_classification: null,
  task_context_json: JSON.stringify({ goal: `use ${BEARER}` }),
  endpoint_id: null,
  hostname: null,
  enforcement_trace_id: null,
  chain_index: null,
  hash: null,
  previous_hash: null,
  signature: null,
  ...overrides,
});

const message = (headers: Record<string, string> = {}) => ({
  topic: 't',
  partition: 0,
  offset: '0',
  key: '',
  value: null,
  headers,
  timestamp: 0,
});
const record = (value: BehavioralEvent, headers: Record<string, string> = {}): DecodedRecord => ({
  schema: 'thoth.v1.BehavioralEvent',
  value,
  message: message(headers),
  index: 0,
});

describe('redactedRecord', () => {
  it('redacts a behavioral event that did not pass the API: content, tool args, secret fields, task context', () => {
    const out = redactedRecord(record(event()), redactor).value as BehavioralEvent;
    const text = JSON.stringify(out);
    expect(text).not.toContain('4111');
    expect(text).not.toContain('eyJhbGciOiJIUzI1NiJ9');
    expect(text).not.toContain('hunter2');
    expect(JSON.parse(out.metadata_json).tool_args.note).toBe('ok');
  });

  it('leaves events the API already redacted, and clean JSON text byte for byte', () => {
    const raw = record(event(), { [REDACTED_HEADER]: '1' });
    expect(redactedRecord(raw, redactor)).toBe(raw);
    const clean = event({
      content: '{ "q" : "revenue" }',
      metadata_json: '{"a": 1}',
      task_context_json: null,
    });
    expect(redactedRecord(record(clean), redactor).value).toEqual(clean);
  });

  it('redacts the purpose of a behavioral event, and the request id and purpose of a decision event', () => {
    const out = redactedRecord(record(event({ purpose: `refund to ${CARD}` })), redactor)
      .value as BehavioralEvent;
    expect(out.purpose).toBe('refund to [REDACTED:card_number]');
    const raw: DecodedRecord = {
      schema: 'thoth.v1.DecisionEvent',
      value: decisionEvent({ request_id: `req ${BEARER}`, purpose: 'password=hunter2' }),
      message: message(),
      index: 0,
    };
    const redacted = redactedRecord(raw, redactor).value as DecisionEvent;
    expect(redacted.request_id).toBe('req Bearer [REDACTED:bearer_token]');
    expect(redacted.purpose).toBe('password=[REDACTED:secret_field]');
    // Nothing to redact: the same record.
    const clean: DecodedRecord = {
      ...raw,
      value: decisionEvent({ request_id: 'req-1', purpose: 'billing' }),
    };
    expect(redactedRecord(clean, redactor)).toBe(clean);
  });
});
