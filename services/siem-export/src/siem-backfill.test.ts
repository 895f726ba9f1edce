import type { DecisionEvent } from '@thoth/contracts';
import { describe, expect, it } from 'vitest';
import { decisionEvent } from '../../../test/fixtures.ts';
import { backfillSink, type FeedEvent, recordOfFeedEvent } from './siem-backfill.ts';
import { parseSinkConfig } from './sink-config.ts';
import type { DeliveryItem, Transport } from './transports/transport.ts';

/** A decision as the governance feed shows it: the reason is the row's content, left out of `record`. */
const decision = (id: string, decisionValue: string): FeedEvent => {
  const { reason: _reason, ...record } = decisionEvent({
    event_id: `acme:${id}`,
    tenant_id: 'acme',
    agent_id: 'bot',
    session_id: 's',
    user_id: 'u',
    tool_name: 'submit_payment',
    decision: decisionValue as DecisionEvent['decision'],
    would_be_decision: decisionValue as DecisionEvent['decision'],
    reason_code: 'policy_scope_violation',
    action_classification: 'write',
    violation_id: id,
    enforcement_trace_id: 's',
    risk_score: 40,
    occurred_at: Date.UTC(2026, 5, 1, 12),
    replay_json: null,
  });
  return {
    event_id: `acme:${id}`,
    kind: 'decision',
    content: 'tool not in scope',
    occurred_at: '2026-06-01T12:00:00.000Z',
    record,
  };
};

describe('SIEM backfill', () => {
  it('rebuilds the bus record of a feed event, content included', () => {
    const record = recordOfFeedEvent(decision('01A', 'BLOCK'));
    expect(record?.schema).toBe('thoth.v1.DecisionEvent');
    expect(record?.value).toMatchObject({ reason: 'tool not in scope', decision: 'BLOCK' });
    expect(recordOfFeedEvent({ kind: 'unknown', record: {} })).toBeUndefined();
  });

  it('pages through the feed and delivers what the sink wants, in its format', async () => {
    const [sink] = parseSinkConfig(
      {
        sinks: [
          { id: 'late', tenant: 'acme', type: 'file', dir: '/tmp/unused', filters: { decisions: ['BLOCK'] } },
        ],
      },
      {},
    );
    const sent: DeliveryItem[] = [];
    const transport: Transport = {
      deliver: async (items) => {
        sent.push(...items);
        return { rejected: [] };
      },
      close: async () => {},
    };
    const pages = [
      { data: [decision('01A', 'BLOCK'), decision('01B', 'ALLOW')], next_offset: 2 },
      { data: [decision('01C', 'BLOCK')], next_offset: null },
    ];
    const offsets: number[] = [];
    const result = await backfillSink({
      sink: sink!,
      transport,
      readPage: async (offset) => {
        offsets.push(offset);
        return pages[offsets.length - 1]!;
      },
    });
    expect(offsets).toEqual([0, 2]);
    expect(result).toMatchObject({ read: 3, delivered: 2, filtered: 1, skipped: [] });
    expect(sent.map((item) => item.event.decision)).toEqual(['BLOCK', 'BLOCK']);
  });
});
