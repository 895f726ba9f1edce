import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SharedClickHouse, startSharedClickHouse } from './clickhouse-http/shared-clickhouse.ts';
import { uniquePrefix, waitFor } from './helpers.ts';
import { ThothProcesses } from './thoth-processes.ts';

// Two Thoth processes in distributed mode on one shared store (CLICKHOUSE_URL): the audit writer stores what an
// API process ingested, and the API process reads it back through the SOC feed. API replicas read what the
// audit writer stored, with no data directory handed over between processes.
const ADMIN = 'shared-store-admin-token-0123456789';
const TENANT = 'acme-corp';
const EVENTS = 60;
const database = `thoth_shared_${randomUUID().slice(0, 8)}`;
let shared: SharedClickHouse;
let processes: ThothProcesses;
let api = '';
let key = '';

beforeAll(async () => {
  shared = await startSharedClickHouse();
  processes = new ThothProcesses('shared-store', {
    prefix: uniquePrefix('shared-store'),
    adminToken: ADMIN,
    env: {
      CLICKHOUSE_URL: shared.url,
      CLICKHOUSE_USER: shared.user,
      CLICKHOUSE_PASSWORD: shared.password,
      CLICKHOUSE_DATABASE: database,
    },
  });
  // Started together, as a deployment starts them: both run the migrations on the one store.
  [api] = await Promise.all([processes.start('api', 'api'), processes.start('writer', 'audit-writer')]);
  const created = await fetch(`${api}/${TENANT}/thoth/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'shared-store', permissions: ['write', 'read'] }),
  });
  expect(created.status).toBe(201);
  key = ((await created.json()) as { api_key: string }).api_key;
}, 120_000);
afterAll(async () => {
  await processes?.stopAll();
  await shared?.stop();
});

const t0 = Date.UTC(2026, 10, 24, 10, 0, 0);
const events = Array.from({ length: EVENTS }, (_, i) => ({
  event_id: `shared-${i}`,
  tenant_id: TENANT,
  agent_id: i % 2 ? 'invoice-processor-v2' : 'research-bot',
  session_id: `sess-${i % 3}`,
  user_id: 'system',
  source_type: 'agent_tool_call',
  event_type: 'TOOL_CALL_POST',
  tool_name: 'search_docs',
  content: `Found ${i} docs matching: "quarterly report" ✓ it's ${i}`,
  metadata: { sdk_language: 'python', event_phase: 'post' },
  approved_scope: ['search_docs'],
  enforcement_mode: 'progressive',
  session_tool_calls: ['search_docs'],
  occurred_at: new Date(t0 + i * 1_000).toISOString(),
}));

const get = async (path: string) => {
  const response = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe('an API process and an audit writer on one shared ClickHouse', () => {
  it('the API reads back, through the SOC feed, what the audit writer stored of what it ingested', async () => {
    const ingested = await fetch(`${api}/v1/events/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(ingested.status).toBe(202);

    let feed: { total?: number; data?: Array<Record<string, unknown>> } = {};
    const started = Date.now();
    await waitFor(
      'the feed to show every event',
      async () => {
        feed = (
          await get(`/${TENANT}/thoth/governance/feed?event_type=TOOL_CALL_POST&per_page=500&sort_dir=asc`)
        ).body;
        return feed.total === EVENTS;
      },
      30_000,
    );
    console.log(`[shared-store] ingested → readable through the API's feed in ${Date.now() - started} ms`);
    expect(feed.data?.map((e) => e.event_id)).toEqual(events.map((e) => e.event_id));
    expect(feed.data?.[7]).toMatchObject({
      event_id: 'shared-7',
      agent_id: 'invoice-processor-v2',
      content: events[7]!.content,
      occurred_at: events[7]!.occurred_at,
    });

    const filtered = await get(
      `/${TENANT}/thoth/governance/feed?agent_id=research-bot&search=${encodeURIComponent("it's 14")}`,
    );
    expect((filtered.body.data as Array<{ event_id: string }>).map((e) => e.event_id)).toEqual(['shared-14']);

    // The chains the audit writer linked verify through the API: both processes see one trail (the events, and
    // the tenant's `_admin` chain of the key's creation).
    const verified = await get(`/${TENANT}/governance/evidence/verify-chain`);
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ verified: true });
    expect(verified.body.records_checked).toBeGreaterThan(EVENTS);
    expect(Object.keys(verified.body.chain_head as object).sort()).toEqual([
      '_admin',
      'invoice-processor-v2',
      'research-bot',
    ]);
  });

  it('the trail is in the shared store only: no process kept a ClickHouse of its own', async () => {
    const client = createClient({
      url: shared.url,
      username: shared.user,
      password: shared.password,
      database,
    });
    try {
      const result = await client.query({
        query: "SELECT countIf(agent_id != '_admin') AS n, count() AS rows FROM events",
        format: 'JSONEachRow',
      });
      const [row] = await result.json<{ n: number | string; rows: number | string }>();
      expect(Number(row?.n)).toBe(EVENTS);
      // Every row the API verified is in this store.
      const verified = await get(`/${TENANT}/governance/evidence/verify-chain`);
      expect(verified.body.records_checked).toBe(Number(row?.rows));
    } finally {
      await client.close();
    }
    for (const name of ['api', 'writer'])
      expect(existsSync(join(processes.work, name, 'clickhouse'))).toBe(false);
  });
});
