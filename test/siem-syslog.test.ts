import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DecisionEvent } from '@thoth/contracts';
import { agentKey, topicNames, topicSpecs } from '@thoth/contracts';
import type { Bus } from '@thoth/platform';
import { AvroCodec, type MetricsServer, startMetricsServer } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SiemExporter } from '../services/siem-export/src/siem-exporter.ts';
import { parseSinkConfig } from '../services/siem-export/src/sink-config.ts';
import { adapters, freePort, quietLog, uniquePrefix, waitFor } from './helpers.ts';
import { makeTestCa, Rsyslog } from './rsyslog.ts';

const TOTAL = 10_000;
const DECISIONS = ['ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY', 'DEFER'] as const;

let dir: string;
let bus: Bus;
let rsyslog: Rsyslog;
let exporter: SiemExporter;
/** The process's metrics listener, as runtime.ts starts it: the exporter's sinks show on it. */
let metricsServer: MetricsServer;
const codec = new AvroCodec();
const topics = topicNames(uniquePrefix('siem-syslog'));

function decision(i: number): DecisionEvent {
  return {
    event_id: `evt-${i}-${randomUUID().slice(0, 8)}`,
    tenant_id: 'acme-corp',
    agent_id: `agent-${i % 7}`,
    session_id: `sess-${i % 50}`,
    user_id: 'alice',
    tool_name: `tool_${i % 11}`,
    decision: DECISIONS[i % DECISIONS.length]!,
    would_be_decision: DECISIONS[i % DECISIONS.length]!,
    enforcement_mode: 'enforce',
    environment: 'test',
    reason: `rule ${i} | a=b \\ done`,
    reason_code: 'policy',
    action_classification: 'read',
    violation_id: `v-${i}`,
    enforcement_trace_id: `trace-${i}`,
    risk_score: i % 101,
    matched_rule_ids: [],
    model_signals: [],
    top_contributors_json: '[]',
    decision_evidence_json: '{}',
    tool_args_json: null,
    modified_tool_args_json: null,
    hold_token: null,
    policy_version: 1,
    latency_us: 100,
    receipt_signature: 's',
    receipt_key_id: 'k',
    request_id: null,
    replay_json: null,
    receipt_json: null,
    purpose: null,
    data_classification: null,
    occurred_at: Date.now(),
  };
}

/** CEF extension `key=value` pairs back from one line (values unescaped). */
function cefFields(line: string): Record<string, string> {
  const extension = line
    .split(/(?<!\\)\|/)
    .slice(7)
    .join('|');
  const out: Record<string, string> = {};
  for (const m of extension.matchAll(/([A-Za-z0-9]+)=((?:\\.|[^\\])*?)(?= [A-Za-z0-9]+=|$)/g))
    out[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\([\\=])/g, '$1');
  return out;
}

async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'thoth-siem-syslog-'));
  const ca = makeTestCa(join(dir, 'tls'));
  rsyslog = new Rsyslog(join(dir, 'rsyslog'), await freePort(), ca);
  await rsyslog.start();
  bus = adapters.find((a) => a.name === 'kafka')!.create();
  await bus.ensureTopics(topicSpecs(topics, 3));
  const sinks = parseSinkConfig({
    sinks: [
      {
        id: 'arcsight',
        tenant: 'acme-corp',
        type: 'syslog',
        format: 'cef',
        host: '127.0.0.1',
        port: rsyslog.port,
        tls: true,
        ca_file: ca.caFile,
        batch_size: 500,
        backoff_initial_ms: 200,
        backoff_max_ms: 2_000,
        // A loaded CI machine can take seconds to confirm a batch (TLS handshake, rsyslog's close); a short
        // timeout would resend batch after batch and starve the receiver further.
        timeout_ms: 30_000,
      },
    ],
  });
  exporter = new SiemExporter({
    bus,
    codec,
    eventsTopic: topics.events,
    log: quietLog,
    sinks,
  });
  await exporter.start();
  metricsServer = await startMetricsServer('127.0.0.1', 0);
}, 120_000);

