import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, uniquePrefix, waitFor } from './helpers.ts';
import { type Scrape, sampleValue, scrape } from './prometheus-text.ts';
import { ThothProcesses } from './thoth-processes.ts';

/**
 * `GET /metrics` of every process shape after real traffic: the embedded all-in-one (its consumers on their own
 * thread, their families merged into the one endpoint), and distributed API-only and consumer-only processes on
 * the test broker. Then the Grafana dashboard's PromQL may name only families these processes expose.
 */
const ROOT = resolve(import.meta.dirname, '..');
const ADMIN = 'metrics-admin-token-0123456789abcdef';
const work = mkdtempSync(join(tmpdir(), 'thoth-metrics-'));
const children: ChildProcess[] = [];
const distributed = new ThothProcesses('metrics', { prefix: uniquePrefix('metrics'), adminToken: ADMIN });
/** Every scrape taken, for the dashboard check. */
const scrapes: Scrape[] = [];

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await distributed.stopAll();
  rmSync(work, { recursive: true, force: true });
});

const json = { 'content-type': 'application/json' };
const bearer = (token: string) => ({ ...json, authorization: `Bearer ${token}` });

async function createKey(apiUrl: string, name: string): Promise<string> {
  const response = await fetch(`${apiUrl}/acme/thoth/api-keys`, {
    method: 'POST',
    headers: bearer(ADMIN),
    body: JSON.stringify({ name, permissions: ['execute', 'write', 'read'] }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { api_key: string }).api_key;
}

/** Calls of three kinds under examples/policy.yaml: BLOCK (payment_limit), STEP_UP (wire transfer), ALLOW. */
function toolCall(i: number): Record<string, unknown> {
  const base = { tenant_id: 'acme', agent_id: `agent-${i % 3}`, session_id: `s-${i}` };
  if (i % 4 === 0) return { ...base, tool_name: 'submit_payment', tool_args: { amount: 20_000 } };
  if (i % 4 === 1) return { ...base, tool_name: 'wire_transfer', tool_args: { to: 'x' } };
  return { ...base, tool_name: 'search_docs', tool_args: { q: 'report' } };
}

/** Sends `count` enforce calls at once; returns the answers' decisions by `decision/reason_code`, and the 429s. */
async function enforceMany(apiUrl: string, key: string, count: number) {
  const answers = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const response = await fetch(`${apiUrl}/v1/enforce`, {
        method: 'POST',
        headers: bearer(key),
        body: JSON.stringify(toolCall(i)),
      });
      const body = (await response.json()) as { decision?: string; decision_reason_code?: string };
      return { status: response.status, decision: body.decision, reason: body.decision_reason_code };
    }),
  );
  const decided = new Map<string, number>();
  for (const a of answers.filter((a) => a.status === 200)) {
    const id = `${a.decision}/${a.reason}`;
    decided.set(id, (decided.get(id) ?? 0) + 1);
  }
  const other = answers.filter((a) => a.status !== 200 && a.status !== 429);
  expect(other).toEqual([]);
  return {
    decided,
    answered: answers.filter((a) => a.status === 200).length,
    stepUps: answers.filter((a) => a.decision === 'STEP_UP').length,
    refused: answers.filter((a) => a.status === 429).length,
  };
}

async function ingest(apiUrl: string, key: string, count: number): Promise<void> {
  const events = Array.from({ length: count }, (_, i) => ({
    event_id: `acme:metrics-${i}`,
    tenant_id: 'acme',
    agent_id: 'agent-ingest',
    session_id: 'sess-ingest',
    user_id: 'system',
    source_type: 'agent_tool_call',
    event_type: 'TOOL_CALL_POST',
    tool_name: 'search_docs',
    content: 'ok',
    occurred_at: new Date().toISOString(),
  }));
  const response = await fetch(`${apiUrl}/v1/events/batch`, {
    method: 'POST',
    headers: bearer(key),
    body: JSON.stringify({ events }),
  });
  expect(response.status).toBe(202);
}

