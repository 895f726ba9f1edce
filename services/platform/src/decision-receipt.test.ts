import { mkdtempSync, rmSync, stat } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  canonicalJson,
  leafText,
  type Receipt,
  type SignedDecision,
  sha256Hex,
  verifyReceipt,
} from '@thoth/contracts';
import { afterAll, describe, expect, it } from 'vitest';
import { ReceiptMaker } from './receipt-maker.ts';
import { SigningKey } from './signing-key.ts';

const dir = mkdtempSync(join(tmpdir(), 'receipt-key-'));
const key = SigningKey.loadOrCreate(join(dir, 'key.pem'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function decision(overrides: Partial<SignedDecision> = {}): SignedDecision {
  return {
    decision: 'ALLOW',
    decision_reason_code: 'allowed',
    decision_id: '01M91G3W3YX25SGZ69VNEGZAYB',
    enforcement_trace_id: 'trace',
    tenant_id: 'acme',
    agent_id: 'agent',
    session_id: 'session',
    tool_name: 'search_docs',
    risk_score: 0,
    issued_at: '2026-12-04T21:42:10.302Z',
    policy_version: 1,
    ...overrides,
  };
}

describe('the leaf text', () => {
  it('is the canonical JSON of the leaf, for every shape a decision takes', () => {
    const cases: SignedDecision[] = [
      decision(),
      decision({ decision: 'STEP_UP', hold_token: 'hold_abc', risk_score: 64 }),
      decision({ decision: 'MODIFY', modified_tool_args: { kwargs: { card: '[REDACTED]', amount: 1.5 } } }),
      decision({ agent_id: 'ägent "quoted" \\ \n \u2028 😀 \ud800 lone', session_id: '' }),
      decision({ risk_score: -0, policy_version: 1e21 }),
      // Unexpected types take the generic path and still print canonically.
      decision({ hold_token: null as unknown as string }),
      decision({ risk_score: 1.25 }),
    ];
    for (const d of cases) {
      const { modified_tool_args, ...rest } = d;
      const leaf: Record<string, unknown> = { ...rest };
      if (modified_tool_args !== undefined)
        leaf.modified_tool_args_sha256 = sha256Hex(canonicalJson(modified_tool_args));
      expect(leafText(d)).toBe(canonicalJson(leaf));
    }
  });
});

describe('ReceiptMaker', () => {
  it('signs the decisions of one turn once per tenant, and each receipt verifies', async () => {
    const maker = new ReceiptMaker(key, 'merkle');
    const decisions = [
      ...Array.from({ length: 5 }, (_, i) => decision({ decision_id: `a${i}` })),
      ...Array.from({ length: 3 }, (_, i) => decision({ tenant_id: 'globex', decision_id: `b${i}` })),
    ];
    const receipts = await Promise.all(decisions.map((d) => maker.receipt(d)));
    expect(new Set(receipts.map((r) => r.signature)).size).toBe(2);
    expect(receipts.map((r) => r.tree_size)).toEqual([5, 5, 5, 5, 5, 3, 3, 3]);
    for (const [i, r] of receipts.entries())
      expect(verifyReceipt(decisions[i]!, r, key.publicKeyPem)).toBe(true);
    // A receipt of one tenant's batch does not vouch for the same decision under another tenant.
    expect(verifyReceipt({ ...decisions[0]!, tenant_id: 'globex' }, receipts[0]!, key.publicKeyPem)).toBe(
      false,
    );
    const forged: Receipt = { ...receipts[1]!, leaf_index: 2 };
    expect(verifyReceipt(decisions[1]!, forged, key.publicKeyPem)).toBe(false);
  });

  it('answers in the turn: a batch is sealed before the next timer fires', async () => {
    const maker = new ReceiptMaker(key, 'merkle');
    // Like a request, start from an I/O callback (the poll phase); the seal must come in this iteration's check
    // phase, before the timers of the next one.
    await new Promise((resolve) => stat('.', resolve));
    let timerFired = false;
    setTimeout(() => {
      timerFired = true;
    }, 0);
    const receipt = await maker.receipt(decision());
    expect(receipt.tree_size).toBe(1);
    expect(timerFired).toBe(false);
  });

  it('keeps per-decision signatures as an option', async () => {
    const maker = new ReceiptMaker(key, 'per-decision');
    const d = decision({ decision: 'BLOCK' });
    const receipt = await maker.receipt(d);
    expect(receipt.receipt_format).toBeUndefined();
    expect(verifyReceipt(d, receipt, key.publicKeyPem)).toBe(true);
    expect(verifyReceipt({ ...d, decision: 'ALLOW' }, receipt, key.publicKeyPem)).toBe(false);
    await key.close();
  });
});

describe('ReceiptMaker under a decision with no JSON form', () => {
  it('fails that decision alone; the batch of another tenant is signed', async () => {
    const maker = new ReceiptMaker(key, 'merkle');
    const bad = maker.receipt(
      decision({ tenant_id: 't1', modified_tool_args: { n: Number.POSITIVE_INFINITY } }),
    );
    const good = maker.receipt(decision({ tenant_id: 't2' }));
    await expect(bad).rejects.toThrow();
    const receipt = await good;
    expect(verifyReceipt(decision({ tenant_id: 't2' }), receipt, key.publicKeyPem)).toBe(true);
    // The next turn's decision of t1 is signed too (no empty batch was left behind).
    expect((await maker.receipt(decision({ tenant_id: 't1' }))).tree_size).toBe(1);
  });
});
