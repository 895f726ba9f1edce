import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { DecisionEvent } from '@thoth/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The third party's verifier (docs/receipts.md), not the service's code: a receipt must verify from the public key
// and the answer alone.
import { receiptProblem, signedDecision } from '../scripts/verify-receipt.mjs';
import { enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { waitFor } from './helpers.ts';

type Json = Record<string, unknown>;

const POLICY = {
  rules: [
    {
      id: 'block-large-payment',
      condition: 'tool == "submit_payment" && args.amount > 10000',
      effect: 'BLOCK',
      reason: 'payments above 10,000 are blocked',
      reason_code: 'payment_limit',
    },
    {
      id: 'redact-card',
      condition: 'tool == "charge_card"',
      effect: 'MODIFY',
      reason: 'card numbers are redacted',
      modify: { redact: ['card_number'] },
    },
    { id: 'approve-wire', condition: 'tool == "wire_transfer"', effect: 'STEP_UP', reason: 'needs a human' },
  ],
};

/** One request of each decision kind, several of each, so a batch holds a mix. */
function requests(prefix: string): Json[] {
  const out: Json[] = [];
  for (let i = 0; i < 8; i++) {
    out.push(enforceBody({ session_id: `${prefix}-s${i}`, tool_name: 'search_docs' }));
    out.push(
      enforceBody({
        session_id: `${prefix}-s${i}`,
        tool_name: 'submit_payment',
        approved_scope: ['submit_payment'],
        tool_args: { amount: 20_000 + i },
      }),
    );
    out.push(
      enforceBody({
        session_id: `${prefix}-s${i}`,
        tool_name: 'charge_card',
        approved_scope: ['charge_card'],
        tool_args: { card_number: `4111 1111 1111 111${i}`, amount: i },
      }),
    );
    out.push(
      enforceBody({
        session_id: `${prefix}-s${i}`,
        tool_name: 'wire_transfer',
        approved_scope: ['wire_transfer'],
      }),
    );
  }
  return out;
}

async function decideAll(api: TestApi, bodies: Json[]): Promise<Json[]> {
  // Sent together, so they are decided in one turn of the event loop and share a batch.
  const answers = await Promise.all(
    bodies.map((payload) =>
      api.inject({
        method: 'POST',
        url: '/v1/enforce',
        headers: { authorization: `Bearer ${api.key}` },
        payload,
      }),
    ),
  );
  for (const a of answers) expect(a.statusCode, a.body).toBe(200);
  return answers.map((a) => a.json() as Json);
}

async function publicKey(api: TestApi, keyId: string): Promise<string> {
  const keys = (await api.inject({ method: 'GET', url: '/v1/keys/receipt' })).json() as {
    keys: Array<{ key_id: string; public_key_pem: string }>;
  };
  return keys.keys.find((k) => k.key_id === keyId)!.public_key_pem;
}

describe('Merkle batch receipts (the default)', () => {
  let api: TestApi;
  let bodies: Json[];
  let answers: Json[];
  let pem: string;
  beforeAll(async () => {
    api = await startTestApi({ policy: POLICY });
    bodies = requests('merkle');
    answers = await decideAll(api, bodies);
    pem = await publicKey(api, (answers[0]!.receipt as Json).key_id as string);
  });
  afterAll(async () => {
    await api.close();
  });

  it('batches the decisions of a turn under one signature, and every one of them verifies', () => {
    const receipts = answers.map((a) => a.receipt as Json);
    expect(new Set(answers.map((a) => a.decision))).toEqual(new Set(['ALLOW', 'BLOCK', 'MODIFY', 'STEP_UP']));
    expect(receipts[0]).toMatchObject({ receipt_format: 'merkle-v1', signing_algorithm: 'ed25519' });
    const sizes = receipts.map((r) => r.tree_size as number);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    const roots = new Set(receipts.map((r) => r.root));
    expect(roots.size).toBeLessThan(receipts.length);
    for (const [i, answer] of answers.entries()) {
      expect(
        receiptProblem(signedDecision(bodies[i]!, answer), answer.receipt, pem),
        `answer ${i}`,
      ).toBeUndefined();
    }
  });

  it('fails when any field of any decision, the index, the path or the root changes', () => {
    const changes: Array<[string, (d: Json, r: Json) => void]> = [
      ['decision', (d) => (d.decision = d.decision === 'ALLOW' ? 'BLOCK' : 'ALLOW')],
      ['decision_reason_code', (d) => (d.decision_reason_code = 'other')],
      ['decision_id', (d) => (d.decision_id = '01ARZ3NDEKTSV4RRFFQ69G5FAV')],
      ['enforcement_trace_id', (d) => (d.enforcement_trace_id = 'another-trace')],
      ['tenant_id', (d) => (d.tenant_id = 'other-tenant')],
      ['agent_id', (d) => (d.agent_id = 'other-agent')],
      ['session_id', (d) => (d.session_id = 'other-session')],
      ['tool_name', (d) => (d.tool_name = 'delete_everything')],
      ['risk_score', (d) => (d.risk_score = (d.risk_score as number) + 1)],
      ['policy_version', (d) => (d.policy_version = (d.policy_version as number) + 1)],
      ['hold_token', (d) => (d.hold_token = 'a-forged-hold')],
      ['modified_tool_args', (d) => (d.modified_tool_args = { card_number: '4111 1111 1111 1111' })],
      ['issued_at', (d, r) => (d.issued_at = r.issued_at = '2030-01-01T00:00:00.000Z')],
      ['leaf_index', (_d, r) => (r.leaf_index = ((r.leaf_index as number) + 1) % (r.tree_size as number))],
      ['tree_size', (_d, r) => (r.tree_size = (r.tree_size as number) + 1)],
      ['audit_path', (_d, r) => (r.audit_path = [...(r.audit_path as string[]).slice(1), 'a'.repeat(64)])],
      ['root', (_d, r) => (r.root = 'b'.repeat(64))],
      ['signed_at', (_d, r) => (r.signed_at = '2030-01-01T00:00:00.000Z')],
      ['signature', (_d, r) => (r.signature = `A${(r.signature as string).slice(1)}`)],
    ];
    for (const [i, answer] of answers.entries()) {
      const receipt = answer.receipt as Json;
      for (const [name, change] of changes) {
        const decision = signedDecision(bodies[i]!, answer) as Json;
        const forged = structuredClone(receipt);
        change(decision, forged);
        // A field that cannot differ for this decision (no hold to forge on an ALLOW…) still must not verify
        // once it is set: it was not in the leaf.
        expect(receiptProblem(decision, forged, pem), `${name} changed on answer ${i}`).toBeDefined();
      }
    }
  });

  it('takes no path element for proof that is not 64 hex digits, even one that decodes to the right bytes', () => {
    // Hex decoding reads a UTF-16 unit's low byte and stops at a pair that is not hex: U+0130 reads as '0', and a
    // 65th character is ignored. Either would leave the bytes, and so the root, unchanged.
    const lookalike = (hex: string) => String.fromCharCode(0x100 + hex.charCodeAt(0)) + hex.slice(1);
    let checked = 0;
    for (const [i, answer] of answers.entries()) {
      const receipt = answer.receipt as Json;
      const path = receipt.audit_path as string[];
      if (path.length === 0) continue;
      const decision = signedDecision(bodies[i]!, answer);
      for (const element of [lookalike(path[0]!), `${path[0]}0`, ` ${path[0]!.slice(1)}`]) {
        const forged = { ...receipt, audit_path: [element, ...path.slice(1)] };
        expect(receiptProblem(decision, forged, pem), JSON.stringify(element)).toBeDefined();
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('stores each batch head and audit path in the decision event, anchored in the trail', async () => {
    const events = () =>
      api
        .records()
        .filter((d) => d.schema === 'thoth.v1.DecisionEvent')
        .map((d) => (d as { value: DecisionEvent }).value)
        .filter((e) => answers.some((a) => a.decision_id === e.violation_id));
    await waitFor('the decision events', () => events().length === answers.length);
    for (const event of events()) {
      const answer = answers.find((a) => a.decision_id === event.violation_id)!;
      const receipt = answer.receipt as Json;
      expect(event.receipt_signature).toBe(receipt.signature);
      const stored = JSON.parse(event.receipt_json!) as Json;
      expect(stored).toMatchObject({
        root: receipt.root,
        leaf_index: receipt.leaf_index,
        tree_size: receipt.tree_size,
        audit_path: receipt.audit_path,
      });
      // The trail keeps MODIFY's arguments redacted: the leaf's digest of them is what it keeps instead.
      expect(stored.modified_tool_args_sha256 !== undefined).toBe(answer.decision === 'MODIFY');
    }
  });

  it('verifies offline from the command line with the public key alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'receipt-'));
    const script = resolve(import.meta.dirname, '../scripts/verify-receipt.mjs');
    writeFileSync(join(dir, 'request.json'), JSON.stringify(bodies[2]));
    writeFileSync(join(dir, 'response.json'), JSON.stringify(answers[2]));
    writeFileSync(join(dir, 'forged.json'), JSON.stringify({ ...answers[2], risk_score: 77 }));
    writeFileSync(join(dir, 'key.pem'), pem);
    const run = promisify(execFile);
    const ok = await run(process.execPath, [
      script,
      join(dir, 'request.json'),
      join(dir, 'response.json'),
      join(dir, 'key.pem'),
    ]);
    expect(ok.stdout).toMatch(/^VALID: MODIFY/);
    await expect(
      run(process.execPath, [
        script,
        join(dir, 'request.json'),
        join(dir, 'forged.json'),
        join(dir, 'key.pem'),
      ]),
    ).rejects.toMatchObject({ code: 1 });
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('per-decision receipts (THOTH_RECEIPTS=per-decision)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ policy: POLICY, env: { THOTH_RECEIPTS: 'per-decision' } });
  });
  afterAll(async () => {
    await api.close();
  });

  it('signs each decision on its own, and the same verifier checks it', async () => {
    const bodies = requests('single').slice(0, 4);
    const answers = await decideAll(api, bodies);
    const pem = await publicKey(api, (answers[0]!.receipt as Json).key_id as string);
    const signatures = new Set(answers.map((a) => (a.receipt as Json).signature));
    expect(signatures.size).toBe(answers.length);
    for (const [i, answer] of answers.entries()) {
      expect(answer.receipt).not.toHaveProperty('receipt_format');
      const decision = signedDecision(bodies[i]!, answer);
      expect(receiptProblem(decision, answer.receipt, pem)).toBeUndefined();
      expect(receiptProblem({ ...decision, risk_score: 99 }, answer.receipt, pem)).toBeDefined();
    }
  });
});
