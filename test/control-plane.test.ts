import type { DecisionEvent } from '@thoth/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enforceBody } from './api-harness.ts';
import { waitFor } from './helpers.ts';
import { ADMIN_TOKEN, startTrailApi, type TrailApi } from './trail-harness.ts';

type Json = Record<string, unknown>;
let api: TrailApi;

beforeAll(async () => {
  api = await startTrailApi();
});
afterAll(async () => {
  await api?.close();
});

async function call(method: string, url: string, credential: string, payload?: unknown) {
  const r = await api.inject({
    method: method as 'GET',
    url,
    headers: { authorization: `Bearer ${credential}` },
    ...(payload === undefined ? {} : { payload: payload as Json }),
  });
  return { status: r.statusCode, body: r.json() as Json, headers: r.headers };
}

async function createKey(tenant: string, body: Json, credential = ADMIN_TOKEN): Promise<Json> {
  const r = await call('POST', `/${tenant}/thoth/api-keys`, credential, body);
  expect(r.status).toBe(201);
  return r.body;
}

const enforceAs = (key: string, overrides: Json = {}) =>
  call('POST', '/v1/enforce', key, enforceBody({ tenant_id: 'acme-corp', ...overrides }));

async function adminTrail(tenant: string): Promise<Json[]> {
  const r = await call(
    'GET',
    `/${tenant}/thoth/governance/feed?agent_id=_admin&per_page=500&sort_by=chain_index&sort_dir=asc`,
    api.key,
  );
  return r.body.data as Json[];
}