/** Every decision the answers reported is counted under its decision and reason code, and nothing else. */
function expectDecisionsCounted(text: string, decided: Map<string, number>): void {
  for (const [id, count] of decided) {
    const [decision, reason] = id.split('/') as [string, string];
    expect(sampleValue(text, 'thoth_decisions_total', { decision, reason_code: reason }), id).toBe(count);
  }
  const total = [...decided.values()].reduce((a, b) => a + b, 0);
  expect(sampleValue(text, 'thoth_decisions_total')).toBe(total);
  expect(sampleValue(text, 'thoth_enforce_latency_seconds_count')).toBe(total);
  expect(sampleValue(text, 'thoth_enforce_latency_seconds_bucket', { le: '+Inf' })).toBe(total);
}

describe('GET /metrics in every process shape', () => {
  it('embedded all-in-one: the API, its consumers on their thread, the SIEM sink and the process on one port', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const sinks = join(work, 'sinks.yaml');
    writeFileSync(
      sinks,
      `sinks:\n  - id: local-ocsf\n    tenant: "*"\n    type: file\n    format: ocsf\n    dir: ${join(work, 'siem')}\n`,
    );
    const child = spawn(process.execPath, ['services/thoth/dist/main.js'], {
      cwd: ROOT,
      env: {
        ...process.env,
        THOTH_MODE: 'embedded',
        THOTH_SERVICES: 'all',
        PORT: String(port),
        THOTH_METRICS_PORT: String(metricsPort),
        THOTH_DATA_DIR: join(work, 'embedded'),
        THOTH_ADMIN_TOKEN: ADMIN,
        THOTH_POLICY_FILE: 'examples/policy.yaml',
        THOTH_SIEM_CONFIG: sinks,
        // 10 requests/s per key (bursts of 20): 80 calls at once meet the limit.
        THOTH_RATE_LIMIT_PER_KEY: '10',
        THOTH_CHECKPOINT_INTERVAL_SECONDS: '1',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    const api = `http://127.0.0.1:${port}`;
    const metrics = `http://127.0.0.1:${metricsPort}`;
    await waitFor(
      'the embedded API',
      async () => (await fetch(`${api}/healthz`).catch(() => null))?.ok === true,
    );

    const key = await createKey(api, 'enforce');
    const traffic = await enforceMany(api, key, 80);
    expect(traffic.refused).toBeGreaterThan(0);
    await ingest(api, await createKey(api, 'ingest'), 25);
    // At least each answer's decision event and the ingested events reach the trail (holds and key creations add theirs).
    const stored = traffic.answered + 25;

    let last = await scrape(metrics);
    await waitFor(
      'the audit writer and the SIEM sink to catch up (counted on the thread, served by the process)',
      async () => {
        last = await scrape(metrics);
        return (
          (sampleValue(last.text, 'thoth_audit_flush_rows_total') ?? 0) >= stored &&
          (sampleValue(last.text, 'thoth_siem_events_delivered_total', { sink: 'local-ocsf' }) ?? 0) >=
            stored &&
          (sampleValue(last.text, 'thoth_chain_checkpoints_total') ?? 0) >= 1 &&
          sampleValue(last.text, 'thoth_consumer_lag_messages', { group: 'thoth.events.audit-writer' }) === 0
        );
      },
      30_000,
    );
    scrapes.push(last);
    const { text } = last;
    expectDecisionsCounted(text, traffic.decided);
    expect(sampleValue(text, 'thoth_rate_limited_total', { tenant: 'acme' })).toBe(traffic.refused);
    expect(sampleValue(text, 'thoth_approvals_pending', { tenant: 'acme' })).toBe(traffic.stepUps);
    expect(sampleValue(text, 'thoth_publisher_dropped_events_total')).toBe(0);
    expect(sampleValue(text, 'thoth_publisher_pending_events')).toBeDefined();
    expect(sampleValue(text, 'thoth_audit_flush_failures_total')).toBe(0);
    expect(sampleValue(text, 'thoth_audit_flush_duration_seconds_count')).toBeGreaterThan(0);
    expect(sampleValue(text, 'thoth_siem_sink_up', { sink: 'local-ocsf' })).toBe(1);
    expect(
      sampleValue(text, 'thoth_consumer_lag_messages', { group: 'thoth.events.baselines' }),
    ).toBeDefined();
    // Process metrics once (the main thread's): a thread reporting its own would double process-wide figures.
    expect(text.match(/^process_cpu_seconds_total /gm)).toHaveLength(1);
    expect(sampleValue(text, 'nodejs_eventloop_lag_seconds')).toBeDefined();
    // Not on the API's port.
    expect((await fetch(`${api}/metrics`)).status).toBe(404);
  });

  it('distributed: an API-only and a consumer-only process on the broker, each its own families', async () => {
    // Each process gets its own THOTH_METRICS_PORT; the consumer-only one is healthy once its listener answers.
    const apiProcess = await distributed.startProcess('api', 'api', {
      THOTH_POLICY_FILE: 'examples/policy.yaml',
    });
    const consumerProcess = await distributed.startProcess('consumers', 'audit-writer,baselines', {
      THOTH_CHECKPOINT_INTERVAL_SECONDS: '1',
    });
    const api = apiProcess.url;
    const apiMetrics = apiProcess.metricsUrl;
    const consumerMetrics = consumerProcess.metricsUrl;

    const key = await createKey(api, 'distributed');
    const traffic = await enforceMany(api, key, 12);
    expect(traffic.refused).toBe(0);
    await ingest(api, key, 10);
    const stored = traffic.answered + 10;

    let consumers = await scrape(consumerMetrics);
    await waitFor(
      'the consumer-only process to store the events and commit',
      async () => {
        consumers = await scrape(consumerMetrics);
        return (
          (sampleValue(consumers.text, 'thoth_audit_flush_rows_total') ?? 0) >= stored &&
          (sampleValue(consumers.text, 'thoth_chain_checkpoints_total') ?? 0) >= 1 &&
          sampleValue(consumers.text, 'thoth_consumer_lag_messages', { partition: '2' }) === 0 &&
          sampleValue(consumers.text, 'thoth_consumer_lag_messages') === 0
        );
      },
      60_000,
    );
    const apiScrape = await scrape(apiMetrics);
    scrapes.push(apiScrape, consumers);

    // The API process decides and publishes; it stores nothing and consumes no events topic.
    expectDecisionsCounted(apiScrape.text, traffic.decided);
    expect(sampleValue(apiScrape.text, 'thoth_approvals_pending', { tenant: 'acme' })).toBe(traffic.stepUps);
    expect(sampleValue(apiScrape.text, 'thoth_audit_flush_rows_total')).toBe(0);
    // The consumer process stores and reports lag per partition of its groups (3 partitions here).
    expect(sampleValue(consumers.text, 'thoth_decisions_total')).toBeUndefined();
    for (const partition of ['0', '1', '2'])
      for (const group of ['audit-writer', 'baselines'])
        expect(consumers.text, `${group} partition ${partition}`).toMatch(
          new RegExp(
            `thoth_consumer_lag_messages\\{group="[^"]*\\.events\\.${group}",topic="[^"]*\\.events",partition="${partition}"\\} 0`,
          ),
        );
    for (const text of [apiScrape.text, consumers.text])
      expect(text.match(/^process_cpu_seconds_total /gm)).toHaveLength(1);
  });

  it("the Grafana dashboard's queries name only families the processes expose", () => {
    expect(scrapes).toHaveLength(3);
    const exposed = new Set(scrapes.flatMap((s) => [...s.names]));
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/thoth.json'), 'utf8')) as {
      panels: Array<{ targets?: Array<{ expr: string }> }>;
    };
    const expressions = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(expressions.length).toBeGreaterThan(10);
    const referenced = new Set(
      expressions.flatMap((expr) =>
        [...expr.matchAll(/\b((?:thoth|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!),
      ),
    );
    const unknown = [...referenced].filter((name) => !exposed.has(name));
    expect(unknown).toEqual([]);
    // Every Thoth family has a panel.
    const thothFamilies = [...exposed].filter(
      (n) => n.startsWith('thoth_') && !/_(bucket|sum|count)$/.test(n),
    );
    expect(thothFamilies.filter((family) => ![...referenced].some((r) => r.startsWith(family)))).toEqual([]);
  });
});
