import { chainFieldsJson, GENESIS_HASH, nextLink } from '@thoth/contracts';
import type { Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChainProgress,
  type LinksPage,
  verdictsAgree,
  verifyChainInBrowser,
} from '../console/src/lib/chain-verify.ts';
import type { StoredEvent } from '../services/api/src/soc/audit-queries.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './api-harness.ts';

/**
 * The console's server side, part two: failed sign-ins are limited per client IP and per key prefix (429 with
 * Retry-After), and an agent's raw chain links, recomputed in the browser page by page with progress, give
 * the same verdict as the server's verify-chain — for an intact chain and for a tampered one.
 */
type Json = Record<string, unknown>;

function chainOf(agent: string, n: number): StoredEvent[] {
  const heads = new Map();
  const rows: StoredEvent[] = [];
  for (let i = 0; i < n; i++) {
    const fields = {
      tenant_id: 'acme-corp',
      agent_id: agent,
      event_id: `${agent}-e${i}`,
      kind: 'decision',
      event_type: 'DECISION',
      session_id: 's1',
      user_id: 'u1',
      tool_name: i % 2 ? 'read_file' : 'wire',
      decision: 'ALLOW',
      reason_code: 'policy_allow',
      risk_score: (i % 7) / 10,
      enforcement_mode: 'enforce',
      violation_id: '',
      enforcement_trace_id: `t${i}`,
      content: `call ${i} — ünïcode "quoted"`,
      payload: JSON.stringify({ amount: i }),
      occurred_at_ms: 1_760_000_000_000 + i,
    };
    const link = nextLink(chainFieldsJson(fields), agent, heads);
    rows.push({ ...fields, ingested_at_ms: fields.occurred_at_ms, ...link });
  }
  return rows;
}

const rows = [...chainOf('agent-a', 2_345), ...chainOf('agent-b', 300)];
// Tampered after the fact: a stored column changed, its hash left as it was.
const victim = rows.find((r) => r.agent_id === 'agent-b' && r.chain_index === 120);
if (victim) victim.content = 'rewritten';

/** The SELECTs the links route and verify-chain send, answered from `rows`. */
const store = {
  async select<T>(sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
    if (sql.includes('chain_checkpoints')) return [];
    const ofAgent = rows.filter(
      (r) => r.tenant_id === params.tenant && (params.agent === undefined || r.agent_id === params.agent),
    );
    if (sql.includes('count()')) return [{ total: String(ofAgent.length) }] as T[];
    if (sql.includes('{from:UInt64}'))
      return ofAgent
        .filter((r) => Number(r.chain_index) >= Number(params.from))
        .slice(0, Number(params.limit)) as T[];
    // verify-chain: by agent, then chain_index, after the cursor.
    return ofAgent
      .filter(
        (r) =>
          params.afterAgent === undefined ||
          r.agent_id > String(params.afterAgent) ||
          (r.agent_id === params.afterAgent && Number(r.chain_index) > Number(params.afterIndex)),
      )
      .slice(0, Number(params.limit)) as T[];
  },
} as unknown as Store;

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ store });
});
afterAll(async () => {
  await api?.close();
});

async function signIn(credential: string, remoteAddress = '127.0.0.1', tenant?: string) {
  const r = await api.inject({
    method: 'POST',
    url: '/console/api/session',
    payload: { credential, tenant },
    remoteAddress,
  });
  return { r, cookie: String(r.headers['set-cookie'] ?? '').split(';')[0] ?? '' };
}

