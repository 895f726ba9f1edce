import { describe, expect, it } from 'vitest';
import type { ChainFields } from './evidence-chain.ts';
import { storedRecord } from './stored-record.ts';

const row = (kind: string, payload: object): ChainFields =>
  ({ kind, payload: JSON.stringify(payload), event_id: 'e1' }) as unknown as ChainFields;

describe('storedRecord', () => {
  it("gives a row written before a field existed that field's default, as a bus reader would", () => {
    const old = storedRecord(row('approval', { token: 't', status: 'pending' }));
    expect(old).toMatchObject({
      approvers: [],
      approvals_required: 1,
      policy_version: 0,
      votes: [],
      comment: null,
    });
    const decision = storedRecord(row('decision', { decision: 'ALLOW', replay_json: '{"x":1}' }));
    expect(decision).toMatchObject({ replay_json: '{"x":1}', receipt_json: null, hold_token: null });
  });

  it('gives every record its own copy of a default list', () => {
    const a = storedRecord(row('approval', {})) as { votes: unknown[] };
    const b = storedRecord(row('approval', {})) as { votes: unknown[] };
    a.votes.push('x');
    expect(b.votes).toEqual([]);
  });

  it('leaves a kind without a schema as it was stored', () => {
    expect(storedRecord(row('other', { a: 1 }))).toEqual({ a: 1 });
  });
});
