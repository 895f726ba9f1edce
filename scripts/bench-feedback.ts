/**
 * Feedback latency of behavioral baselines: from the enforce API accepting a call that triggers a finding to
 * the enforce API applying the resulting directive.
 *
 *   npm run bench:feedback        # BENCH_TRIALS=40 BENCH_WARMUP_CALLS=250
 *
 * Thoth runs in this process as `npm start` runs it (`startRuntime`, default configuration: embedded bus and
 * chDB, the API, the audit writer and the baselines consumer); with KAFKA_BROKERS set it runs the distributed
 * shape on that broker instead (same process, its own topic prefix). Each trial uses a fresh agent:
 * 1. BENCH_WARMUP_CALLS normal calls over HTTP (search, read, payments of 10–200), more than the learning
 *    period; waits until GET /{tenant}/thoth/agents/{id}/baseline shows them all learned;
 * 2. the trigger: `submit_payment` with amount 50,000. t0 = the enforce answer arrived (the call was
 *    accepted and its decision event queued for the bus);
 * 3. t1 = the API's directive index (what every enforce call reads) holds the agent's step-up directive,
 *    polled every millisecond; then one more enforce call must answer STEP_UP (the check).
 * feedback = t1 − t0. Progress on stderr; the last stdout line is one JSON object:
 *   {"bus":"embedded","trials":40,"feedback_p50_ms":…,"feedback_p99_ms":…,"feedback_max_ms":…,"target_p99_ms":1000}
 * Exit 1 when a check fails; with BENCH_STRICT=1 also when p99 > 1,000 ms.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, loadConfig } from '@thoth/platform';
import { startRuntime } from '../services/thoth/src/runtime.ts';
import { benchReporter, freePort, percentile, round, sleep } from './bench-support.ts';

const TENANT = 'bench-corp';
const TARGET_P99_MS = 1_000;
const { progress, envInt } = benchReporter('bench:feedback');
const trials = envInt('BENCH_TRIALS', 40, 1);
const warmupCalls = envInt('BENCH_WARMUP_CALLS', 250, 1);

const dataDir = mkdtempSync(join(tmpdir(), 'thoth-bench-feedback-'));
const brokers = process.env.KAFKA_BROKERS;
const port = await freePort();
const config = loadConfig({
  THOTH_DATA_DIR: dataDir,
  PORT: String(port),
  THOTH_METRICS_PORT: '0',
  LOG_LEVEL: 'silent',
  THOTH_PRINT_ADMIN_TOKEN: 'false',
  ...(brokers
    ? {
        THOTH_MODE: 'distributed',
        KAFKA_BROKERS: brokers,
        THOTH_ADMIN_TOKEN: `bench-admin-${randomUUID()}`,
        THOTH_TOPIC_PREFIX: `bench-feedback-${randomUUID().slice(0, 8)}`,
      }
    : {}),
});
const runtime = await startRuntime(config, createLogger('silent'));
const api = runtime.api!;
const { apiKey } = await api.control.commands.createApiKey({
  tenantId: TENANT,
  name: 'bench',
  permissions: ['execute', 'read'],
  createdBy: 'bench',
});
const base = `http://127.0.0.1:${port}`;
const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };

async function enforce(agent: string, i: number, amount?: number): Promise<Record<string, unknown>> {
  const tool =
    amount !== undefined || i % 4 >= 2 ? 'submit_payment' : i % 4 === 0 ? 'search_docs' : 'read_invoice';
  const kwargs =
    tool === 'submit_payment'
      ? { amount: amount ?? 10 + ((i * 37) % 191), currency: 'EUR' }
      : { query: `invoice ${i}` };
  const res = await fetch(`${base}/v1/enforce`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      tenant_id: TENANT,
      agent_id: agent,
      session_id: `${agent}-s${Math.floor(i / 20)}`,
      user_id: 'bench',
      tool_name: tool,
      approved_scope: ['search_docs', 'read_invoice', 'submit_payment'],
      enforcement_mode: 'progressive',
      tool_args: { args: [], kwargs },
    }),
  });
  if (res.status !== 200) throw new Error(`enforce answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

async function learnedCalls(agent: string): Promise<number> {
  const res = await fetch(`${base}/${TENANT}/thoth/agents/${agent}/baseline`, { headers });
  if (res.status === 404) return 0;
  return Number(((await res.json()) as { calls?: number }).calls ?? 0);
}

const samples: number[] = [];
let failure: string | undefined;
try {
  for (let trial = 0; trial < trials; trial++) {
    const agent = `agent-${String(trial).padStart(3, '0')}`;
    for (let i = 0; i < warmupCalls; i++) await enforce(agent, i);
    const deadline = Date.now() + 60_000;
    while ((await learnedCalls(agent)) < warmupCalls) {
      if (Date.now() > deadline) throw new Error(`${agent}: the warm-up was not learned within 60 s`);
      await sleep(20);
    }
    // The trigger takes a payment's place in the usual sequence (… pay, pay, search …).
    const slot = warmupCalls + ((6 - (warmupCalls % 4)) % 4);
    const answer = await enforce(agent, slot, 50_000);
    const t0 = performance.now();
    if (answer.decision !== 'ALLOW') throw new Error(`${agent}: the trigger itself was ${answer.decision}`);
    while (!api.directives.forAgent(TENANT, agent).some((d) => d.level === 'step_up')) {
      if (performance.now() - t0 > 30_000) throw new Error(`${agent}: no step-up directive within 30 s`);
      await sleep(1);
    }
    samples.push(performance.now() - t0);
    const next = await enforce(agent, slot + 1);
    if (next.decision !== 'STEP_UP' || !String(next.reason).includes('numeric_outlier'))
      throw new Error(`${agent}: the call after the directive was ${next.decision} (${next.reason})`);
    progress(`trial ${trial + 1}/${trials}: ${round(samples.at(-1)!)} ms`);
  }
} catch (error) {
  failure = error instanceof Error ? error.message : String(error);
  progress(`check failed: ${failure}`);
} finally {
  await runtime.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

const p99 = percentile(samples, 99);
process.stdout.write(
  `${JSON.stringify({
    bus: brokers ? 'kafka' : 'embedded',
    trials: samples.length,
    warmup_calls: warmupCalls,
    feedback_p50_ms: round(percentile(samples, 50)),
    feedback_p99_ms: round(p99),
    feedback_max_ms: round(Math.max(...samples)),
    target_p99_ms: TARGET_P99_MS,
    ...(failure ? { error: failure } : {}),
  })}\n`,
);
if (failure || (process.env.BENCH_STRICT === '1' && p99 > TARGET_P99_MS)) process.exit(1);
process.exit(0);
