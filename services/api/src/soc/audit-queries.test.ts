import { describe, expect, it } from 'vitest';
import {
  FEED_PAGE_BYTES,
  type FeedFilter,
  feedFilterSchema,
  feedPage,
  feedQueries,
  type StoredEvent,
  toApiEvent,
} from './audit-queries.ts';

const stored = (id: string, content: string, overrides: Partial<StoredEvent> = {}): StoredEvent => ({
  event_id: id,
  kind: 'behavioral',
  event_type: 'TOOL_CALL_PRE',
  tenant_id: 'acme',
  agent_id: 'bot',
  session_id: 's-1',
  user_id: 'u',
  tool_name: 'search_docs',
  decision: '',
  reason_code: '',
  risk_score: 0,
  enforcement_mode: '',
  violation_id: '',
  enforcement_trace_id: '',
  content,
  // As the audit writer stores a behavioral event: the columns' fields left out of the payload.
  payload: JSON.stringify({ metadata_json: '{"phase":"pre"}' }),
  occurred_at_ms: Date.UTC(2026, 0, 5),
  ingested_at_ms: Date.UTC(2026, 0, 5),
  chain_index: 1,
  previous_hash: '',
  hash: '',
  ...overrides,
});

const filter = (query: Record<string, string> = {}): FeedFilter => feedFilterSchema.parse(query);

describe('toApiEvent', () => {
  it('shows a behavioral event’s content once: as content, not again in the record', () => {
    const event = toApiEvent(stored('e-1', 'the one copy'));
    expect(event.content).toBe('the one copy');
    expect(event.record).toEqual(
      expect.objectContaining({ event_id: 'e-1', metadata_json: '{"phase":"pre"}' }),
    );
    expect(JSON.stringify(event).split('the one copy').length - 1).toBe(1);
  });

  it('shows a decision’s reason once, and an old row’s full payload without its copy of the content', () => {
    const decision = toApiEvent(
      stored('d-1', 'blocked by rule x', {
        kind: 'decision',
        payload: JSON.stringify({ policy_version: 'v1' }),
      }),
    );
    expect(JSON.stringify(decision).split('blocked by rule x').length - 1).toBe(1);
    const old = toApiEvent(
      stored('e-2', 'old text', { payload: JSON.stringify({ content: 'old text', metadata_json: '{}' }) }),
    );
    expect(old.record).toEqual(expect.objectContaining({ metadata_json: '{}' }));
    expect(JSON.stringify(old).split('old text').length - 1).toBe(1);
  });
});

describe('feedPage', () => {
  const rows = Array.from({ length: 10 }, (_, i) => stored(`e-${i}`, 'x'.repeat(1_000)));
  const rowBytes = Buffer.byteLength(JSON.stringify(toApiEvent(rows[0]!)));

  it('takes per_page rows when they fit, with the offset of the next page while more match', () => {
    const page = feedPage(rows.slice(0, 5), 12, filter({ per_page: '5', page: '2' }));
    expect(page.data.map((e) => e.event_id)).toEqual(['e-0', 'e-1', 'e-2', 'e-3', 'e-4']);
    expect(page).toMatchObject({ total: 12, page: 2, per_page: 5, next_offset: 10 });
    expect(feedPage(rows.slice(0, 2), 12, filter({ per_page: '5', page: '3' })).next_offset).toBeNull();
  });

  it('stops before the byte budget and says where to go on', () => {
    const budget = rowBytes * 3 + 512;
    const page = feedPage(rows, 40, filter({ per_page: '10', offset: '20' }), budget);
    expect(page.data.length).toBe(3);
    expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThanOrEqual(budget);
    expect(page.next_offset).toBe(23);
  });

  it('always holds one row, so a row larger than the budget does not stall the walk', () => {
    const page = feedPage(rows, 10, filter({ per_page: '10' }), 100);
    expect(page.data.length).toBe(1);
    expect(page.next_offset).toBe(1);
  });

  it('budgets 4 MiB by default', () => {
    expect(FEED_PAGE_BYTES).toBe(4 * 1024 * 1024);
  });
});

describe('feedQueries', () => {
  it('reads from `offset` when given, else from where `page` starts', () => {
    expect(feedQueries('acme', filter({ per_page: '10', page: '3' })).rows.params.offset).toBe(20);
    expect(feedQueries('acme', filter({ per_page: '10', page: '3', offset: '7' })).rows.params.offset).toBe(
      7,
    );
  });
});

// Issue 26: a blocked call sent by an SDK carries its code in metadata; a person types `-1h` for a time.
describe('reason codes and decisions of every kind, time filters', () => {
  const blocked = stored('b-1', 'submit_payment blocked', {
    event_type: 'TOOL_CALL_BLOCK',
    decision: '',
    payload: JSON.stringify({
      metadata_json: JSON.stringify({
        authorization_decision: 'block',
        decision_reason_code: 'policy_scope_violation',
      }),
    }),
  });

  it('shows a TOOL_CALL_BLOCK event’s reason_code and decision from its metadata', () => {
    expect(toApiEvent(blocked)).toMatchObject({ reason_code: 'policy_scope_violation', decision: 'BLOCK' });
    expect(toApiEvent(stored('p-1', 'x'))).toMatchObject({ reason_code: null, decision: null });
  });

  it('filters on the normalized reason_code and decision, as parameters', () => {
    const filter = feedFilterSchema.parse({ reason_code: 'policy_scope_violation', decision: 'block' });
    const { rows } = feedQueries('acme', filter);
    expect(rows.sql).toContain(
      "JSONExtractString(JSONExtractString(payload, 'metadata_json'), 'decision_reason_code')",
    );
    expect(rows.sql).toContain('{reason_code:String}');
    expect(rows.params).toMatchObject({ reason_code: 'policy_scope_violation', decision: 'BLOCK' });
  });
});
