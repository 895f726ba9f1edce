import type { DecisionEvent, DirectiveRecord } from '@thoth/contracts';
import { directiveKey } from '@thoth/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiptProblem, signedDecision } from '../scripts/verify-receipt.mjs';
import { ADMIN_TOKEN, enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { waitFor } from './helpers.ts';

const POLICY = {
  rules: [
    {
      id: 'block-large-payment',
      condition: 'tool == "submit_payment" && args.amount > 10000',
      effect: 'BLOCK',
      reason: 'payments above 10,000 are blocked',
      reason_code: 'payment_limit',
      risk_points: 50,
    },
    {
      id: 'defer-bulk-export',
      condition: 'tool == "export_records"',
      effect: 'DEFER',
      reason: 'bulk exports run outside business hours',
      reason_code: 'deferred_export',
      defer_timeout_seconds: 45,
    },
    {
      id: 'redact-card',
      condition: 'tool == "charge_card"',
      effect: 'MODIFY',
      reason: 'card numbers are redacted before the tool sees them',
      reason_code: 'pii_redaction',
      modify: { redact: ['card_number'] },
    },
    {
      id: 'approve-wire',
      condition: 'tool == "wire_transfer"',
      effect: 'STEP_UP',
      reason: 'wire transfers need a human approval',
      reason_code: 'step_up_high_risk',
    },
    {
      id: 'approve-quick',
      condition: 'tool == "quick_wire"',
      effect: 'STEP_UP',
      reason: 'quick wires need approval within a second',
      step_up_timeout_seconds: 1,
    },
    {
      id: 'risky-purpose',
      condition: 'purpose == "risky"',
      effect: 'FLAG',
      reason: 'purpose flagged as risky',
      reason_code: 'risky_purpose',
      risk_points: 70,
    },
    {
      id: 'suspicious-purpose',
      condition: 'purpose == "suspicious"',
      effect: 'FLAG',
      reason: 'purpose flagged as suspicious',
      reason_code: 'suspicious_purpose',
      risk_points: 35,
    },
  ],
};

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ policy: POLICY });
});
afterAll(async () => {
  await api.close();
});

async function enforce(overrides: Record<string, unknown>, headers?: Record<string, string>) {
  const response = await api.inject({
    method: 'POST',
    url: '/v1/enforce',
    headers: headers ?? { authorization: `Bearer ${api.key}` },
    payload: enforceBody(overrides),
  });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
}

async function poll(token: string, key = api.key) {
  const response = await api.inject({
    method: 'GET',
    url: `/v1/enforce/hold/${token}`,
    headers: { 'x-api-key': key },
  });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
}

function decisionEvents(): DecisionEvent[] {
  return api
    .records()
    .filter((d) => d.schema === 'thoth.v1.DecisionEvent')
    .map((d) => (d as { value: DecisionEvent }).value);
}

describe('authentication (both headers, flat errors)', () => {
  it('accepts Authorization: Bearer and X-Api-Key in any header case', async () => {
    expect((await enforce({}, { Authorization: `Bearer ${api.key}` })).status).toBe(200);
    expect((await enforce({}, { 'X-API-KEY': api.key })).status).toBe(200);
    expect((await enforce({}, { authorization: `bearer ${api.key}` })).status).toBe(200);
  });

  it('answers 401 for a missing or unknown key and 403 for another tenant, as {error, message}', async () => {
    const missing = await enforce({}, {});
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual({ error: 'unauthorized', message: expect.any(String) });
    expect((await enforce({}, { 'x-api-key': 'thoth_live_nope' })).status).toBe(401);
    const other = await enforce({ tenant_id: 'globex' });
    expect(other.status).toBe(403);
    expect(other.body.error).toBe('tenant_mismatch');
  });

  it('answers 403 for a key without the needed permission', async () => {
    const { apiKey } = await api.service.control.commands.createApiKey({
      tenantId: 'acme-corp',
      name: 'reader',
      permissions: ['read'],
      createdBy: 'test',
    });
    const response = await enforce({}, { 'x-api-key': apiKey });
    expect(response.status).toBe(403);
    expect(response.body.message).toMatch(/execute/);
  });

  it('bootstraps keys with the admin token; the plaintext is shown once and never stored', async () => {
    const denied = await api.inject({
      method: 'POST',
      url: '/globex/thoth/api-keys',
      payload: { name: 'x' },
    });
    expect(denied.statusCode).toBe(401);
    const created = await api.inject({
      method: 'POST',
      url: '/globex/thoth/api-keys',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { name: 'globex-agent', permissions: ['execute', 'write', 'read'] },
    });
    expect(created.statusCode).toBe(201);
    const { api_key: key } = created.json() as { api_key: string };
    expect(key).toMatch(/^thoth_live_[A-Za-z0-9_-]{43}$/);
    const allowed = await enforce({ tenant_id: 'globex' }, { authorization: `Bearer ${key}` });
    expect(allowed.status).toBe(200);
    const stored = await api.bus.openView(api.topics.control);
    const everything = [...stored.entries()].map(([, v]) => v.toString('latin1')).join('');
    expect(everything).not.toContain(key);
    await stored.close();
  });
});

