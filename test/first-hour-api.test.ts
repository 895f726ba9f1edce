import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DecisionEvent } from '@thoth/contracts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dryRunPolicy } from '../services/api/src/control/policy-dry-run.ts';
import { ADMIN_TOKEN, enforceBody, startTestApi, type TestApi } from './api-harness.ts';

/**
 * Issue 26, in process (in-memory bus, no store): what a first user sees of the policies in force, the replay
 * inputs decision events record, credential errors and time-filter errors.
 */
const ROOT = resolve(import.meta.dirname, '..');
const POLICY_FILE = join(ROOT, 'examples/policy.yaml');
let api: TestApi;

type Json = Record<string, unknown>;

async function call(method: 'GET' | 'POST' | 'DELETE', url: string, credential: string, payload?: unknown) {
  const response = await api.inject({
    method,
    url,
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
  return { status: response.statusCode, body: response.json() as Json };
}

beforeAll(async () => {
  api = await startTestApi({ env: { THOTH_POLICY_FILE: POLICY_FILE } });
});
afterAll(async () => {
  await api?.close();
});

describe('the policies in force are visible', () => {
  it('shows the file rules, path and hash, then an API version once applied', async () => {
    const listed = await call('GET', '/acme-corp/thoth/policies', api.key);
    expect(listed.status).toBe(200);
    const inForce = listed.body.in_force as Json & { rules: Json[]; file: Json };
    expect(inForce).toMatchObject({
      source: 'file',
      version: 3,
      rule_count: 4,
      file: {
        path: POLICY_FILE,
        sha256: createHash('sha256').update(readFileSync(POLICY_FILE)).digest('hex'),
      },
    });
    expect(inForce.rules.map((r) => r.id)).toEqual([
      'block-large-payment',
      'redact-card',
      'defer-exports',
      'approve-wires',
    ]);
    expect(inForce.rules[0]).toMatchObject({
      effect: 'BLOCK',
      condition: 'tool == "submit_payment" && args.amount > 10000',
      reason_code: 'payment_limit',
    });

    const applied = await call('POST', '/acme-corp/thoth/policies', ADMIN_TOKEN, {
      policy: {
        rules: [{ id: 'no-deletes', condition: 'tool == "delete_records"', effect: 'BLOCK', reason: 'no' }],
      },
    });
    expect(applied.status).toBe(201);
    await vi.waitFor(async () => {
      const after = await call('GET', '/acme-corp/thoth/policies', api.key);
      expect(after.body.in_force).toMatchObject({ source: 'api', file: null, rule_count: 1 });
    });
    // Back to the file: a delete is a new version whose rules are the file's again.
    await call('DELETE', '/acme-corp/thoth/policies', ADMIN_TOKEN);
    await vi.waitFor(async () => {
      const after = await call('GET', '/acme-corp/thoth/policies', api.key);
      expect(after.body.in_force).toMatchObject({ source: 'file', rule_count: 4 });
    });
  });
});

describe('decision events record what a replay needs', () => {
  it('a dry run of the active policy over its own traffic reports 0 differences', async () => {
    const agent = 'replay-agent';
    const session = 'replay-session';
    const calls: Array<Record<string, unknown>> = [
      { tool_name: 'search_docs', approved_scope: ['search_docs'] },
      // Out of scope: BLOCK. Without the recorded scope a replay says ALLOW (the bug of issue 26).
      { tool_name: 'submit_payment', approved_scope: ['search_docs'], tool_args: { kwargs: { amount: 50 } } },
      { tool_name: 'submit_payment', approved_scope: ['search_docs'], tool_args: { kwargs: { amount: 60 } } },
      { tool_name: 'submit_payment', approved_scope: [], tool_args: { kwargs: { amount: 50_000 } } },
      { tool_name: 'wire_transfer', approved_scope: [] },
      { tool_name: 'search_docs', approved_scope: ['search_docs'], enforcement_mode: 'observe' },
      { tool_name: 'delete_records', approved_scope: ['search_docs'], enforcement_mode: 'block' },
    ];
    const answered: string[] = [];
    for (const overrides of calls) {
      const response = await call(
        'POST',
        '/v1/enforce',
        api.key,
        enforceBody({ agent_id: agent, session_id: session, session_tool_calls: [], ...overrides }),
      );
      expect(response.status).toBe(200);
      answered.push(response.body.decision as string);
    }
    expect(answered.filter((d) => d === 'BLOCK').length).toBeGreaterThanOrEqual(3);

    let recorded: DecisionEvent[] = [];
    await vi.waitFor(() => {
      recorded = api
        .records()
        .flatMap((r) =>
          r.schema === 'thoth.v1.DecisionEvent' && r.value.agent_id === agent ? [r.value] : [],
        );
      expect(recorded).toHaveLength(calls.length);
    });
    // Decoded from Avro: the replay inputs travel on the bus.
    expect(JSON.parse(recorded[1]!.replay_json ?? 'null')).toMatchObject({
      approved_scope: ['search_docs'],
      mode: 'progressive',
      session_before: expect.objectContaining({ calls: 1 }),
    });

    const active = api.service.control.projection.policies.forTenant('acme-corp');
    const replay = dryRunPolicy(active, recorded, 20);
    expect(replay).toMatchObject({ evaluated: calls.length, changed: 0 });
    expect(replay.not_replayable).toMatchObject({
      without_replay_inputs: 0,
      changed_without_replay_inputs: 0,
    });

    // Events recorded before replay inputs existed: the replay says what it could not reproduce.
    const older = recorded.map((event) => ({ ...event, replay_json: null }));
    const guessed = dryRunPolicy(active, older, 20);
    expect(guessed.changed).toBeGreaterThan(0);
    expect(guessed.not_replayable).toMatchObject({
      without_replay_inputs: calls.length,
      changed_without_replay_inputs: guessed.changed,
    });
  });
});

describe('credential errors say what is wrong', () => {
  it('the admin token where an API key is expected, another tenant’s key, revoked and expired keys', async () => {
    const admin = await call('POST', '/v1/enforce', ADMIN_TOKEN, enforceBody());
    expect(admin.status).toBe(401);
    expect(admin.body.message).toMatch(/this is the admin token, not an API key/);
    expect(admin.body.message).toMatch(/thoth\/api-keys/);

    const other = await call('GET', '/globex/thoth/policies', api.key);
    expect(other.status).toBe(403);
    expect(other.body.message).toBe(
      'this API key belongs to tenant "acme-corp", not "globex": it acts on its own tenant only',
    );
    const otherBody = await call('POST', '/v1/enforce', api.key, enforceBody({ tenant_id: 'globex' }));
    expect(otherBody.body.message).toMatch(
      /not the API key's tenant: this key belongs to tenant "acme-corp"/,
    );

    const created = await call('POST', '/acme-corp/thoth/api-keys', ADMIN_TOKEN, { name: 'soon-revoked' });
    await call('DELETE', `/acme-corp/thoth/api-keys/${created.body.key_id}`, ADMIN_TOKEN);
    await vi.waitFor(async () => {
      expect(
        (await call('POST', '/v1/enforce', created.body.api_key as string, enforceBody())).body.message,
      ).toBe('API key revoked');
    });
    const expired = await call('POST', '/acme-corp/thoth/api-keys', ADMIN_TOKEN, {
      name: 'old',
      expires_at: '2020-01-01T00:00:00Z',
    });
    await vi.waitFor(async () => {
      expect(
        (await call('POST', '/v1/enforce', expired.body.api_key as string, enforceBody())).body.message,
      ).toBe('API key expired');
    });
    const unknown = await call('POST', '/v1/enforce', 'thoth_live_not-a-key-at-all', enforceBody());
    expect(unknown.body.message).toMatch(/^unknown API key: no tenant has this key/);
  });
});

describe('time filters', () => {
  it('refuses `yesterday` naming the ISO 8601 and relative forms', async () => {
    const refused = await call('GET', '/acme-corp/thoth/governance/feed?from=yesterday', api.key);
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/from/);
    expect(refused.body.message).toMatch(/ISO 8601.*relative.*-1h.*-7d/);
  });
});
