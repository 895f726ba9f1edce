import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ReceiptVerificationMode,
  type ThothOptions,
  ThothPolicyViolation,
  verifyReceipt,
  wrapTool,
} from '../src/index.ts';
import { type EmbeddedThoth, resolveApproval, startEmbeddedThoth, TENANT } from './support/embedded-thoth.ts';
import { startTamperProxy, type TamperProxy } from './support/tamper-proxy.ts';

/**
 * Receipt verification (docs/receipts.md) against real Thoth processes, one per receipt form: the standalone
 * `verifyReceipt` on answers of every kind, tampered answers, and the SDK's `verifyReceipts` modes behind a
 * proxy that alters the answers on their way (a man in the middle).
 */

const POLICY = `
rules:
  - id: block-large-payment
    condition: tool == "submit_payment" && args.amount > 10000
    effect: BLOCK
    reason: payments above 10,000 are blocked
    reason_code: payment_limit
  - id: redact-card
    tools: [charge_card]
    condition: has(args.card_number)
    effect: MODIFY
    reason: card numbers are redacted
    modify: { redact: [card_number] }
  - id: defer-exports
    condition: tool == "export_records"
    effect: DEFER
    reason: bulk exports run outside business hours
    defer_timeout_seconds: 45
  - id: approve-wires
    condition: tool == "wire_transfer"
    effect: STEP_UP
    reason: wire transfers need a human approval
    step_up_timeout_seconds: 30
`;

type Json = Record<string, unknown>;

let merkle: EmbeddedThoth;
let perDecision: EmbeddedThoth;

beforeAll(async () => {
  [merkle, perDecision] = await Promise.all([
    startEmbeddedThoth(POLICY, { THOTH_RECEIPTS: 'merkle' }),
    startEmbeddedThoth(POLICY, { THOTH_RECEIPTS: 'per-decision' }),
  ]);
});

afterAll(async () => {
  await Promise.all([merkle?.dispose(), perDecision?.dispose()]);
});

/** Arguments that exercise canonical JSON: floats, exponents, non-ASCII keys sorted by UTF-16 code units. */
const CARD_ARGS = {
  card_number: '4111 1111 1111 1111',
  amount: 12.5,
  rate: 1e-7,
  big: 1e21,
  count: 3,
  ключ: 'значение',
  '😀': 'emoji key',
  '\uff01': 'fullwidth',
  note: 'line\nbreak "quoted" \u0001',
};

/** One enforce request of each decision kind (ALLOW, BLOCK, MODIFY, STEP_UP, DEFER). */
function bodies(round: string): Json[] {
  const body = (tool_name: string, tool_args: Json, i: number): Json => ({
    agent_id: 'receipt-agent',
    tenant_id: TENANT,
    tool_name,
    session_id: `${round}-${i}`,
    user_id: 'system',
    approved_scope: [],
    enforcement_mode: 'progressive',
    environment: 'prod',
    enforcement_trace_id: randomUUID(),
    request_id: randomUUID(),
    tool_args,
  });
  const out: Json[] = [];
  for (let i = 0; i < 3; i++) {
    out.push(body('search_docs', { query: `q${i}` }, i));
    out.push(body('submit_payment', { amount: 50_000 + i }, i));
    out.push(body('charge_card', { ...CARD_ARGS, count: i }, i));
    out.push(body('wire_transfer', { amount: 700 + i }, i));
    out.push(body('export_records', {}, i));
  }
  return out;
}

/**
 * Sent at once, so that the API decides them in one turn of its event loop and they share a Merkle batch:
 * pipelined on one connection (HTTP/1.1), written in one go, then the answers read in order. (Separate
 * connections, even written together, are often read in separate turns.)
 */