describe('the four decision shapes, produced by a tenant policy', () => {
  it('BLOCK carries the full context and a verifiable receipt', async () => {
    const trace = 'trace-block-1';
    const body = enforceBody({
      tool_name: 'submit_payment',
      tool_args: { args: ['INV-001'], kwargs: { amount: 50_000 } },
      enforcement_trace_id: trace,
    });
    const response = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { authorization: `Bearer ${api.key}` },
      payload: body,
    });
    const r = response.json() as Record<string, unknown>;
    expect(response.statusCode).toBe(200);
    expect(r).toMatchObject({
      decision: 'BLOCK',
      authorization_decision: 'BLOCK',
      reason: 'payments above 10,000 are blocked',
      decision_reason_code: 'payment_limit',
      action_classification: 'write',
      enforcement_trace_id: trace,
      matched_rule_ids: ['block-large-payment'],
      decision_envelope_version: '1',
    });
    expect(r.violation_id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(Number.isInteger(r.risk_score)).toBe(true);
    expect(r.risk_score).toBeGreaterThanOrEqual(50);
    expect(r.risk_score).toBeLessThanOrEqual(100);
    expect(typeof r.latency_ms).toBe('number');
    expect(Array.isArray(r.model_signals)).toBe(true);
    expect(r.top_contributors).toEqual(
      expect.arrayContaining([expect.objectContaining({ contribution_points: expect.any(Number) })]),
    );

    // Verify the receipt exactly as docs/receipts.md tells a third party to.
    const keys = (await api.inject({ method: 'GET', url: '/v1/keys/receipt' })).json() as {
      keys: Array<{ key_id: string; public_key_pem: string }>;
    };
    const receipt = r.receipt as { signing_algorithm: string; key_id: string };
    expect(receipt.signing_algorithm).toBe('ed25519');
    const publicKeyPem = keys.keys.find((k) => k.key_id === receipt.key_id)!.public_key_pem;
    const signed = signedDecision(body, r);
    expect(receiptProblem(signed, r.receipt, publicKeyPem)).toBeUndefined();
    expect(receiptProblem({ ...signed, decision: 'ALLOW' }, r.receipt, publicKeyPem)).toBeDefined();
  });

  it('refuses a number JSON cannot write back (1e400) and a lone surrogate in a signed field, with a 400', async () => {
    const huge = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { authorization: `Bearer ${api.key}`, 'content-type': 'application/json' },
      payload: JSON.stringify(
        enforceBody({ tool_name: 'charge_card', approved_scope: ['charge_card'] }),
      ).replace('"tool_args":{', '"tool_args":{"n":1e400,'),
    });
    expect(huge.statusCode).toBe(400);
    expect(huge.body).toMatch(/too large/);
    const lone = await enforce({ tool_name: 'search\ud800docs' });
    expect(lone.status).toBe(400);
    expect(JSON.stringify(lone.body)).toMatch(/tool_name/);
  });

  it('a plain ALLOW leaves out its explanation unless ?detail=full asks for it', async () => {
    const plain = await enforce({ tool_name: 'search_docs' });
    expect(plain.body.decision).toBe('ALLOW');
    for (const field of ['score_components', 'top_contributors', 'decision_evidence'])
      expect(plain.body).not.toHaveProperty(field);
    const detailed = await api.inject({
      method: 'POST',
      url: '/v1/enforce?detail=full',
      headers: { authorization: `Bearer ${api.key}` },
      payload: enforceBody({ tool_name: 'search_docs' }),
    });
    expect(detailed.json()).toMatchObject({
      decision: 'ALLOW',
      score_components: expect.any(Object),
      top_contributors: expect.any(Array),
      decision_evidence: expect.objectContaining({ decided_by: expect.any(String) }),
    });
  });

  it('DEFER carries defer_reason and an integer defer_timeout_seconds of 45', async () => {
    const { body } = await enforce({ tool_name: 'export_records', approved_scope: [] });
    expect(body).toMatchObject({
      decision: 'DEFER',
      defer_reason: expect.any(String),
      defer_timeout_seconds: 45,
    });
    expect(body.violation_id).toEqual(expect.any(String));
    expect(JSON.stringify(body)).toMatch(/"defer_timeout_seconds":45[,}]/);
  });

  it('MODIFY rewrites the args in the shape they came in', async () => {
    const kwargsShape = await enforce({
      tool_name: 'charge_card',
      approved_scope: [],
      tool_args: { args: ['order-7'], kwargs: { card_number: '4111111111111111', amount: 20 } },
    });
    expect(kwargsShape.body).toMatchObject({
      decision: 'MODIFY',
      modification_reason: expect.any(String),
      modified_tool_args: { args: ['order-7'], kwargs: { card_number: '[REDACTED]', amount: 20 } },
    });
    const dictShape = await enforce({
      tool_name: 'charge_card',
      approved_scope: [],
      tool_args: { card_number: '4111111111111111', amount: 20 },
    });
    expect(dictShape.body.modified_tool_args).toEqual({ card_number: '[REDACTED]', amount: 20 });
  });

  it('STEP_UP carries a URL-safe hold token, an integer timeout, and polls as pending', async () => {
    const { body } = await enforce({ tool_name: 'wire_transfer', approved_scope: [] });
    expect(body).toMatchObject({ decision: 'STEP_UP', step_up_timeout_seconds: 900 });
    expect(body.hold_token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(body.violation_id).toEqual(expect.any(String));
    const pending = await poll(body.hold_token as string);
    expect(pending.status).toBe(200);
    expect(pending.body).toMatchObject({
      token: body.hold_token,
      resolved: false,
      resolution: null,
      decision: 'STEP_UP',
    });
  });
});

