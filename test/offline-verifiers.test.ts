import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  generatePrimeSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import {
  batchHead,
  canonicalJson,
  linkHash,
  merkleTree,
  receiptLeaf,
  type SignedDecision,
} from '@thoth/contracts';
import { describe, expect, it } from 'vitest';
import { uncheckedDecisions, verifyBundle } from '../scripts/verify-bundle.mjs';
import { receiptProblem, signedDecision } from '../scripts/verify-receipt.mjs';

/**
 * The standalone verifiers (scripts/verify-receipt.mjs, scripts/verify-bundle.mjs) against forged and malformed
 * evidence: each case is built from a valid bundle or receipt, signed by Thoth's key where the forgery is an
 * honest server signing rows someone tampered with, and must be refused with a reason, never thrown.
 */

type Json = Record<string, unknown>;
type Row = Json & {
  agent_id: string;
  chain_index: number;
  hash: string;
  previous_hash: string;
  payload: string;
};
const TENANT = 'acme';
const T0 = Date.UTC(2026, 0, 1);

/** An Ed25519 key whose raw 32 bytes end in an odd byte (so an RSA impostor can use them as its exponent). */
function thothKey() {
  for (;;) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
    if ((raw[31]! & 1) === 0) continue;
    const keyId = createHash('sha256').update(raw).digest('hex').slice(0, 16);
    return { privateKey, raw, keyId, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
  }
}
const K = thothKey();
const signed = (key: KeyObject, value: unknown) =>
  sign(null, Buffer.from(canonicalJson(value)), key).toString('base64url');

function relink(rows: Row[]): Row[] {
  const heads = new Map<string, { index: number; hash: string }>();
  return rows.map((row) => {
    const previous = heads.get(row.agent_id) ?? { index: 0, hash: '0'.repeat(64) };
    const linked = { ...row, chain_index: previous.index + 1, previous_hash: previous.hash } as Row;
    linked.hash = linkHash(linked as never, linked.chain_index, linked.previous_hash);
    heads.set(row.agent_id, { index: linked.chain_index, hash: linked.hash });
    return linked;
  });
}

/** Three decisions of one Merkle batch and a behavioral event, linked, checkpointed and signed by Thoth. */
function decisionRows(): Row[] {
  const decisions: SignedDecision[] = [0, 1, 2].map((i) => ({
    decision: i === 1 ? 'BLOCK' : 'ALLOW',
    decision_reason_code: i === 1 ? 'payment_limit' : 'allowed',
    decision_id: `dec_${i}`,
    enforcement_trace_id: `tr_${i}`,
    tenant_id: TENANT,
    agent_id: 'agent-a',
    session_id: 's1',
    tool_name: 'search_docs',
    risk_score: 10 * i,
    issued_at: new Date(T0 + i).toISOString(),
    policy_version: 3,
  }));
  const { root, paths } = merkleTree(decisions.map(receiptLeaf));
  const signedAt = new Date(T0 + 5).toISOString();
  const headSignature = signed(K.privateKey, batchHead(TENANT, K.keyId, root, 3, signedAt));
  const rows = decisions.map((d, i) => ({
    tenant_id: TENANT,
    agent_id: 'agent-a',
    event_id: `${TENANT}:${d.decision_id}`,
    kind: 'decision',
    event_type: 'DECISION',
    session_id: 's1',
    user_id: 'alice',
    tool_name: d.tool_name,
    decision: d.decision,
    reason_code: d.decision_reason_code,
    risk_score: d.risk_score,
    enforcement_mode: 'progressive',
    violation_id: d.decision_id,
    enforcement_trace_id: d.enforcement_trace_id,
    content: 'why',
    occurred_at_ms: T0 + i,
    payload: JSON.stringify({
      policy_version: 3,
      hold_token: null,
      receipt_signature: headSignature,
      receipt_key_id: K.keyId,
      receipt_json: JSON.stringify({
        receipt_format: 'merkle-v1',
        issued_at: d.issued_at,
        tree_size: 3,
        leaf_index: i,
        root,
        audit_path: paths[i],
        signed_at: signedAt,
      }),
    }),
  }));
  const behavioral = {
    ...rows[0]!,
    event_id: 'ev_b1',
    kind: 'behavioral',
    event_type: 'TOOL_CALL_PRE',
    decision: '',
    reason_code: '',
    violation_id: '',
    enforcement_trace_id: '',
    content: 'original content',
    payload: '{}',
    occurred_at_ms: T0 + 10,
  };
  return relink([...rows, behavioral] as unknown as Row[]);
}

