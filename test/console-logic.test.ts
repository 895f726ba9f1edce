import { generateKeyPairSync, sign } from 'node:crypto';
import { type ChainFields, GENESIS_HASH, linkHash as serverLinkHash } from '@thoth/contracts';
import { describe, expect, it } from 'vitest';
import { canonical, type EvidenceBundle, verifyBundle } from '../console/src/lib/bundle-verify.ts';
import {
  filtersFrom,
  matchesFilters,
  mergeLive,
  rowFromApi,
  rowFromStream,
  syntheticRows,
} from '../console/src/lib/feed-model.ts';
import { decisionsPerMinute } from '../console/src/lib/overview-model.ts';
import { lineDiff } from '../console/src/lib/text-diff.ts';
import { groupCalls, riskSeries, type TimelineEvent } from '../console/src/lib/timeline-model.ts';

/** The console's view logic: pure modules, tested in Node (WebCrypto included) without a browser. */

describe('feed model', () => {
  const api = rowFromApi({
    event_id: 'e1',
    kind: 'decision',
    event_type: 'DECISION',
    agent_id: 'a1',
    session_id: 's1',
    tool_name: 'wire',
    decision: 'STEP_UP',
    reason_code: 'policy_rule',
    risk_score: 40,
    content: 'needs a person',
    occurred_at: '2026-12-04T10:00:00.000Z',
  });
  it('maps feed API rows and stream events to one row shape', () => {
    expect(api).toMatchObject({
      id: 'e1',
      at: Date.parse('2026-12-04T10:00:00Z'),
      decision: 'STEP_UP',
      riskScore: 40,
    });
    const live = rowFromStream('decision', {
      event_id: 'e2',
      agent_id: 'a1',
      session_id: 's1',
      tool_name: 'wire',
      decision: 'BLOCK',
      reason_code: 'policy_scope_violation',
      reason: 'not in scope',
      risk_score: 80,
      occurred_at: 1_700_000_000_000,
    });
    expect(live).toMatchObject({
      kind: 'decision',
      eventType: 'DECISION',
      decision: 'BLOCK',
      content: 'not in scope',
    });
    const event = rowFromStream('event', {
      event_id: 'e3',
      event_type: 'TOOL_CALL_PRE',
      content: 'x',
      occurred_at: 1,
    });
    expect(event).toMatchObject({ kind: 'behavioral', eventType: 'TOOL_CALL_PRE', decision: null });
  });

  it('filters live rows as the API filters stored ones', () => {
    expect(matchesFilters(api, { agent_id: 'a1', decision: 'step_up' })).toBe(true);
    expect(matchesFilters(api, { agent_id: 'a2' })).toBe(false);
    expect(matchesFilters(api, { event_type: 'DECISION', search: 'PERSON' })).toBe(true);
    expect(matchesFilters(api, { from: '2026-12-04T11:00:00Z' })).toBe(false);
    expect(filtersFrom(new URLSearchParams('agent_id=a1&decision=BLOCK&page=3'))).toEqual({
      agent_id: 'a1',
      decision: 'BLOCK',
    });
  });

  it('puts new live rows first, newest first, without duplicates, within the cap', () => {
    const [r1, r2, r3] = syntheticRows(3);
    const shown = [r1!];
    const merged = mergeLive(shown, [r2!, r3!, r1!]);
    expect(merged.map((r) => r.id)).toEqual([r3!.id, r2!.id, r1!.id]);
    expect(mergeLive(merged, [])).toBe(merged); // nothing new: the same array, no render
    expect(mergeLive(merged, [r2!])).toBe(merged);
    expect(mergeLive(syntheticRows(10), syntheticRows(15).slice(10), 12)).toHaveLength(12);
    expect(syntheticRows(100_000)).toHaveLength(100_000);
  });
});

describe('session timeline model', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 11, 4, 10, 0, s)).toISOString();
  const ev = (
    id: string,
    kind: string,
    type: string,
    tool: string,
    s: number,
    extra: Partial<TimelineEvent> = {},
  ) =>
    ({
      event_id: id,
      kind,
      event_type: type,
      agent_id: 'a1',
      tool_name: tool,
      decision: null,
      reason_code: null,
      risk_score: 0,
      content: '',
      occurred_at: at(s),
      chain_index: 0,
      hash: '',
      record: null,
      ...extra,
    }) satisfies TimelineEvent;
  const events = [
    ev('p1', 'behavioral', 'TOOL_CALL_PRE', 'search', 0),
    ev('d1', 'decision', 'DECISION', 'search', 0, { decision: 'ALLOW', risk_score: 5 }),
    ev('o1', 'behavioral', 'TOOL_CALL_POST', 'search', 2),
    ev('p2', 'behavioral', 'TOOL_CALL_PRE', 'wire', 3),
    ev('d2', 'decision', 'DECISION', 'wire', 3, {
      decision: 'STEP_UP',
      risk_score: 60,
      record: { matched_rule_ids: ['wire-needs-approval'] },
    }),
    ev('f1', 'finding', 'FINDING', 'wire', 4),
    ev('o2', 'behavioral', 'TOOL_CALL_POST', 'wire', 9),
    ev('d3', 'decision', 'DECISION', 'pay', 10, { decision: 'BLOCK', risk_score: 80 }),
  ];
  it('groups PRE → decision → POST per call, in order, with durations and matched rules', () => {
    const calls = groupCalls(events);
    expect(calls.map((c) => [c.toolName, c.pre?.event_id, c.decision?.event_id, c.post?.event_id])).toEqual([
      ['search', 'p1', 'd1', 'o1'],
      ['wire', 'p2', 'd2', 'o2'],
      ['pay', undefined, 'd3', undefined],
    ]);
    expect(calls.map((c) => c.durationMs)).toEqual([2_000, 6_000, undefined]);
    expect(calls[1]?.matchedRules).toEqual(['wire-needs-approval']);
    expect(calls[1]?.others.map((o) => o.event_id)).toEqual(['f1']);
  });
  it("plots the session's risk at each decision", () => {
    expect(riskSeries(events).map((r) => r.risk)).toEqual([5, 60, 80]);
  });
});