describe('holds', () => {
  async function stepUp(tool = 'wire_transfer') {
    const { body } = await enforce({ tool_name: tool, approved_scope: [] });
    return body.hold_token as string;
  }

  it('an approval answers ALLOW in both fields', async () => {
    const token = await stepUp();
    await api.service.holds.resolve(token, 'approved', 'alice@soc', null);
    const { body } = await poll(token);
    expect(body).toMatchObject({
      token,
      resolved: true,
      resolution: 'ALLOW',
      decision: 'ALLOW',
      violation_id: expect.any(String),
    });
    expect(body.reason).toMatch(/alice@soc/);
  });

  it('a denial answers BLOCK with the comment as reason', async () => {
    const token = await stepUp();
    await api.service.holds.resolve(token, 'denied', 'bob@soc', 'not on a Sunday');
    const { body } = await poll(token);
    expect(body).toMatchObject({
      resolved: true,
      resolution: 'BLOCK',
      decision: 'BLOCK',
      reason: 'not on a Sunday',
    });
  });

  it('an expired hold answers BLOCK, and cannot be approved afterwards', async () => {
    const token = await stepUp('quick_wire');
    await new Promise((r) => setTimeout(r, 1_100));
    const { body } = await poll(token);
    expect(body).toMatchObject({
      resolved: true,
      resolution: 'BLOCK',
      decision: 'BLOCK',
      reason: expect.stringMatching(/expired/),
    });
    await expect(api.service.holds.resolve(token, 'approved', 'late', null)).rejects.toThrow(/expired/);
  });

  it('an unknown token, or another tenant’s token, is 404', async () => {
    expect((await poll('no-such-token')).status).toBe(404);
    const token = await stepUp();
    const { apiKey } = await api.service.control.commands.createApiKey({
      tenantId: 'globex',
      name: 'other',
      permissions: ['execute'],
      createdBy: 'test',
    });
    expect((await poll(token, apiKey)).status).toBe(404);
  });
});