describe('API keys', () => {
  it('creates keys shown once, lists them without secrets, records last use, revokes', async () => {
    const created = await createKey('acme-corp', {
      name: 'ci-agent',
      permissions: ['execute'],
      kind: 'test',
    });
    expect(created.api_key).toMatch(/^thoth_test_[A-Za-z0-9_-]{43}$/);
    expect((await enforceAs(created.api_key as string)).status).toBe(200);

    const list = await call('GET', '/acme-corp/thoth/api-keys', ADMIN_TOKEN);
    expect(list.status).toBe(200);
    const listed = (list.body.api_keys as Json[]).find((k) => k.key_id === created.key_id)!;
    expect(listed).toMatchObject({
      name: 'ci-agent',
      key_prefix: (created.api_key as string).slice(0, 15),
      permissions: ['execute'],
      status: 'active',
      last_used_at: expect.any(String),
    });
    expect(JSON.stringify(list.body)).not.toContain(created.api_key as string);
    expect(JSON.stringify(list.body)).not.toMatch(/key_hash|api_key"/);

    const revoked = await call('DELETE', `/acme-corp/thoth/api-keys/${created.key_id}`, ADMIN_TOKEN);
    expect(revoked.body).toMatchObject({ status: 'revoked', revoked_at: expect.any(String) });
    expect(await enforceAs(created.api_key as string)).toMatchObject({
      status: 401,
      body: { error: 'unauthorized', message: 'API key revoked' },
    });
    // Idempotent, and an unknown or foreign key is 404.
    expect((await call('DELETE', `/acme-corp/thoth/api-keys/${created.key_id}`, ADMIN_TOKEN)).status).toBe(
      200,
    );
    expect((await call('DELETE', '/acme-corp/thoth/api-keys/key_nope', ADMIN_TOKEN)).status).toBe(404);
    expect((await call('DELETE', `/other-corp/thoth/api-keys/${created.key_id}`, ADMIN_TOKEN)).status).toBe(
      404,
    );
  });

  it('RBAC: an admin key manages its own tenant only; other permissions cannot manage keys', async () => {
    const admin = (await createKey('acme-corp', { name: 'alice', permissions: ['admin'] })).api_key as string;
    expect((await call('GET', '/acme-corp/thoth/api-keys', admin)).status).toBe(200);
    expect((await call('GET', '/other-corp/thoth/api-keys', admin)).status).toBe(403);
    expect((await call('GET', '/acme-corp/thoth/api-keys', api.key)).status).toBe(403);
    expect((await call('POST', '/acme-corp/thoth/api-keys', api.key, { name: 'x' })).status).toBe(403);
    // An admin key is not an execute key.
    expect((await enforceAs(admin)).status).toBe(403);
    const made = await createKey('acme-corp', { name: 'by-alice', permissions: ['read'] }, admin);
    expect(made.created_by).toMatch(/^alice \(key_/);
  });

  it('expiry and agent scope', async () => {
    const expired = await createKey('acme-corp', { name: 'old', expires_at: '2020-01-01T00:00:00Z' });
    expect((await enforceAs(expired.api_key as string)).body).toMatchObject({ message: 'API key expired' });
    const scoped = (
      await createKey('acme-corp', { name: 'bot', permissions: ['execute', 'read'], agent_id: 'scoped-bot' })
    ).api_key as string;
    expect((await enforceAs(scoped, { agent_id: 'scoped-bot' })).status).toBe(200);
    expect((await enforceAs(scoped, { agent_id: 'another-bot' })).status).toBe(403);
    expect((await call('GET', '/acme-corp/thoth/governance/feed?agent_id=scoped-bot', scoped)).status).toBe(
      200,
    );
    expect((await call('GET', '/acme-corp/thoth/governance/feed', scoped)).status).toBe(403);
    expect((await call('GET', '/acme-corp/thoth/approvals', scoped)).status).toBe(403);
    // Tenant-wide reads and acts are never an agent key's: policies (and their dry runs over every agent), keys.
    expect((await call('GET', '/acme-corp/thoth/policies', scoped)).status).toBe(403);
    const adminForOneAgent = await call('POST', '/acme-corp/thoth/api-keys', ADMIN_TOKEN, {
      name: 'scoped-admin',
      permissions: ['admin'],
      agent_id: 'scoped-bot',
    });
    expect(adminForOneAgent.status).toBe(400);
    expect(adminForOneAgent.body.message).toMatch(/permissions/);
  });
});

describe('tenants and rate limits', () => {
  it('operators create, list and change tenants; a tenant limit answers 429 with Retry-After; disabled is 401', async () => {
    expect((await call('POST', '/thoth/tenants', api.key, { tenant_id: 'beta' })).status).toBe(401);
    const created = await call('POST', '/thoth/tenants', ADMIN_TOKEN, {
      tenant_id: 'beta',
      display_name: 'Beta',
    });
    expect(created).toMatchObject({
      status: 201,
      body: { tenant_id: 'beta', display_name: 'Beta', disabled: false },
    });
    expect((await call('POST', '/thoth/tenants', ADMIN_TOKEN, { tenant_id: 'beta' })).status).toBe(409);
    const list = await call('GET', '/thoth/tenants', ADMIN_TOKEN);
    expect((list.body.tenants as Json[]).map((t) => t.tenant_id)).toEqual(
      expect.arrayContaining(['acme-corp', 'beta']),
    );

    const keys = await Promise.all(
      ['k1', 'k2'].map(
        async (name) => (await createKey('beta', { name, permissions: ['execute'] })).api_key as string,
      ),
    );
    expect(
      (await call('PATCH', '/thoth/tenants/beta', ADMIN_TOKEN, { rate_limit_per_second: 2 })).status,
    ).toBe(200);
    const statuses: number[] = [];
    let retryAfter: unknown;
    for (let i = 0; i < 6; i++) {
      const r = await call('POST', '/v1/enforce', keys[i % 2]!, enforceBody({ tenant_id: 'beta' }));
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers['retry-after'];
    }
    // Burst 2 × 2/s for the tenant, across both keys (each key alone allows far more).
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    expect(statuses.slice(4)).toEqual([429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);

    expect((await call('PATCH', '/thoth/tenants/beta', ADMIN_TOKEN, { disabled: true })).status).toBe(200);
    expect(
      (await call('POST', '/v1/enforce', keys[0]!, enforceBody({ tenant_id: 'beta' }))).body,
    ).toMatchObject({
      message: 'tenant disabled',
    });
    expect((await call('PATCH', '/thoth/tenants/nope', ADMIN_TOKEN, { disabled: true })).status).toBe(404);
  });
});

describe('policies by API', () => {
  const blockWires = {
    rules: [{ id: 'no-wires', condition: 'tool == "wire_transfer"', effect: 'BLOCK', reason: 'no wires' }],
  };

  it('creates, updates (a new version), lists and deletes; decisions record the version they used', async () => {
    const start = await call('GET', '/acme-corp/thoth/policies', api.key);
    expect(start.body).toMatchObject({ source: 'file', data: [] });
    const base = start.body.current_version as number;

    const v1 = await call('POST', '/acme-corp/thoth/policies', ADMIN_TOKEN, {
      policy: blockWires,
      comment: 'first',
    });
    expect(v1).toMatchObject({ status: 201, body: { version: base + 1, rule_count: 1, comment: 'first' } });
    const blocked = await enforceAs(api.key, { tool_name: 'wire_transfer', approved_scope: [] });
    expect(blocked.body).toMatchObject({
      decision: 'BLOCK',
      matched_rule_ids: ['no-wires'],
      policy_version: base + 1,
    });

    const yaml =
      'rules:\n  - { id: wires-step-up, condition: tool == "wire_transfer", effect: STEP_UP, reason: approve wires }\n';
    const v2 = await call('PUT', '/acme-corp/thoth/policies', ADMIN_TOKEN, { policy: yaml });
    expect(v2.body.version).toBe(base + 2);
    const stepped = await enforceAs(api.key, { tool_name: 'wire_transfer', approved_scope: [] });
    expect(stepped.body).toMatchObject({ decision: 'STEP_UP', policy_version: base + 2 });

    const list = await call('GET', '/acme-corp/thoth/policies', api.key);
    expect(list.body).toMatchObject({ source: 'api', current_version: base + 2 });
    expect((list.body.data as Json[]).map((v) => v.version)).toEqual([base + 1, base + 2]);
    const first = await call('GET', `/acme-corp/thoth/policies/versions/${base + 1}`, api.key);
    expect(first.body.document).toMatchObject({ rules: [{ id: 'no-wires' }] });

    const deleted = await call('DELETE', '/acme-corp/thoth/policies', ADMIN_TOKEN);
    expect(deleted.body).toMatchObject({ version: base + 3, deleted: true });
    const after = await enforceAs(api.key, { tool_name: 'wire_transfer', approved_scope: [] });
    expect(after.body).toMatchObject({ decision: 'ALLOW', policy_version: base + 3 });
    expect((await call('DELETE', '/acme-corp/thoth/policies', ADMIN_TOKEN)).status).toBe(404);

    await waitFor('the decision events', () =>
      api.records().some((d) => d.schema === 'thoth.v1.DecisionEvent' && d.value.policy_version === base + 3),
    );
    const versions = api
      .records()
      .filter((d) => d.schema === 'thoth.v1.DecisionEvent' && d.value.tool_name === 'wire_transfer')
      .map((d) => (d as { value: DecisionEvent }).value.policy_version);
    expect(versions).toEqual([base + 1, base + 2, base + 3]);
  });

  it('refuses an invalid policy with 400 naming the rule and field; only admins change policies', async () => {
    const bad = await call('POST', '/acme-corp/thoth/policies', ADMIN_TOKEN, {
      policy: { rules: [{ id: 'oops', condition: 'tool ==', effect: 'BLOCK', reason: 'r' }] },
    });
    expect(bad).toMatchObject({
      status: 400,
      body: { error: 'invalid_policy', message: expect.stringMatching(/oops/) },
    });
    expect((await call('POST', '/acme-corp/thoth/policies', api.key, { policy: blockWires })).status).toBe(
      403,
    );
  });

  it('dry run: "would have blocked N calls" over recorded decisions, with samples', async () => {
    // In scope and benign: every call is recorded as ALLOW.
    const scope = ['list_invoices', 'search_docs'];
    for (const tool of ['list_invoices', 'list_invoices', 'list_invoices', 'search_docs', 'search_docs'])
      await enforceAs(api.key, { tool_name: tool, agent_id: 'dry-run-bot', approved_scope: scope });
    await waitFor('5 recorded decisions', async () => {
      const feed = await call(
        'GET',
        '/acme-corp/thoth/governance/feed?agent_id=dry-run-bot&event_type=DECISION&per_page=1',
        api.key,
      );
      return feed.body.total === 5;
    });
    const result = await call('POST', '/acme-corp/thoth/policies/dry-run', api.key, {
      agent_id: 'dry-run-bot',
      policy: {
        rules: [
          {
            id: 'no-invoices',
            condition: 'tool == "list_invoices"',
            effect: 'BLOCK',
            reason: 'invoices are off',
          },
        ],
      },
      samples: 2,
    });
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({
      evaluated: 5,
      would_block: 3,
      changed: 3,
      decisions: { ALLOW: 2, BLOCK: 3, STEP_UP: 0, MODIFY: 0, DEFER: 0 },
      rule_matches: { 'no-invoices': 3 },
      source: 'request',
    });
    expect(result.body.samples).toHaveLength(2);
    expect((result.body.samples as Json[])[0]).toMatchObject({
      tool_name: 'list_invoices',
      recorded_decision: 'ALLOW',
      dry_run_decision: 'BLOCK',
      matched_rule_ids: ['no-invoices'],
    });
  });
});

describe('admin audit', () => {
  it('every control-plane change is in the tenant’s _admin chain: who, what, before → after, no secrets', async () => {
    const key = await createKey('acme-corp', { name: 'audited', permissions: ['read'] });
    await call('DELETE', `/acme-corp/thoth/api-keys/${key.key_id}`, ADMIN_TOKEN);
    let rows: Json[] = [];
    await waitFor('the revocation in the trail', async () => {
      rows = await adminTrail('acme-corp');
      return rows.some(
        (r) => r.event_type === 'ADMIN_API_KEY_REVOKE' && (r.record as Json).target_id === key.key_id,
      );
    });
    const revoke = rows.find(
      (r) => r.event_type === 'ADMIN_API_KEY_REVOKE' && (r.record as Json).target_id === key.key_id,
    )!;
    const record = revoke.record as Json;
    expect(record).toMatchObject({ actor: 'admin-token', action: 'api_key.revoke', target_type: 'api_key' });
    expect(JSON.parse(record.before_json as string)).toMatchObject({ status: 'active', revoked_at: null });
    expect(JSON.parse(record.after_json as string)).toMatchObject({ status: 'revoked' });
    const kinds = new Set(rows.map((r) => r.event_type));
    for (const t of [
      'ADMIN_TENANT_CREATE',
      'ADMIN_API_KEY_CREATE',
      'ADMIN_API_KEY_REVOKE',
      'ADMIN_POLICY_CREATE',
      'ADMIN_POLICY_UPDATE',
      'ADMIN_POLICY_DELETE',
    ])
      expect(kinds).toContain(t);
    expect(JSON.stringify(rows)).not.toContain(key.api_key as string);
    expect(JSON.stringify(rows)).not.toContain('key_hash');
    // Its own evidence chain, verified like any agent's.
    const verified = await call(
      'GET',
      '/acme-corp/governance/evidence/verify-chain?agent_id=_admin',
      api.key,
    );
    expect(verified.body).toMatchObject({ verified: true, records_checked: rows.length });
    // No agent can write into it.
    expect((await enforceAs(api.key, { agent_id: '_admin' })).status).toBe(400);
  });
});