describe('overview and policy diff', () => {
  it('counts decisions per minute by outcome, with empty minutes', () => {
    const now = Date.UTC(2026, 11, 4, 10, 30, 30);
    const d = (minAgo: number, decision: string) => ({ at: now - minAgo * 60_000, decision });
    const r = decisionsPerMinute(
      [d(0, 'ALLOW'), d(0, 'ALLOW'), d(1, 'BLOCK'), d(45, 'ALLOW'), d(0, 'NOPE')],
      now,
      30,
    );
    expect(r.minutes).toHaveLength(30);
    expect(r.counts.ALLOW.at(-1)).toBe(2);
    expect(r.counts.BLOCK.at(-2)).toBe(1);
    expect(r.counts.ALLOW.reduce((a, b) => a + b, 0)).toBe(2); // 45 minutes ago is outside the span
  });
  it('diffs policy versions line by line', () => {
    expect(lineDiff('a\nb\nc', 'a\nc\nd')).toEqual([
      { op: 'same', text: 'a' },
      { op: 'del', text: 'b' },
      { op: 'same', text: 'c' },
      { op: 'add', text: 'd' },
    ]);
  });
});

describe('in-browser bundle verification (WebCrypto)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const fields = (i: number): ChainFields => ({
    tenant_id: 'acme-corp',
    agent_id: 'a1',
    event_id: `e${i}`,
    kind: 'decision',
    event_type: 'DECISION',
    session_id: 's1',
    user_id: 'u',
    tool_name: i === 2 ? 'wire' : 'search',
    decision: 'ALLOW',
    reason_code: '',
    risk_score: i * 1.5,
    enforcement_mode: 'progressive',
    violation_id: '',
    enforcement_trace_id: '',
    content: `call ${i} "quoted" é`,
    payload: '{"a":1}',
    occurred_at_ms: 1_700_000_000_000 + i,
  });
  /** A bundle chained by the server's own link function and signed as the server signs (Ed25519, canonical). */
  function bundle(): EvidenceBundle {
    let previous = GENESIS_HASH;
    const records = [1, 2, 3].map((i) => {
      const hash = serverLinkHash(fields(i), i, previous);
      const record = { ...fields(i), chain_index: i, previous_hash: previous, hash };
      previous = hash;
      return record;
    });
    const unsigned = {
      session_id: 's1',
      tenant_id: 'acme-corp',
      records,
      public_keys: [{ key_id: 'k1', public_key_pem: pem }],
    };
    const signature = sign(null, Buffer.from(canonical(unsigned)), privateKey).toString('base64url');
    return { ...unsigned, signature: { key_id: 'k1', signature } };
  }

  it('recomputes the links as the server made them and checks the Ed25519 signature: VALID', async () => {
    const verdict = await verifyBundle(bundle());
    expect(verdict).toMatchObject({ valid: true, recordsChecked: 3, problems: [], signedBy: 'k1' });
  });

  it('names the first broken link of a tampered bundle: INVALID', async () => {
    const tampered = bundle();
    tampered.records![1]!.tool_name = 'search';
    const verdict = await verifyBundle(tampered);
    expect(verdict.valid).toBe(false);
    expect(verdict.firstBrokenLink).toBe(
      'record e2 (agent a1, chain_index 2): hash does not match its content',
    );
    expect(verdict.problems.at(-1)).toContain('bundle signature does not verify');
  });

  it('refuses a re-chained bundle whose signature no longer matches, and an unknown key', async () => {
    const b = bundle();
    b.records!.pop();
    expect((await verifyBundle(b)).problems).toEqual([
      'the bundle signature does not verify: the bundle was modified or signed by an unknown key',
    ]);
    const other = bundle();
    other.signature = { key_id: 'nobody', signature: other.signature!.signature };
    expect((await verifyBundle(other)).valid).toBe(false);
  });
});