function bundleOf(
  records: Row[],
  { key = K.privateKey, keyId = K.keyId, pem = K.pem, checkpointOf = records } = {},
) {
  const heads = new Map<string, Row>();
  for (const r of checkpointOf) heads.set(r.agent_id, r);
  const checkpoint = {
    checkpoint_id: 'chk_1',
    tenant_id: TENANT,
    created_at: new Date(T0 + 20).toISOString(),
    heads: [...heads.values()].map((r) => ({
      agent_id: r.agent_id,
      chain_index: r.chain_index,
      hash: r.hash,
    })),
  };
  const unsigned = {
    bundle_version: 1,
    chain_version: 1,
    tenant_id: TENANT,
    session_id: 's1',
    generated_at: new Date(T0 + 30).toISOString(),
    records,
    checkpoint: { ...checkpoint, signature: signed(key, checkpoint), key_id: keyId },
    public_keys: [{ key_id: keyId, algorithm: 'ed25519', public_key_pem: pem }],
  };
  return {
    ...unsigned,
    signature: { signature: signed(key, unsigned), signing_algorithm: 'ed25519', key_id: keyId },
  };
}

const payloadOf = (row: Row) => JSON.parse(row.payload) as Json;
const withPayload = (row: Row, change: (p: Json) => void): Row => {
  const payload = payloadOf(row);
  change(payload);
  return { ...row, payload: JSON.stringify(payload) };
};

