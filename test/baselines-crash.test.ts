import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DecisionEvent } from '@thoth/contracts';
import { agentKey, topicNames, topicSpecs } from '@thoth/contracts';
import type { Bus, DecodedRecord, OutgoingMessage } from '@thoth/platform';
import { AvroCodec, loadConfig } from '@thoth/platform';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  type AgentBaseline,
  analyzeCall,
  baselineSettings,
  newBaseline,
} from '../services/baselines/src/agent-baseline.ts';
import { callObservation } from '../services/baselines/src/observations.ts';
import { callDecision } from './fixtures.ts';
import { adapters, groupProgress, uniquePrefix } from './helpers.ts';

/**
 * The baselines consumer (`main.ts`, THOTH_SERVICES=baselines, distributed mode, its own chDB) is killed with
 * SIGKILL while it learns 36,000 decisions, 3 times, and restarted each time. Afterwards every agent's saved
 * baseline equals the baseline the same records give when applied exactly once, in process: nothing learned
 * twice, nothing lost, the same findings and the same escalation.
 */
const ROOT = resolve(import.meta.dirname, '..');
const AGENTS = 12;
const PER_AGENT = 3_000;
const KILLS = 3;
const PARTITIONS = 6;
const TENANT = 'crash-corp';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const log = (line: string) =>
  console.log(`[baselines-crash +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);

const prefix = uniquePrefix('bl-crash');
const topics = topicNames(prefix);
const group = `${topics.events}.baselines`;
const dataDir = mkdtempSync(join(tmpdir(), 'thoth-bl-crash-'));
const env: Record<string, string> = {
  THOTH_MODE: 'distributed',
  THOTH_SERVICES: 'baselines',
  KAFKA_SESSION_TIMEOUT_MS: '6000',
  THOTH_ADMIN_TOKEN: 'crash-test-admin-token-0123456789',
  THOTH_DATA_DIR: dataDir,
  THOTH_TOPIC_PREFIX: prefix,
  THOTH_TOPIC_PARTITIONS: String(PARTITIONS),
  THOTH_BASELINE_RATE_WINDOW_SECONDS: '1',
  LOG_LEVEL: 'warn',
};
let bus: Bus | undefined;
let admin: Admin | undefined;
const live = new Set<ChildProcess>();

afterAll(async () => {
  for (const child of live) child.kill('SIGKILL');
  await admin?.disconnect();
  await bus?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function run(
  args: string[],
  extraEnv: Record<string, string>,
): { child: ChildProcess; exited: Promise<number | null>; out: () => string } {
  const child = spawn(process.execPath, ['--conditions=thoth-source', '--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...extraEnv, CLICKHOUSE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => {
    const text = String(d);
    if (!text.includes('no CLICKHOUSE_URL')) log(`child: ${text.trim().slice(0, 300)}`);
  });
  const exited = new Promise<number | null>((res) =>
    child.on('exit', (code) => {
      live.delete(child);
      res(code);
    }),
  );
  return { child, exited, out: () => out };
}

const startConsumer = (life: number) =>
  run(['services/thoth/src/main.ts'], {
    ...env,
    KAFKA_BROKERS: inject('kafkaBrokers').join(','),
    KAFKA_CLIENT_ID: `bl-crash-${life}`,
  });

const committed = () => groupProgress(admin!, group, topics.events);

/** Every agent's newest saved baseline, read in a short-lived process (chDB: one process per directory). */
async function savedBaselines(): Promise<{ states: AgentBaseline[]; findings: number; distinct: number }> {
  const code = `
    import { Store } from '@thoth/platform';
    const store = await Store.open({ database: 'thoth', dataDir: process.env.PROBE_DIR });
    const states = await store.select('SELECT argMax(state, version) AS state FROM baseline_state GROUP BY tenant_id, agent_id');
    const [f] = await store.select('SELECT count() AS rows, uniqExact(finding_id) AS ids FROM findings FINAL');
    await store.close();
    const out = JSON.stringify({ states: states.map((s) => JSON.parse(s.state)), findings: Number(f.rows), distinct: Number(f.ids) });
    // Exit only once the pipe took everything.
    process.stdout.write(out, () => process.exit(0));`;
  const probe = run(['--input-type=module', '-e', code], { PROBE_DIR: dataDir });
  expect(await probe.exited).toBe(0);
  return JSON.parse(probe.out());
}

/** The parts of a baseline that must not depend on how often the consumer crashed. */
function learned(b: AgentBaseline) {
  const { version, positions, published_level, published_finding_ids, ...rest } = b;
  return rest;
}

describe('baselines consumer under SIGKILL', () => {
  it('resumes from its saved state after kill -9: every decision learned exactly once', async () => {
    const brokers = inject('kafkaBrokers');
    bus = adapters.find((a) => a.name === 'kafka')!.create();
    await bus.ensureTopics(topicSpecs(topics, PARTITIONS));
    admin = new Kafka({ clientId: 'bl-crash-admin', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();

    const codec = new AvroCodec();
    const base = Date.parse('2026-11-24T09:00:00Z');
    const records: DecisionEvent[] = [];
    for (let i = 0; i < PER_AGENT; i++)
      for (let a = 0; a < AGENTS; a++) {
        const last = i === PER_AGENT - 1;
        const pay = last || i % 4 >= 2;
        records.push(
          callDecision(
            TENANT,
            `agent-${a}`,
            i,
            base + i * 100,
            pay ? 'submit_payment' : 'search_docs',
            last ? 50_000 : 10 + ((i * 37) % 191),
          ),
        );
      }
    let batch: OutgoingMessage[] = [];
    for (const r of records) {
      batch.push(codec.encode('thoth.v1.DecisionEvent', agentKey(r.tenant_id, r.agent_id), r));
      if (batch.length === 2_000) {
        await bus.publish(topics.events, batch);
        batch = [];
      }
    }
    await bus.publish(topics.events, batch);

    let kills = 0;
    for (let life = 1; life <= KILLS; life++) {
      const before = await committed();
      const consumer = startConsumer(life);
      const started = Date.now();
      let now = before;
      while (now.committed <= before.committed) {
        if (Date.now() - started > 90_000) throw new Error(`consumer #${life} did not commit within 90 s`);
        await sleep(15);
        now = await committed();
      }
      // Soon after its first commit, while it still has most of the stream ahead.
      await sleep(Math.floor(Math.random() * 100));
      consumer.child.kill('SIGKILL');
      await consumer.exited;
      const after = await committed();
      log(`KILL #${life}: committed ${before.committed} → ${after.committed}, lag ${after.lag}`);
      if (after.lag > 0 && after.committed > before.committed) kills++;
    }
    expect(kills).toBeGreaterThanOrEqual(2);

    const final = startConsumer(KILLS + 1);
    const started = Date.now();
    while ((await committed()).lag > 0) {
      if (Date.now() - started > 120_000) throw new Error('the final consumer did not catch up within 120 s');
      await sleep(200);
    }
    final.child.kill('SIGTERM');
    expect(await final.exited).toBe(0);

    // The reference: the same records applied exactly once, in order, in process.
    const settings = baselineSettings(loadConfig({ ...env, THOTH_MODE: 'embedded' }));
    const expected = new Map<string, AgentBaseline>();
    for (const r of records) {
      const record = { schema: 'thoth.v1.DecisionEvent', value: r } as DecodedRecord;
      const call = callObservation(record, true)!;
      const b = expected.get(r.agent_id) ?? newBaseline(TENANT, r.agent_id, call.atMs);
      expected.set(r.agent_id, b);
      analyzeCall(b, call, settings);
    }
    const saved = await savedBaselines();
    expect(saved.states).toHaveLength(AGENTS);
    for (const state of saved.states) {
      expect(state.calls).toBe(PER_AGENT);
      expect(learned(state)).toEqual(learned(expected.get(state.agent_id)!));
      expect(state.escalation.map((e) => e.detector)).toContain('numeric_outlier');
    }
    expect(saved.distinct).toBe(saved.findings);
  });
});
