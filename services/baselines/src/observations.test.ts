import type { BehavioralEvent, DecisionEvent } from '@thoth/contracts';
import type { DecodedRecord } from '@thoth/platform';
import { describe, expect, it } from 'vitest';
import { callObservation, decidedWithDirectives, flattenArgs } from './observations.ts';

const message = { topic: 't', partition: 0, offset: '0', key: 'k', value: null, headers: {}, timestamp: 0 };
const decision = (over: Partial<DecisionEvent> = {}) =>
  ({
    schema: 'thoth.v1.DecisionEvent',
    message,
    index: 0,
    value: {
      event_id: 'acme:d1',
      tenant_id: 'acme',
      agent_id: 'a1',
      session_id: 's1',
      tool_name: 'submit_payment',
      decision: 'ALLOW',
      decision_evidence_json: '{"decided_by":"default","finding_ids":[]}',
      tool_args_json:
        '{"args":[],"kwargs":{"amount":120,"payee":{"iban":"DE00","country":"DE"},"tags":["x"]}}',
      occurred_at: 1_000,
      ...over,
    } as DecisionEvent,
  }) as DecodedRecord;
const pre = (over: Partial<BehavioralEvent> = {}) =>
  ({
    schema: 'thoth.v1.BehavioralEvent',
    message,
    index: 0,
    value: {
      event_id: 'acme:p1',
      tenant_id: 'acme',
      agent_id: 'a1',
      session_id: 's1',
      event_type: 'TOOL_CALL_PRE',
      tool_name: 'search_docs',
      occurred_at: 1_000,
      ...over,
    } as BehavioralEvent,
  }) as DecodedRecord;

describe('call observations', () => {
  it('a decision is a call, with its arguments flattened', () => {
    expect(callObservation(decision(), true)).toMatchObject({
      eventId: 'acme:d1',
      toolName: 'submit_payment',
      argKeys: ['amount', 'payee', 'tags'],
      args: [
        { path: 'amount', value: 120 },
        { path: 'payee.iban', value: 'DE00' },
        { path: 'payee.country', value: 'DE' },
      ],
      blockedByPolicy: false,
      fromDecision: true,
    });
  });

  it('a TOOL_CALL_PRE is a call only for an agent that does not enforce; other events are not', () => {
    expect(callObservation(pre(), false)).toMatchObject({ toolName: 'search_docs', fromDecision: false });
    expect(callObservation(pre(), true)).toBeUndefined();
    expect(callObservation(pre({ event_type: 'TOOL_CALL_POST' }), false)).toBeUndefined();
  });

  it('a BLOCK that a baseline directive took part in is not a block by policy', () => {
    expect(callObservation(decision({ decision: 'BLOCK' }), true)?.blockedByPolicy).toBe(true);
    const ours = decision({
      decision: 'BLOCK',
      decision_evidence_json: '{"decided_by":"escalation","finding_ids":["f1"]}',
    });
    expect(callObservation(ours, true)?.blockedByPolicy).toBe(false);
    expect(decidedWithDirectives('{"decided_by":"directive","finding_ids":[]}')).toBe(true);
    expect(decidedWithDirectives('not json')).toBe(false);
  });

  it('flattens every argument shape SDKs send', () => {
    expect(flattenArgs({ amount: 5, note: 'x' })).toEqual([
      { path: 'amount', value: 5 },
      { path: 'note', value: 'x' },
    ]);
    expect(flattenArgs({ arg0: 'a', arg1: true })).toEqual([
      { path: 'arg0', value: 'a' },
      { path: 'arg1', value: 'true' },
    ]);
    expect(flattenArgs(undefined)).toEqual([]);
    expect(flattenArgs({ a: { b: { c: { d: 1 } } } })).toEqual([]);
  });
});
