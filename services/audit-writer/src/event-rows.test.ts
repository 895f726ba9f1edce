import { agentChainKey, type ChainHead, chainFieldsJson, linkHash, nextLink } from '@thoth/contracts';
import { describe, expect, it } from 'vitest';
import type { EventRow } from './event-rows.ts';

const row: EventRow = {
  tenant_id: 'acme',
  agent_id: 'agent "quoted" \\ back',
  occurred_at_ms: Date.UTC(2026, 10, 24, 9, 30, 1, 7),
  event_id: 'e-1',
  kind: 'behavioral',
  event_type: 'TOOL_CALL_PRE',
  session_id: 's-1',
  user_id: 'alice@example.com',
  tool_name: 'search_docs',
  decision: 'ALLOW',
  reason_code: '',
  risk_score: 42,
  enforcement_mode: 'progressive',
  violation_id: '',
  enforcement_trace_id: 'trace\n1',
  content: 'line 1\nline 2\t"tab" \u2028 ünïcode \ud83d\ude00',
  payload: JSON.stringify({ content: 'x "y"', nested: { a: [1, 2] } }),
  ingested_at_ms: Date.UTC(2026, 10, 24, 9, 30, 2, 0),
};

describe('event links', () => {
  it('links consecutive rows of an agent into one chain', () => {
    const heads = new Map<string, ChainHead>();
    const key = agentChainKey(row.tenant_id, row.agent_id);
    const first = nextLink(chainFieldsJson(row), key, heads);
    const second = nextLink(chainFieldsJson({ ...row, event_id: 'e-2' }), key, heads);
    expect(second).toEqual({
      chain_index: 2,
      previous_hash: first.hash,
      hash: linkHash({ ...row, event_id: 'e-2' }, 2, first.hash),
    });
    expect(heads.get(key)).toEqual({ chainIndex: 2, hash: second.hash });
  });
});