describe('console sign-in rate limit', () => {
  it('answers 429 with Retry-After after 10 failed sign-ins a minute from one address', async () => {
    const ip = '203.0.113.7';
    for (let i = 0; i < 10; i++)
      expect((await signIn(`thoth_live_guess${i}-${'x'.repeat(30)}`, ip)).r.statusCode).toBe(401);
    const limited = await signIn('thoth_live_guessZ-yyyy', ip);
    expect(limited.r.statusCode).toBe(429);
    expect((limited.r.json() as Json).error).toBe('rate_limited');
    expect(Number(limited.r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.r.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(String(limited.r.headers['set-cookie'] ?? '')).toBe('');
    // Refused before the credential is looked at: even the right key waits.
    expect((await signIn(api.key, ip)).r.statusCode).toBe(429);
    // Another address is not held back by this one's failures.
    expect((await signIn(api.key, '198.51.100.20')).r.statusCode).toBe(200);
  });

  it('limits one key prefix across addresses', async () => {
    const prefix = 'thoth_live_PFXAB';
    for (let i = 0; i < 10; i++)
      expect((await signIn(`${prefix}-tail-${i}`, `192.0.2.${i + 1}`)).r.statusCode).toBe(401);
    expect((await signIn(`${prefix}-tail-new`, '192.0.2.200')).r.statusCode).toBe(429);
  });

  it('successful sign-ins and a known token used wrongly do not count', async () => {
    const ip = '198.51.100.77';
    for (let i = 0; i < 12; i++) expect((await signIn(api.key, ip)).r.statusCode).toBe(200);
    for (let i = 0; i < 12; i++) expect((await signIn(ADMIN_TOKEN, ip)).r.statusCode).toBe(400); // no tenant
    expect((await signIn(api.key, ip)).r.statusCode).toBe(200);
  });
});

describe('console chain verification in the browser', () => {
  const pages = (cookie: string, agent: string) => async (from: number) => {
    const r = await api.inject({
      method: 'GET',
      url: `/console/api/evidence/links?tenant=acme-corp&agent_id=${agent}&from_sequence=${from}&limit=1000`,
      headers: { cookie },
    });
    expect(r.statusCode).toBe(200);
    return r.json() as LinksPage;
  };
  const serverVerdict = async (agent: string) =>
    (
      await api.inject({
        method: 'GET',
        url: `/acme-corp/governance/evidence/verify-chain?agent_id=${agent}`,
        headers: { authorization: `Bearer ${api.key}` },
      })
    ).json() as Json;

  it('pages through an intact chain with progress and agrees with verify-chain', async () => {
    const { cookie } = await signIn(api.key, '198.51.100.90');
    const progress: ChainProgress[] = [];
    const browser = await verifyChainInBrowser('agent-a', pages(cookie, 'agent-a'), (p) => progress.push(p));
    expect(progress).toEqual([
      { checked: 1_000, total: 2_345 },
      { checked: 2_000, total: 2_345 },
      { checked: 2_345, total: 2_345 },
    ]);
    const server = await serverVerdict('agent-a');
    expect(server.verified).toBe(true);
    expect(browser).toMatchObject({ verified: true, records_checked: 2_345, breach_detail: null });
    expect(browser.chain_head).toEqual((server.chain_head as Json)['agent-a']);
    expect(verdictsAgree('agent-a', browser, server)).toBe(true);
  });

  it('finds the same first broken link as verify-chain in a tampered chain', async () => {
    const { cookie } = await signIn(api.key, '198.51.100.90');
    const browser = await verifyChainInBrowser('agent-b', pages(cookie, 'agent-b'), () => {});
    const server = await serverVerdict('agent-b');
    expect(server.verified).toBe(false);
    expect(browser.verified).toBe(false);
    expect(browser.breach_detail).toEqual(server.breach_detail);
    expect(browser.breach_detail).toMatchObject({ chain_index: 120, reason: 'hash_mismatch' });
    expect(browser.records_checked).toBe(server.records_checked);
    expect(verdictsAgree('agent-b', browser, server)).toBe(true);
    // A verdict that differs is reported as a disagreement.
    expect(verdictsAgree('agent-b', { ...browser, breach_detail: null, verified: true }, server)).toBe(false);
  });

  it('reads as the session key: its tenant only, and no session no links', async () => {
    const { cookie } = await signIn(api.key, '198.51.100.90');
    const other = await api.inject({
      method: 'GET',
      url: '/console/api/evidence/links?tenant=beta-corp&agent_id=agent-a',
      headers: { cookie },
    });
    expect(other.statusCode).toBe(403);
    const none = await api.inject({
      method: 'GET',
      url: '/console/api/evidence/links?tenant=acme-corp&agent_id=agent-a',
    });
    expect(none.statusCode).toBe(401);
    const first = await pages(cookie, 'agent-a')(1);
    expect(first.data[0]).toMatchObject({ chain_index: 1, previous_hash: GENESIS_HASH, agent_id: 'agent-a' });
    expect(first.data[0]).not.toHaveProperty('record'); // raw columns, as hashed
    expect(first.next_sequence).toBe(1_001);
  });
});