describe('the standalone bundle verifier', () => {
  const rows = decisionRows();

  it('accepts the valid bundle, with its signing key pinned too', () => {
    expect(verifyBundle(bundleOf(rows))).toBeUndefined();
    expect(verifyBundle(bundleOf(rows), { keyId: K.keyId })).toBeUndefined();
  });

  it("refuses a key of another kind listed under Thoth's key id, even when it carries Thoth's key bytes", () => {
    // An RSA key whose public exponent is Thoth's raw Ed25519 key: its encoding ends with those 32 bytes.
    const e = BigInt(`0x${K.raw.toString('hex')}`);
    const gcd = (a: bigint, b: bigint): bigint => (b ? gcd(b, a % b) : a);
    const inverse = (a: bigint, m: bigint) => {
      let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
      while (r1) {
        const q = r0 / r1;
        [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
      }
      return ((s0 % m) + m) % m;
    };
    let p: bigint;
    let q: bigint;
    do {
      p = generatePrimeSync(1024, { bigint: true });
      q = generatePrimeSync(1024, { bigint: true });
    } while (gcd(e, (p - 1n) * (q - 1n)) !== 1n);
    const d = inverse(e, (p - 1n) * (q - 1n));
    const b64 = (x: bigint) =>
      Buffer.from(x.toString(16).padStart(Math.ceil(x.toString(16).length / 2) * 2, '0'), 'hex').toString(
        'base64url',
      );
    const rsa = createPrivateKey({
      key: {
        kty: 'RSA',
        n: b64(p * q),
        e: b64(e),
        d: b64(d),
        p: b64(p),
        q: b64(q),
        dp: b64(d % (p - 1n)),
        dq: b64(d % (q - 1n)),
        qi: b64(inverse(q, p)),
      },
      format: 'jwk',
    });
    const rsaPem = createPublicKey(rsa).export({ type: 'spki', format: 'pem' }).toString();
    const der = createPublicKey(rsaPem).export({ type: 'spki', format: 'der' });
    expect(der.subarray(-32).equals(K.raw)).toBe(true);
    const forged = relink([{ ...rows[3]!, content: 'FORGED: the shell command was never run' }]);
    const problem = verifyBundle(bundleOf(forged, { key: rsa, pem: rsaPem }), { keyId: K.keyId });
    expect(problem).toMatch(/signature does not verify/);
  });

  it('refuses a bundle whose chain was rewritten after the checkpoint signed its head', () => {
    const rewritten = relink([...rows.slice(0, 3), { ...rows[3]!, content: 'rewritten' }]);
    expect(verifyBundle(bundleOf(rewritten, { checkpointOf: rows }))).toMatch(
      /head at chain_index 4 was signed as/,
    );
  });

  it('refuses a decision whose receipt was stripped, or whose payload contradicts its decision', () => {
    const stripped = withPayload({ ...rows[1]!, decision: 'ALLOW' }, (p) => {
      delete p.receipt_signature;
      delete p.receipt_key_id;
      delete p.receipt_json;
    });
    expect(verifyBundle(bundleOf(relink([rows[0]!, stripped, rows[2]!])))).toMatch(/has no receipt/);
    const modify = withPayload(rows[1]!, (p) => {
      delete p.receipt_json;
      p.decision = 'MODIFY';
    });
    expect(verifyBundle(bundleOf(relink([rows[0]!, { ...modify, decision: 'ALLOW' }])))).toMatch(
      /contradicts/,
    );
    // The receipt is checked against the signed values: a payload that keeps them while the columns people read
    // say otherwise is a forgery too.
    const relabelled = withPayload({ ...rows[1]!, tool_name: 'read_docs', risk_score: 0 }, (p) => {
      p.tool_name = rows[1]!.tool_name;
      p.risk_score = rows[1]!.risk_score;
    });
    expect(verifyBundle(bundleOf(relink([rows[0]!, relabelled, rows[2]!])))).toMatch(/payload's tool_name/);
  });

  it('lists a MODIFY with a per-decision receipt as not checked: its signature covers arguments kept redacted', () => {
    const modify = withPayload({ ...rows[1]!, decision: 'MODIFY' }, (p) => {
      delete p.receipt_json;
    });
    const bundle = bundleOf(relink([rows[0]!, modify, rows[2]!]));
    expect(verifyBundle(bundle)).toBeUndefined();
    expect(uncheckedDecisions(bundle).map((r) => r.violation_id)).toEqual(['dec_1']);
    expect(uncheckedDecisions(bundleOf(rows))).toEqual([]);
  });

  it('counts approvers as the server does: once each, and only people where more than one is required', () => {
    const digest = 'a'.repeat(64);
    const approval = (required: number, voters: Array<[string, string | null, string]>): Row => ({
      ...rows[3]!,
      event_id: 'ev_apr',
      kind: 'approval',
      event_type: 'APPROVAL_APPROVED',
      tool_name: 'wire_transfer',
      payload: JSON.stringify({
        approval_id: 'apr_1',
        tool_name: 'wire_transfer',
        args_digest: digest,
        policy_version: 4,
        approvals_required: required,
        status: 'approved',
        votes: voters.map(([kind, keyId, name], i) => ({
          principal: { kind, issuer: null, subject: null, email: null, key_id: keyId, name },
          decision: 'approve',
          comment: null,
          at: T0 + 100 + i,
          args_digest: digest,
          policy_version: 4,
        })),
      }),
    });
    const verdict = (row: Row) => verifyBundle(bundleOf(relink([...rows, row])));
    expect(verdict(approval(1, [['key', 'k1', 'ops']]))).toBeUndefined();
    type Voters = Array<[string, string | null, string]>;
    const refused: Array<[string, number, Voters]> = [
      [
        'one key under two names',
        2,
        [
          ['key', 'k1', 'ops'],
          ['key', 'k1', 'ops-renamed'],
        ],
      ],
      [
        'two keys, not two people',
        2,
        [
          ['key', 'k1', 'ops'],
          ['key', 'k2', 'ops-2'],
        ],
      ],
      [
        'the admin token twice',
        2,
        [
          ['admin-token', null, 'root'],
          ['admin-token', null, 'root2'],
        ],
      ],
      ['none required is still one', 0, []],
    ];
    for (const [why, required, voters] of refused)
      expect(verdict(approval(required, voters)), why).toMatch(/distinct approver/);
  });

  it('refuses a record whose chain index is not a positive integer', () => {
    const fractional = { ...rows[2]!, chain_index: 2.5 } as Row;
    fractional.hash = linkHash(fractional as never, 2.5, fractional.previous_hash);
    expect(verifyBundle(bundleOf([rows[0]!, rows[1]!, fractional, rows[3]!]))).toMatch(
      /not a positive integer/,
    );
  });

  it('answers malformed input with a reason, never an exception', () => {
    const valid = bundleOf(rows);
    const cases: unknown[] = [
      null,
      [],
      { ...valid, public_keys: { a: 1 } },
      { ...valid, signature: { ...valid.signature, signature: 42 } },
      { ...valid, checkpoint: { ...valid.checkpoint, signature: undefined } },
      { ...valid, records: [null] },
    ];
    for (const bundle of cases) expect(() => verifyBundle(bundle)).not.toThrow();
    for (const bundle of cases)
      expect(verifyBundle(bundle), JSON.stringify(bundle)?.slice(0, 80)).toBeDefined();
  });
});

describe('the standalone receipt verifier', () => {
  const decision: SignedDecision = {
    decision: 'MODIFY',
    decision_reason_code: 'redacted',
    decision_id: 'dec_pd',
    enforcement_trace_id: 'tr_pd',
    tenant_id: TENANT,
    agent_id: 'agent-a',
    session_id: 's1',
    tool_name: 'search_docs',
    risk_score: 5,
    issued_at: new Date(T0).toISOString(),
    modified_tool_args: { max_results: null },
    policy_version: 3,
  };
  const receipt = {
    signature: signed(K.privateKey, decision),
    signing_algorithm: 'ed25519',
    key_id: K.keyId,
    issued_at: decision.issued_at,
  };
  const request = { tenant_id: TENANT, agent_id: 'agent-a', session_id: 's1', tool_name: 'search_docs' };
  const response = (changes: Json = {}) => ({ ...decision, receipt, ...changes });

  it('accepts the valid per-decision receipt', () => {
    expect(receiptProblem(signedDecision(request, response()), receipt, K.pem)).toBeUndefined();
  });

  it('refuses a number with no JSON form where the signature covered null', () => {
    const answer = response({ modified_tool_args: { max_results: Number.POSITIVE_INFINITY } });
    expect(receiptProblem(signedDecision(request, answer), receipt, K.pem)).toMatch(/malformed/);
  });

  it('refuses another spelling of the signature and a key id that is not the key', () => {
    const decided = signedDecision(request, response());
    // The last of 86 characters carries 4 unused bits: flipping one spells the same 64 bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(receipt.signature.at(-1)!);
    const sameBytes = receipt.signature.slice(0, -1) + alphabet[last ^ 1];
    expect(Buffer.from(sameBytes, 'base64url').equals(Buffer.from(receipt.signature, 'base64url'))).toBe(
      true,
    );
    for (const signature of [
      `${receipt.signature}==`,
      `${receipt.signature}!!!*`,
      ` ${receipt.signature}`,
      sameBytes,
    ])
      expect(receiptProblem(decided, { ...receipt, signature }, K.pem), signature).toBeDefined();
    expect(receiptProblem(decided, { ...receipt, key_id: 'c46ec9d55e464998' }, K.pem)).toMatch(/names key/);
  });

  it('answers malformed input with a reason, never an exception', () => {
    for (const [d, r] of [
      [null, receipt],
      [signedDecision(request, response()), null],
      [signedDecision(request, response()), { ...receipt, signature: 7 }],
    ] as const) {
      expect(() => receiptProblem(d as never, r, K.pem)).not.toThrow();
      expect(receiptProblem(d as never, r, K.pem)).toBeDefined();
    }
    expect(receiptProblem(signedDecision(request, response()), receipt, 'not a key')).toMatch(
      /not an Ed25519/,
    );
  });
});