async function enforceAll(thoth: EmbeddedThoth, requests: Json[]): Promise<Json[]> {
  const wire = requests
    .map((request) => {
      const payload = Buffer.from(JSON.stringify(request));
      const head =
        `POST /v1/enforce HTTP/1.1\r\nHost: 127.0.0.1:${thoth.port}\r\ncontent-type: application/json\r\n` +
        `authorization: Bearer ${thoth.agentKey}\r\ncontent-length: ${payload.length}\r\n\r\n`;
      return Buffer.concat([Buffer.from(head), payload]);
    })
    .reduce((all, one) => Buffer.concat([all, one]), Buffer.alloc(0));
  const socket = connect(thoth.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(wire);
  let received = Buffer.alloc(0);
  const answers: Json[] = [];
  for await (const chunk of socket) {
    received = Buffer.concat([received, chunk as Buffer]);
    for (;;) {
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) break;
      const head = received.subarray(0, end).toString();
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1]);
      expect(length, head).toBeGreaterThan(0);
      if (received.length < end + 4 + length) break;
      const body = received.subarray(end + 4, end + 4 + length).toString();
      expect(head.split(' ')[1], body).toBe('200');
      answers.push(JSON.parse(body) as Json);
      received = received.subarray(end + 4 + length);
    }
    if (answers.length === requests.length) break;
  }
  socket.destroy();
  expect(answers).toHaveLength(requests.length);
  return answers;
}

async function publicKeyPem(thoth: EmbeddedThoth, keyId: string): Promise<string> {
  const response = await fetch(`${thoth.url}/v1/keys/receipt`);
  const list = (await response.json()) as { keys: { key_id: string; public_key_pem: string }[] };
  const key = list.keys.find((k) => k.key_id === keyId);
  if (!key) throw new Error(`key ${keyId} is not listed`);
  return key.public_key_pem;
}