afterAll(async () => {
  await exporter?.stop();
  await metricsServer?.close();
  await bus?.close();
  await rsyslog?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('SIEM export: CEF over TLS to a real rsyslog', () => {
  it(`delivers ${TOTAL} events with the right fields, losing none across a 30 s receiver outage`, async () => {
    const events = Array.from({ length: TOTAL }, (_, i) => decision(i));
    const publish = async (from: number, to: number) => {
      for (let i = from; i < to; i += 500)
        await bus.publish(
          topics.events,
          events
            .slice(i, Math.min(to, i + 500))
            .map((e) => codec.encode('thoth.v1.DecisionEvent', agentKey(e.tenant_id, e.agent_id), e)),
        );
    };
    const port = metricsServer.port;

    // The first half flows; then the receiver goes away, and the second half is published during the outage.
    // The stop comes between deliveries, with the first half written: plain syslog has no acknowledgement, so a
    // receiver that stops while it holds a batch it has read but not written can drop that batch without the
    // sender being able to tell (docs/siem.md). What is tested is the sender's side: nothing it knows to be
    // undelivered is ever lost, through the outage and after it.
    await publish(0, TOTAL / 2);
    await waitFor(
      'the first half at rsyslog, nothing in flight',
      async () =>
        rsyslog.lines().length >= TOTAL / 2 &&
        (await metrics(port)).includes(
          `thoth_siem_events_delivered_total{sink="arcsight",type="syslog",tenant="acme-corp"} ${TOTAL / 2}`,
        ),
      60_000,
    );
    await rsyslog.stop();
    const atStop = rsyslog.lines().length;
    await publish(TOTAL / 2, TOTAL);
    const outageStarted = Date.now();
    await waitFor('the exporter to notice the outage', async () =>
      (await metrics(port)).includes(
        'thoth_siem_sink_up{sink="arcsight",type="syslog",tenant="acme-corp"} 0',
      ),
    );
    const during = await metrics(port);
    expect(during).toMatch(/thoth_siem_events_failed_total\{sink="arcsight"[^}]*\} [1-9]/);
    const lag = Number(/thoth_siem_consumer_lag_messages\{sink="arcsight"[^}]*\} (\d+)/.exec(during)?.[1]);
    expect(lag).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - outageStarted))));
    expect(rsyslog.lines().length).toBe(atStop); // nothing written while it was down
    await rsyslog.start();

    const byId = new Map(events.map((e) => [e.event_id, e]));
    const seen = new Set<string>();
    await waitFor(
      `all ${TOTAL} events at rsyslog`,
      () => {
        for (const line of rsyslog.lines()) {
          const id = cefFields(line).externalId;
          if (id && byId.has(id)) seen.add(id);
        }
        return seen.size === TOTAL;
      },
      150_000,
    ).catch(async (error: Error) => {
      // What a failure needs to be diagnosed: how far delivery got, and the exporter's own view of the sink.
      const sink = (await metrics(port).catch(() => '')).split('\n').filter((l) => l.includes('arcsight'));
      throw new Error(
        `${error.message}: ${seen.size} of ${TOTAL} seen; exporter metrics:\n${sink.join('\n')}`,
      );
    });
    const lines = rsyslog.lines();
    for (const line of lines) {
      expect(line.startsWith('CEF:0|Thoth|Thoth|0.1.0|thoth:decision:')).toBe(true);
      const fields = cefFields(line);
      const sent = byId.get(fields.externalId!)!;
      expect(fields).toMatchObject({
        act: sent.decision,
        cs1: 'acme-corp',
        cs2: sent.agent_id,
        cs4: sent.tool_name,
        cn1: String(sent.risk_score),
        reason: sent.reason,
        rt: String(sent.occurred_at),
      });
    }
    const after = await metrics(port);
    expect(after).toContain(`thoth_siem_sink_up{sink="arcsight",type="syslog",tenant="acme-corp"} 1`);
    expect(after).toMatch(/thoth_siem_events_retried_total\{sink="arcsight"[^}]*\} [1-9]/);
    console.log(
      `[siem-syslog] ${TOTAL} events, ${lines.length} lines at rsyslog (${lines.length - TOTAL} duplicates from retried batches)`,
    );
    // The inner waits (60 s + the 30 s outage + a 15 s restart + 90 s) bound it, not the default timeout.
  }, 240_000);
});
