import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SignedDecision } from '@thoth/contracts';
// The server's own code, to check that the SDK's port agrees with it (the SDK cannot depend on it).
import {
  merkleTree,
  canonicalJson as serverCanonicalJson,
  leafHash as serverLeafHash,
} from '@thoth/contracts';
import { ReceiptMaker, SigningKey } from '@thoth/platform';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson, leafHash, signedDecision, verifyInclusion, verifyReceipt } from './receipts.ts';

const dir = mkdtempSync(join(tmpdir(), 'sdk-receipts-'));
const key = SigningKey.loadOrCreate(join(dir, 'key.pem'));

afterAll(async () => {
  await key.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('canonical JSON', () => {
  it("prints what the server's canonical JSON prints", () => {
    const values: unknown[] = [
      null,
      true,
      0,
      -0,
      1.5,
      1e21,
      1e-7,
      123456789.125,
      -(2 ** 60),
      'plain',
      'quote " backslash \\ newline \n tab \t nul \u0000 del \u007f',
      'lone \ud800 surrogate, pair 😀, BOM \ufeff',
      [1, undefined, null, { b: 1, a: [2, { d: undefined, c: 3 }] }],
      { '😀': 1, '\uff01': 2, é: 3, Z: 4, a: 5, '': 6, a1: 7, 'a\u0000': 8 },
      { nested: { z: [{ y: 1, x: 2 }], when: new Date(0) } },
    ];
    for (const value of values) expect(canonicalJson(value)).toBe(serverCanonicalJson(value));
    expect(() => canonicalJson(Number.NaN)).toThrow(RangeError);
  });
});

describe('RFC 9162 inclusion', () => {
  it("verifies every leaf of the server's trees of 1 to 40 leaves, and nothing else", () => {
    for (let size = 1; size <= 40; size++) {
      const leaves = Array.from({ length: size }, (_, i) => serverLeafHash(`leaf ${i}`));
      const { root, paths } = merkleTree(leaves);
      for (let i = 0; i < size; i++) {
        expect(leafHash(`leaf ${i}`)).toBe(leaves[i]);
        expect(verifyInclusion(leaves[i]!, i, size, paths[i]!, root), `${i} of ${size}`).toBe(true);
        if (size > 1) {
          expect(verifyInclusion(leaves[i]!, (i + 1) % size, size, paths[i]!, root)).toBe(false);
          expect(verifyInclusion(leaves[(i + 1) % size]!, i, size, paths[i]!, root)).toBe(false);
        }
        expect(verifyInclusion(leaves[i]!, i, size, paths[i]!, serverLeafHash('another root'))).toBe(false);
        expect(verifyInclusion(leaves[i]!, i, size, [...paths[i]!, root], root)).toBe(false);
        // (The size alone is not bound by the path — leaf 0 of 3 has the path it has in 4 — but by the signed
        // batch head: see the receipt tests.)
      }
    }
  });
});

function decision(i: number, extra: Partial<SignedDecision> = {}): SignedDecision {
  return {
    decision: 'ALLOW',
    decision_reason_code: 'allowed',
    decision_id: `01J0000000000000000000000${i}`.slice(0, 26),
    enforcement_trace_id: `trace-${i}`,
    tenant_id: 'acme-corp',
    agent_id: 'agent',
    session_id: `session-${i}`,
    tool_name: 'search_docs',
    risk_score: i / 7,
    issued_at: new Date(1_700_000_000_000 + i).toISOString(),
    policy_version: 3,
    ...extra,
  };
}

/** The request and answer that carry `signed`, as the SDK sees them. */
function exchange(signed: SignedDecision, receipt: unknown) {
  const request = {
    tenant_id: signed.tenant_id,
    agent_id: signed.agent_id,
    session_id: signed.session_id,
    tool_name: signed.tool_name,
  };
  const response: Record<string, unknown> = {
    decision: signed.decision,
    decision_reason_code: signed.decision_reason_code,
    decision_id: signed.decision_id,
    enforcement_trace_id: signed.enforcement_trace_id,
    risk_score: signed.risk_score,
    policy_version: signed.policy_version,
    receipt,
  };
  if (signed.hold_token) response.hold_token = signed.hold_token;
  if (signed.modified_tool_args !== undefined) response.modified_tool_args = signed.modified_tool_args;
  return { request, response: JSON.parse(JSON.stringify(response)) as Record<string, unknown> };
}

describe("the server's receipts", () => {
  const decisions = [
    decision(1),
    decision(2, { decision: 'BLOCK', decision_reason_code: 'payment_limit' }),
    decision(3, { decision: 'STEP_UP', hold_token: 'hold-3' }),
    decision(4, {
      decision: 'MODIFY',
      modified_tool_args: { amount: 12.5, note: 'ключ 😀', n: [1e21, 1e-7] },
    }),
    decision(5, { decision: 'DEFER' }),
  ];

  it('verifies a Merkle batch and refuses a changed answer', async () => {
    const maker = new ReceiptMaker(key, 'merkle');
    const receipts = await Promise.all(decisions.map((d) => maker.receipt(d)));
    expect(receipts[0]!.tree_size).toBe(decisions.length);
    for (const [i, signed] of decisions.entries()) {
      const { request, response } = exchange(signed, receipts[i]);
      expect(signedDecision(request, response)).toEqual(JSON.parse(JSON.stringify(signed)));
      expect(verifyReceipt(request, response, key.publicKeyPem)).toEqual({ valid: true });
      const forged = { ...response, risk_score: 0.99 };
      expect(verifyReceipt(request, forged, key.publicKeyPem)).toEqual({
        valid: false,
        reason: 'the decision is not the leaf its audit path leads from to the root',
      });
    }
  });

  it('verifies per-decision receipts', async () => {
    const maker = new ReceiptMaker(key, 'per-decision');
    for (const signed of decisions) {
      const { request, response } = exchange(signed, await maker.receipt(signed));
      expect(verifyReceipt(request, response, key.publicKeyPem)).toEqual({ valid: true });
      expect(verifyReceipt({ ...request, agent_id: 'other' }, response, key.publicKeyPem)).toEqual({
        valid: false,
        reason: 'the signature does not verify',
      });
    }
  });

  it('says why an answer without a usable receipt or key fails', () => {
    const { request, response } = exchange(decision(9), undefined);
    expect(verifyReceipt(request, response, key.publicKeyPem).reason).toBe('the answer carries no receipt');
    const odd = { signature: 'x', signing_algorithm: 'rsa', key_id: key.keyId, issued_at: 'now' };
    expect(verifyReceipt(request, { ...response, receipt: odd }, key.publicKeyPem).reason).toMatch(
      /unknown signing algorithm/,
    );
    const ed = { ...odd, signing_algorithm: 'ed25519' };
    expect(verifyReceipt(request, { ...response, receipt: ed }, 'not a key').reason).toMatch(
      /not an Ed25519/,
    );
    expect(
      verifyReceipt(request, { ...response, receipt: { ...ed, receipt_format: 'v9' } }, key.publicKeyPem)
        .reason,
    ).toMatch(/unknown receipt format/);
  });
});
