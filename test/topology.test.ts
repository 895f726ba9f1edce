import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, instrumentAnthropic, ThothPolicyViolation } from '../sdk/typescript/src/index.ts';
import { type SharedClickHouse, startSharedClickHouse } from './clickhouse-http/shared-clickhouse.ts';
import { uniquePrefix, waitFor } from './helpers.ts';
import { ThothProcesses } from './thoth-processes.ts';

/**
 * The distributed topology, every service its own process: two API replicas, the audit writer, the baselines
 * consumer, the SIEM exporter and the approval notifier, on the test's Kafka broker and ONE shared ClickHouse
 * (test/clickhouse-http: the ClickHouse HTTP interface over chDB, or CLICKHOUSE_URL's real server). SDK traffic
 * is spread over both replicas and must decide as one process would; holds, policies and keys cross replicas;
 * each replica reads the whole trail; `kill -9` of any one process loses and duplicates nothing.
 */
const ADMIN = 'topology-admin-token-0123456789';
const TENANT = 'acme-corp';
const WEBHOOK_SECRET = 'topology-webhook-secret-0123456789';
const processes = new ThothProcesses('topology', { prefix: uniquePrefix('topology'), adminToken: ADMIN });
let clickhouse: SharedClickHouse;
let webhook: Server;
const webhookBodies: Array<Record<string, unknown>> = [];
const DATABASE = `topology_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const PUBLIC_URL = 'https://thoth.example.com';
let api1 = '';
let api2 = '';
let agentKey = '';
let socKey = '';

const json = async (r: Response) => (await r.json()) as Record<string, unknown>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  clickhouse = await startSharedClickHouse();
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      webhookBodies.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  const port = (webhook.address() as { port: number }).port;

  const policyFile = join(processes.work, 'policy.yaml');
  writeFileSync(
    policyFile,
    [
      // Progressive escalation: each export adds 35 risk points (warn 30, step up 60, block 85).
      'rules:',
      '  - { id: bulk-export, condition: "true", tools: [export_data], effect: FLAG, risk_points: 35, reason: bulk export, reason_code: bulk_export }',
      '  - { id: approve-wire, condition: tool == "wire_transfer", effect: STEP_UP, reason: wires need approval }',
      '',
    ].join('\n'),
  );
  const sinksFile = join(processes.work, 'sinks.yaml');
  writeFileSync(
    sinksFile,
    `sinks:\n  - { id: archive, type: file, tenant: "*", dir: ${JSON.stringify(join(processes.work, 'siem'))}, max_age_seconds: 1 }\n`,
  );
  const shared = {
    CLICKHOUSE_URL: clickhouse.url,
    CLICKHOUSE_DATABASE: DATABASE,
    THOTH_POLICY_FILE: policyFile,
    THOTH_CHECKPOINT_INTERVAL_SECONDS: '2',
    // A member killed with -9 holds its partitions until its session times out: the broker's minimum (6 s)
    // instead of 30 s keeps each restart in this test short.
    KAFKA_SESSION_TIMEOUT_MS: '6000',
  };
  // The API replicas first: they create the topics; the consumers then start together.
  api1 = await processes.start('api-1', 'api', shared);
  api2 = await processes.start('api-2', 'api', shared);
  await Promise.all([
    processes.start('audit-writer', 'audit-writer', shared),
    processes.start('baselines', 'baselines', shared),
    processes.start('siem-export', 'siem-export', { ...shared, THOTH_SIEM_CONFIG: sinksFile }),
    processes.start('notifier', 'approval-notifier', {
      ...shared,
      THOTH_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
      THOTH_WEBHOOK_SECRET: WEBHOOK_SECRET,
      THOTH_PUBLIC_URL: PUBLIC_URL,
    }),
  ]);
  const create = async (name: string, permissions: string[]) =>
    (
      await json(
        await fetch(`${api1}/${TENANT}/thoth/api-keys`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name, permissions }),
        }),
      )
    ).api_key as string;
  agentKey = await create('agent', ['execute', 'write']);
  socKey = await create('soc', ['read', 'admin']);
  await waitFor(
    'api-2 to learn the keys',
    async () => (await fetch(`${api2}/${TENANT}/thoth/approvals`, { headers: { 'x-api-key': socKey } })).ok,
    5_000,
  );
}, 240_000);

afterAll(async () => {
  await processes.stopAll();
  await clickhouse?.stop();
  webhook?.close();
});

const enforce = (url: string, body: Record<string, unknown>, key = agentKey) =>
  fetch(`${url}/v1/enforce`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent_id: 'topology-bot', tenant_id: TENANT, ...body }),
  });

const feedTotal = async (url: string, query: string) =>
  (
    await json(
      await fetch(`${url}/${TENANT}/thoth/governance/feed?per_page=1&${query}`, {
        headers: { 'x-api-key': socKey },
      }),
    )
  ).total as number;

/**
 * The calls of one session, each awaited, then this far apart: longer than a session's update takes to reach the
 * other replica (measured on this loaded 2-core machine: about 90 ms typical, 310 ms at worst; docs/deploy.md).
 */
const CALL_GAP_MS = 500;
const SCRIPT = [
  'search_docs',
  'export_data',
  'search_docs',
  'export_data',
  'export_data',
  'search_docs',
  'export_data',
];

/** Runs SCRIPT in one session, call i through `urls[i % urls.length]`, with the real TypeScript SDK. */
async function runSession(urls: string[], sessionId: string): Promise<string[]> {
  const tools = {
    search_docs: async () => 'found',
    export_data: async () => 'exported',
  };
  const governed = urls.map((apiUrl) =>
    instrumentAnthropic(tools, {
      agentId: 'topology-bot',
      tenantId: TENANT,
      apiKey: agentKey,
      apiUrl,
      sessionId,
      approvedScope: ['search_docs', 'export_data'],
      enforcement: 'progressive',
      // A STEP_UP here is an outcome to compare, not a person to wait for.
      stepUpTimeoutMs: 100,
      stepUpPollIntervalMs: 50,
      failOpen: false,
    }),
  );
  const outcomes: string[] = [];
  for (const [i, tool] of SCRIPT.entries()) {
    const via = governed[i % governed.length]!;
    try {
      await via[tool as keyof typeof tools]();
      outcomes.push(`${tool}:ALLOW`);
    } catch (error) {
      if (!(error instanceof ThothPolicyViolation)) throw error;
      outcomes.push(`${tool}:${error.decision}:${error.decisionReasonCode}`);
    }
    await sleep(CALL_GAP_MS);
  }
  return outcomes;
}

describe('the distributed topology: two API replicas, four consumers, one shared ClickHouse', () => {
  it('SDK traffic spread over both replicas decides exactly as one process (progressive escalation included)', async () => {
    const run = `${Date.now()}`;
    const sessions = Array.from({ length: 6 }, (_, i) => i);
    const spread = await Promise.all(sessions.map((i) => runSession([api1, api2], `spread-${run}-${i}`)));
    const single = await Promise.all(sessions.map((i) => runSession([api1], `single-${run}-${i}`)));
    expect(spread).toEqual(single);
    // The script escalates: a warning, a step-up and a block on one process.
    expect(single[0]).toEqual([
      'search_docs:ALLOW',
      'export_data:ALLOW',
      'search_docs:ALLOW',
      'export_data:STEP_UP:step_up_timeout',
      'export_data:BLOCK:bulk_export',
      'search_docs:ALLOW',
      'export_data:BLOCK:bulk_export',
    ]);
    await flush(10_000);
  });

  it('a hold created on one replica is approved on the other, and the notifier links it', async () => {
    const held = await json(
      await enforce(api1, { tool_name: 'wire_transfer', session_id: `hold-${Date.now()}` }),
    );
    expect(held.decision).toBe('STEP_UP');
    let id = '';
    await waitFor(
      'api-2 to list the approval',
      async () => {
        const list = await json(
          await fetch(`${api2}/${TENANT}/thoth/approvals?status=pending`, {
            headers: { 'x-api-key': socKey },
          }),
        );
        id = ((list.data as Array<Record<string, unknown>>).find((a) => a.violation_id === held.violation_id)
          ?.id ?? '') as string;
        return id !== '';
      },
      5_000,
    );
    const resolved = await fetch(`${api2}/${TENANT}/thoth/approvals/${id}/resolve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${socKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'approve', comment: 'verified by phone' }),
    });
    expect(resolved.status).toBe(200);
    await waitFor(
      'api-1 to answer ALLOW',
      async () =>
        (
          await json(
            await fetch(`${api1}/v1/enforce/hold/${held.hold_token}`, { headers: { 'x-api-key': agentKey } }),
          )
        ).decision === 'ALLOW',
      1_000,
    );
    await waitFor(
      'the notifier to post the request and its resolution',
      async () =>
        webhookBodies.filter((b) => JSON.stringify(b).includes(String(held.violation_id))).length >= 2,
      10_000,
    );
    const posted = webhookBodies.find((b) => JSON.stringify(b).includes(String(held.violation_id)));
    expect(posted?.approval_url).toBe(`${PUBLIC_URL}/console/approvals?id=${id}`);
  });

  it('a policy change and a key revocation take effect on both replicas within 1 s', async () => {
    const changedAt = Date.now();
    const put = await fetch(`${api2}/${TENANT}/thoth/policies`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        policy: {
          rules: [{ id: 'no-shell', condition: 'tool == "shell"', effect: 'BLOCK', reason: 'no shell' }],
        },
      }),
    });
    expect(put.status).toBe(201);
    const blocked = async (url: string) =>
      (await json(await enforce(url, { tool_name: 'shell', session_id: 'policy' }))).decision === 'BLOCK';
    await waitFor(
      'both replicas to apply the policy',
      async () => (await blocked(api1)) && (await blocked(api2)),
      1_000,
    );
    console.log(`[topology] policy in force on both replicas after ${Date.now() - changedAt} ms`);

    const doomed = await json(
      await fetch(`${api1}/${TENANT}/thoth/api-keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'doomed', permissions: ['execute'] }),
      }),
    );
    const works = async (url: string) =>
      (await enforce(url, { tool_name: 'search_docs', session_id: 'k' }, doomed.api_key as string)).status;
    await waitFor('api-2 to learn the key', async () => (await works(api2)) === 200, 5_000);
    const revokedAt = Date.now();
    const revoke = await fetch(`${api1}/${TENANT}/thoth/api-keys/${doomed.key_id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(revoke.status).toBe(200);
    await waitFor(
      'both replicas to refuse the key',
      async () => (await works(api1)) === 401 && (await works(api2)) === 401,
      1_000,
    );
    console.log(`[topology] key refused on both replicas after ${Date.now() - revokedAt} ms`);
  });

  it('kill -9 of each process in turn mid-stream loses nothing and duplicates nothing; every chain verifies', async () => {
    const agent = `kill-bot-${Date.now()}`;
    const sentIds = new Set<string>();
    const acknowledgedIds = new Set<string>();
    let stop = false;
    // Ingest through both replicas, alternately; only a 202 counts as acknowledged.
    const stream = (async () => {
      for (let batch = 0; !stop; batch++) {
        const events = Array.from({ length: 20 }, (_, i) => ({
          event_id: `${TENANT}:${randomUUID()}`,
          agent_id: agent,
          session_id: `kill-${batch % 5}`,
          event_type: i % 2 ? 'TOOL_CALL_POST' : 'TOOL_CALL_PRE',
          tool_name: 'search_docs',
          content: `batch ${batch} event ${i}`,
        }));
        for (const e of events) sentIds.add(e.event_id);
        const response = await fetch(`${batch % 2 ? api2 : api1}/v1/events/batch`, {
          method: 'POST',
          headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ events }),
        }).catch(() => undefined);
        if (response?.status === 202) for (const e of events) acknowledgedIds.add(e.event_id);
        await sleep(50);
      }
    })();
    for (const name of ['audit-writer', 'baselines', 'siem-export', 'notifier', 'api-2']) {
      await sleep(700);
      await processes.kill(name);
      await sleep(300);
      const restarting = Date.now();
      const url = await processes.restart(name);
      console.log(`[topology] ${name} killed, restarted in ${Date.now() - restarting} ms`);
      if (name === 'api-2') api2 = url;
    }
    await sleep(500);
    stop = true;
    await stream;
    console.log(
      `[topology] ${acknowledgedIds.size} of ${sentIds.size} events acknowledged while each process was killed in turn`,
    );

    // The trail itself, straight from the shared store: every acknowledged event once, nothing never sent.
    const store = createClient({ url: clickhouse.url, database: DATABASE });
    const stored = async () =>
      (
        await (
          await store.query({
            query:
              'SELECT event_id, count() AS copies FROM events WHERE agent_id = {agent:String} GROUP BY event_id',
            query_params: { agent },
            format: 'JSONEachRow',
          })
        ).json<{ event_id: string; copies: string | number }>()
      ).map((r) => ({ id: r.event_id, copies: Number(r.copies) }));
    const drained = Date.now();
    await waitFor(
      'the trail to hold every acknowledged event',
      async () => {
        const ids = new Set((await stored()).map((r) => r.id));
        return [...acknowledgedIds].every((id) => ids.has(id));
      },
      60_000,
    );
    console.log(
      `[topology] the trail held every acknowledged event ${Date.now() - drained} ms after the stream`,
    );
    await sleep(2_000); // anything duplicated or late would show up now
    const rows = await stored();
    await store.close();
    expect(rows.filter((r) => r.copies > 1)).toEqual([]);
    // An event published but not acknowledged (its replica killed mid-request) may be stored; nothing else.
    expect(rows.filter((r) => !sentIds.has(r.id))).toEqual([]);
    // Each replica's feed reads that whole trail.
    expect(await feedTotal(api1, `agent_id=${agent}`)).toBe(rows.length);
    expect(await feedTotal(api2, `agent_id=${agent}`)).toBe(rows.length);

    const verified = await json(
      await fetch(`${api2}/${TENANT}/governance/evidence/verify-chain`, { headers: { 'x-api-key': socKey } }),
    );
    expect(verified).toMatchObject({ verified: true });
    expect(verified.records_checked as number).toBeGreaterThanOrEqual(rows.length);

    // The SIEM exporter, killed mid-stream, delivered every acknowledged event at least once (OCSF metadata.uid).
    const exported = () => {
      const dir = join(processes.work, 'siem');
      const uids = new Set<string>();
      for (const file of readdirSync(dir))
        for (const line of readFileSync(join(dir, file), 'utf8').split('\n'))
          if (line.includes(agent) && line.endsWith('}'))
            uids.add((JSON.parse(line) as { metadata: { uid: string } }).metadata.uid);
      return uids;
    };
    await waitFor(
      'the SIEM archive to hold every acknowledged event',
      async () => {
        const uids = exported();
        return [...acknowledgedIds].every((id) => uids.has(id));
      },
      30_000,
    );
  });
});