describe('the mode table, row by row', () => {
  // in scope: search_docs; out of scope: delete_records; risky: in scope with a 70-point FLAG.
  const rows: Array<[string, string, string, string]> = [
    ['observe', 'ALLOW', 'ALLOW', 'ALLOW'],
    ['progressive', 'ALLOW', 'BLOCK', 'STEP_UP'],
    ['step_up', 'ALLOW', 'STEP_UP', 'STEP_UP'],
    ['block', 'ALLOW', 'BLOCK', 'BLOCK'],
  ];
  it.each(rows)(
    '%s: in scope → %s, out of scope → %s, risky → %s',
    async (mode, inScope, outOfScope, risky) => {
      const call = (overrides: Record<string, unknown>) =>
        enforce({ enforcement_mode: mode, approved_scope: ['search_docs'], ...overrides });
      expect((await call({ tool_name: 'search_docs' })).body.decision).toBe(inScope);
      expect((await call({ tool_name: 'delete_records' })).body.decision).toBe(outOfScope);
      expect((await call({ tool_name: 'search_docs', purpose: 'risky' })).body.decision).toBe(risky);
    },
  );

  it('observe answers ALLOW and records the would-be decision', async () => {
    const session = 'observe-recorded';
    const { body } = await enforce({
      enforcement_mode: 'observe',
      tool_name: 'delete_records',
      approved_scope: ['search_docs'],
      session_id: session,
    });
    expect(body.decision).toBe('ALLOW');
    expect(body.would_be_decision).toBe('BLOCK');
    await waitFor('the decision event', () => decisionEvents().some((e) => e.session_id === session));
    const recorded = decisionEvents().find((e) => e.session_id === session)!;
    expect(recorded).toMatchObject({
      decision: 'ALLOW',
      would_be_decision: 'BLOCK',
      reason_code: 'policy_scope_violation',
      enforcement_mode: 'observe',
    });
  });

  it('progressive escalates within a session: warn → STEP_UP → BLOCK', async () => {
    const session = 'escalating-session';
    const call = () => enforce({ session_id: session, purpose: 'suspicious' });
    const first = (await call()).body;
    expect(first.decision).toBe('ALLOW');
    expect(first.warning).toEqual(expect.any(String));
    expect((await call()).body.decision).toBe('STEP_UP');
    const third = (await call()).body;
    expect(third.decision).toBe('BLOCK');
    expect(third.risk_score).toBeGreaterThanOrEqual(85);
  });

  it('accepts tool_call: scope prefixes', async () => {
    const { body } = await enforce({ tool_name: 'search_docs', approved_scope: ['tool_call:search_docs'] });
    expect(body.decision).toBe('ALLOW');
  });
});