const receiptOf = (answer: Json) => answer.receipt as Json;
const flipHex = (hex: string) => `${hex[0] === 'a' ? 'b' : 'a'}${hex.slice(1)}`;
/** The first character: every bit of it is signature (the last one carries padding bits). */
const flipSignature = (sig: string) => `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;

describe('verifyReceipt on real answers', () => {
  let requests: Json[];
  let answers: Json[];
  let pem: string;

  beforeAll(async () => {
    // Until a batch of three or more is seen (pipelined requests share one turn).
    for (let round = 0; round < 10; round++) {
      requests = bodies(`merkle-${round}`);
      answers = await enforceAll(merkle, requests);
      if (answers.some((a) => (receiptOf(a).tree_size as number) >= 3)) break;
    }
    pem = await publicKeyPem(merkle, receiptOf(answers[0]!).key_id as string);
  });

  it('Merkle form: every kind of decision verifies, several in one batch', () => {
    expect(new Set(answers.map((a) => a.decision))).toEqual(
      new Set(['ALLOW', 'BLOCK', 'MODIFY', 'STEP_UP', 'DEFER']),
    );
    expect(Math.max(...answers.map((a) => receiptOf(a).tree_size as number))).toBeGreaterThanOrEqual(3);
    for (const [i, answer] of answers.entries()) {
      expect(receiptOf(answer).receipt_format).toBe('merkle-v1');
      expect(verifyReceipt(requests[i], answer, pem), `${answer.decision} answer ${i}`).toEqual({
        valid: true,
      });
    }
    const modified = answers.find((a) => a.decision === 'MODIFY')!;
    expect(modified.modified_tool_args).toMatchObject({ card_number: '[REDACTED]', rate: 1e-7, big: 1e21 });
  });

  it('Merkle form: a changed decision, index, path, root, size, time or signature fails, with a reason', () => {
    const changes: [string, (answer: Json, receipt: Json) => void][] = [
      ['decision', (a) => (a.decision = a.decision === 'ALLOW' ? 'BLOCK' : 'ALLOW')],
      ['decision_reason_code', (a) => (a.decision_reason_code = 'allowed_by_proxy')],
      ['risk_score', (a) => (a.risk_score = (a.risk_score as number) + 0.5)],
      ['policy_version', (a) => (a.policy_version = (a.policy_version as number) + 1)],
      ['hold_token', (a) => (a.hold_token = 'forged-hold')],
      ['modified_tool_args', (a) => (a.modified_tool_args = { ...CARD_ARGS })],
      ['leaf_index', (_a, r) => (r.leaf_index = ((r.leaf_index as number) + 1) % (r.tree_size as number))],
      [
        'audit_path',
        (_a, r) => (r.audit_path = (r.audit_path as string[]).map((p, i) => (i ? p : flipHex(p)))),
      ],
      ['root', (_a, r) => (r.root = flipHex(r.root as string))],
      ['tree_size', (_a, r) => (r.tree_size = (r.tree_size as number) + 1)],
      ['signed_at', (_a, r) => (r.signed_at = '2030-01-01T00:00:00.000Z')],
      ['signature', (_a, r) => (r.signature = flipSignature(r.signature as string))],
    ];
    let checked = 0;
    for (const [i, answer] of answers.entries()) {
      const receipt = receiptOf(answer);
      if ((receipt.tree_size as number) < 2) continue; // an index and a path to change
      for (const [name, change] of changes) {
        const forged = structuredClone(answer);
        change(forged, receiptOf(forged));
        const verdict = verifyReceipt(requests[i], forged, pem);
        expect(verdict.valid, `${name} changed on ${answer.decision} answer ${i}`).toBe(false);
        expect(verdict.reason).toMatch(/leaf its audit path|batch signature|malforms/);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(3 * changes.length);
    // And the request side: an answer replayed for another agent's call.
    expect(verifyReceipt({ ...requests[0], agent_id: 'another-agent' }, answers[0], pem).valid).toBe(false);
  });

  it('per-decision form: every kind verifies; a changed decision or signature fails', async () => {
    const sent = bodies('per-decision');
    const got = await enforceAll(perDecision, sent);
    const key = await publicKeyPem(perDecision, receiptOf(got[0]!).key_id as string);
    for (const [i, answer] of got.entries()) {
      expect(receiptOf(answer).receipt_format).toBeUndefined();
      expect(verifyReceipt(sent[i], answer, key), `${answer.decision} answer ${i}`).toEqual({ valid: true });
      const flipped = structuredClone(answer);
      flipped.decision = answer.decision === 'ALLOW' ? 'BLOCK' : 'ALLOW';
      expect(verifyReceipt(sent[i], flipped, key)).toEqual({
        valid: false,
        reason: 'the signature does not verify',
      });
      const badSignature = structuredClone(answer);
      receiptOf(badSignature).signature = flipSignature(receiptOf(answer).signature as string);
      expect(verifyReceipt(sent[i], badSignature, key).valid).toBe(false);
    }
    // The key of the other process does not verify these.
    expect(verifyReceipt(sent[0], got[0], pem)).toMatchObject({ valid: false });
  });
});

describe('the verifyReceipts option', () => {
  let proxy: TamperProxy;
  let warnings: string[];

  afterAll(async () => {
    await proxy?.close();
  });

  async function through(thoth: EmbeddedThoth): Promise<void> {
    await proxy?.close();
    proxy = await startTamperProxy(thoth.url);
    warnings = [];
  }

  function options(verifyReceipts: ReceiptVerificationMode, extra: Partial<ThothOptions> = {}): ThothOptions {
    return {
      agentId: 'receipt-sdk-agent',
      tenantId: TENANT,
      apiUrl: proxy.url,
      apiKey: merkle.agentKey,
      telemetry: false,
      stepUpPollIntervalMs: 100,
      verifyReceipts,
      logger: { warn: (message) => warnings.push(message) },
      ...extra,
    };
  }

  async function violationOf(promise: Promise<unknown>): Promise<ThothPolicyViolation> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ThothPolicyViolation);
    return error as ThothPolicyViolation;
  }

  const turnBlockIntoAllow = (answer: Json) => {
    if (answer.decision !== 'BLOCK') return;
    answer.decision = 'ALLOW';
    answer.authorization_decision = 'ALLOW';
    answer.decision_reason_code = 'allowed';
  };

  for (const form of ['merkle', 'per-decision'] as const) {
    it(`enforce (${form}): honest answers are acted on — ALLOW, BLOCK, MODIFY, STEP_UP`, async () => {
      const thoth = form === 'merkle' ? merkle : perDecision;
      await through(thoth);
      const apiKey = thoth.agentKey;
      const search = wrapTool('search_docs', (q: string) => `found ${q}`, options('enforce', { apiKey }));
      await expect(search('x')).resolves.toBe('found x');
      const pay = wrapTool(
        'submit_payment',
        (_p: { amount: number }) => 'paid',
        options('enforce', { apiKey }),
      );
      expect(await violationOf(pay({ amount: 50_000 }))).toMatchObject({
        decisionReasonCode: 'payment_limit',
      });
      const charge = wrapTool('charge_card', (card: Json) => card, options('enforce', { apiKey }));
      await expect(charge({ ...CARD_ARGS })).resolves.toMatchObject({ card_number: '[REDACTED]', big: 1e21 });
      const sessionId = randomUUID();
      const wire = wrapTool(
        'wire_transfer',
        (n: number) => `sent ${n}`,
        options('enforce', { apiKey, sessionId }),
      );
      const call = wire(700);
      await resolveApproval(thoth, sessionId, 'wire_transfer', 'approve');
      await expect(call).resolves.toBe('sent 700');
      expect(warnings).toEqual([]);
      expect(proxy.keyFetches).toBe(1); // fetched once, then cached
    });
  }

  it('enforce: a BLOCK turned into an ALLOW on the way blocks, whatever failOpen says', async () => {
    await through(merkle);
    proxy.tamper = turnBlockIntoAllow;
    let ran = false;
    const pay = wrapTool(
      'submit_payment',
      (_p: { amount: number }) => {
        ran = true;
      },
      options('enforce', { failOpen: true }),
    );
    const violation = await violationOf(pay({ amount: 50_000 }));
    expect(violation).toMatchObject({ decision: 'BLOCK', decisionReasonCode: 'receipt_invalid' });
    expect(violation.reason).toMatch(/failed receipt verification: the decision is not the leaf/);
    expect(ran).toBe(false);
  });

  it('enforce: a forged signature blocks (per-decision form)', async () => {
    await through(perDecision);
    proxy.tamper = (answer) => {
      receiptOf(answer).signature = flipSignature(receiptOf(answer).signature as string);
    };
    const search = wrapTool('search_docs', () => 'ran', options('enforce', { apiKey: perDecision.agentKey }));
    const violation = await violationOf(search());
    expect(violation).toMatchObject({ decisionReasonCode: 'receipt_invalid' });
    expect(violation.reason).toMatch(/the signature does not verify/);
  });

  it('warn: the forged answer is acted on, and the failure is logged', async () => {
    await through(merkle);
    proxy.tamper = turnBlockIntoAllow;
    const pay = wrapTool('submit_payment', (_p: { amount: number }) => 'paid', options('warn'));
    await expect(pay({ amount: 50_000 })).resolves.toBe('paid');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/receipt of the ALLOW answer for "submit_payment" does not verify/);
    expect(warnings[0]).toMatch(/acting on the answer anyway/);
  });

  it('off: nothing is fetched or checked', async () => {
    await through(merkle);
    proxy.tamper = turnBlockIntoAllow;
    const pay = wrapTool('submit_payment', (_p: { amount: number }) => 'paid', options('off'));
    await expect(pay({ amount: 50_000 })).resolves.toBe('paid');
    expect(warnings).toEqual([]);
    expect(proxy.keyFetches).toBe(0);
  });

  it('an unknown key id refetches the keys once, then is invalid', async () => {
    await through(merkle);
    const search = wrapTool('search_docs', () => 'ran', options('enforce'));
    await expect(search()).resolves.toBe('ran');
    expect(proxy.keyFetches).toBe(1);
    proxy.tamper = (answer) => {
      receiptOf(answer).key_id = 'ffffffffffffffff';
    };
    const first = await violationOf(search());
    expect(first.reason).toMatch(/names key "ffffffffffffffff", which GET \/v1\/keys\/receipt does not list/);
    expect(proxy.keyFetches).toBe(2);
    await violationOf(search());
    expect(proxy.keyFetches).toBe(2); // not refetched again for the same id
    proxy.tamper = undefined;
    await expect(search()).resolves.toBe('ran');
  });

  it('keys unavailable: fail-open acts on the unverified answer (one warning); fail-closed blocks', async () => {
    await through(merkle);
    proxy.keysDown = true;
    const search = wrapTool('search_docs', () => 'ran', options('enforce'));
    await expect(search()).resolves.toBe('ran');
    await expect(search()).resolves.toBe('ran');
    const pay = wrapTool('submit_payment', (_p: { amount: number }) => 'paid', options('enforce'));
    expect(await violationOf(pay({ amount: 50_000 }))).toMatchObject({ decisionReasonCode: 'payment_limit' });
    expect(warnings.filter((w) => w.includes('cannot fetch the receipt keys'))).toHaveLength(1);
    expect(warnings[0]).toMatch(/HTTP 503/);

    const strict = wrapTool('search_docs', () => 'ran', options('enforce', { failOpen: false }));
    expect(await violationOf(strict())).toMatchObject({ decisionReasonCode: 'receipt_keys_unavailable' });

    proxy.keysDown = false;
    await expect(strict()).resolves.toBe('ran');
    expect(warnings.some((w) => w.includes('receipt keys readable again'))).toBe(true);
  });
});