describe('directives from the baselines topic', () => {
  it('applies a directive from memory: STEP_UP with its reason, findings and contributors', async () => {
    const directive: DirectiveRecord = {
      tenant_id: 'acme-corp',
      agent_id: 'anomalous-agent',
      session_id: null,
      tool_name: null,
      level: 'step_up',
      score: 40,
      reason: 'call rate 10x above baseline',
      reason_code: 'rate_anomaly',
      finding_ids: ['fnd_1'],
      contributions: [{ feature: 'rate_spike', points: 40 }],
      signals: ['anomaly:rate_spike'],
      updated_at: Date.now(),
      expires_at: Date.now() + 60_000,
    };
    await api.bus.publish(api.topics.directives, [
      api.codec.encode('thoth.v1.Directive', directiveKey(directive), directive),
    ]);
    await waitFor(
      'the directive to apply',
      async () => (await enforce({ agent_id: 'anomalous-agent' })).body.decision === 'STEP_UP',
    );
    const { body } = await enforce({ agent_id: 'anomalous-agent' });
    expect(body.decision_reason_code).toBe('rate_anomaly');
    expect(body.model_signals).toContain('anomaly:rate_spike');
    expect((body.decision_evidence as { finding_ids: string[] }).finding_ids).toContain('fnd_1');
    expect(body.top_contributors).toEqual(
      expect.arrayContaining([{ feature: 'rate_spike', contribution_points: 40 }]),
    );
    // A tombstone lifts it.
    await api.bus.publish(api.topics.directives, [{ key: directiveKey(directive), value: null }]);
    await waitFor(
      'the directive to lift',
      async () => (await enforce({ agent_id: 'anomalous-agent' })).body.decision === 'ALLOW',
    );
  });
});

describe('decision events', () => {
  it('publishes every decision to the events topic without waiting for it', async () => {
    const { body } = await enforce({
      session_id: 'published-session',
      tool_name: 'submit_payment',
      tool_args: { amount: 99_999 },
    });
    await waitFor('the decision event', () =>
      decisionEvents().some((e) => e.violation_id === body.violation_id),
    );
    const event = decisionEvents().find((e) => e.violation_id === body.violation_id)!;
    expect(event).toMatchObject({
      event_id: `acme-corp:${body.violation_id}`,
      decision: 'BLOCK',
      tool_name: 'submit_payment',
      matched_rule_ids: ['block-large-payment'],
      receipt_signature: (body.receipt as { signature: string }).signature,
    });
  });
});

describe('OpenAPI', () => {
  it('describes every data-plane route from the zod schemas and serves the docs UI', async () => {
    const spec = (await api.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/v1/enforce',
        '/v1/enforce/hold/{token}',
        '/v1/events/batch',
        '/{tenant}/thoth/api-keys',
      ]),
    );
    expect(JSON.stringify(spec.paths['/v1/enforce']!.post!.requestBody)).toContain('tool_name');
    const ui = await api.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
  });
});

describe('robustness', () => {
  it('names the failing field in a 400', async () => {
    const response = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { 'x-api-key': api.key },
      payload: { ...enforceBody(), tool_name: 42 },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: 'invalid_request',
      message: expect.stringMatching(/body\.tool_name/),
    });
  });

  it('answers 413 to a body over the limit and 400 to invalid JSON', async () => {
    const big = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { 'x-api-key': api.key, 'content-type': 'application/json' },
      payload: JSON.stringify(enforceBody({ purpose: 'x'.repeat(6 * 1024 * 1024) })),
    });
    expect(big.statusCode).toBe(413);
    const bad = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { 'x-api-key': api.key, 'content-type': 'application/json' },
      payload: '{"agent_id":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: expect.any(String), message: expect.any(String) });
  });

  it('rate-limits a key with 429 and Retry-After', async () => {
    const limited = await startTestApi({ env: { THOTH_RATE_LIMIT_PER_KEY: '1' } });
    try {
      const statuses: number[] = [];
      let retryAfter: string | undefined;
      for (let i = 0; i < 4; i++) {
        const r = await limited.inject({
          method: 'POST',
          url: '/v1/enforce',
          headers: { 'x-api-key': limited.key },
          payload: enforceBody(),
        });
        statuses.push(r.statusCode);
        if (r.statusCode === 429) retryAfter = r.headers['retry-after'] as string;
      }
      expect(statuses.slice(0, 2)).toEqual([200, 200]);
      expect(statuses).toContain(429);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    } finally {
      await limited.close();
    }
  });
});
