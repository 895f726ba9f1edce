import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { agentKey, dlqTopic, topicNames, topicSpecs } from '@thoth/contracts';
import type { Bus, OutgoingMessage } from '@thoth/platform';
import { AvroCodec, SigningKey, Store } from '@thoth/platform';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { prng } from '../scripts/bench-support.ts';
import { verifyChains } from '../services/api/src/soc/evidence.ts';
import { behavioralEvent } from './fixtures.ts';
import { adapters, groupProgress, uniquePrefix } from './helpers.ts';

/**
 * Acceptance of the audit issue: 50,000 events on the bus; the audit-writer process (`main.ts` in distributed
 * mode, THOTH_SERVICES=audit-writer, its own chDB) is killed with SIGKILL at random moments while it consumes,
 * at least 5 times, and restarted each time; after recovery `count() = uniqExact(event_id) = 50,000` and every
 * agent's chain verifies. Every event is published before the first writer starts.
 *
 * Reproduce a run with CRASH_SEED=<seed> (printed at the start). CRASH_KILLS sets the number of kills (≥ 5).
 */

const ROOT = resolve(import.meta.dirname, '..');
const TOTAL = 50_000;
const AGENTS = 20;
const TENANTS = ['crash-tenant-a', 'crash-tenant-b'];
const PARTITIONS = 6;
const KILLS = Math.max(5, Number(process.env.CRASH_KILLS ?? 5));
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

const random = prng(SEED);
const between = (lo: number, hi: number) => Math.floor(lo + random() * (hi - lo + 1));

const t0 = Date.now();
const log = (line: string) => console.log(`[crash +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const prefix = uniquePrefix('crash');
const topics = topicNames(prefix);
const dataDir = mkdtempSync(join(tmpdir(), 'thoth-crash-'));
let bus: Bus | undefined;
let admin: Admin | undefined;
const live = new Set<ChildProcess>();

afterAll(async () => {
  for (const child of live) child.kill('SIGKILL');
  await admin?.disconnect();
  await bus?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Writer {
  n: number;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The production command (`npm start`) running only the audit-writer consumer on Kafka, chDB in dataDir. */
function startWriter(n: number): Writer {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    THOTH_MODE: 'distributed',
    THOTH_SERVICES: 'audit-writer',
    KAFKA_BROKERS: inject('kafkaBrokers').join(','),
    KAFKA_CLIENT_ID: `crash-writer-${n}`,
    // A restarted writer resumes once the broker dropped the killed member: keep that short in a test.
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    THOTH_ADMIN_TOKEN: 'crash-test-admin-token-0123456789',
    THOTH_DATA_DIR: dataDir,
    THOTH_TOPIC_PREFIX: prefix,
    THOTH_TOPIC_PARTITIONS: String(PARTITIONS),
    // Checkpoints are signed while the crashes happen, not only at the final drain.
    THOTH_CHECKPOINT_INTERVAL_SECONDS: '1',
    // Small inserts, so a life commits many times and a kill can land between any two of them.
    THOTH_AUDIT_FLUSH_ROWS: '500',
    LOG_LEVEL: process.env.CRASH_WRITER_LOG_LEVEL ?? 'warn',
  };
  delete env.CLICKHOUSE_URL;
  const child = spawn(process.execPath, ['services/thoth/dist/main.js'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const relay = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n'))
      if (line.trim() && !line.includes('no CLICKHOUSE_URL')) log(`writer#${n}: ${line.slice(0, 400)}`);
  };
  child.stdout?.on('data', relay);
  child.stderr?.on('data', relay);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => {
      live.delete(child);
      res({ code, signal });
    }),
  );
  return { n, child, exited };
}

/** The audit writer's group (named after the events topic): its committed position and what is left. */
const group = () => `${topics.events}.audit-writer`;
const progress = () => groupProgress(admin!, group(), topics.events);

/** The group's state and members, for a failure message. */
async function describeGroup(): Promise<string> {
  const { groups } = await admin!.describeGroups([group()]);
  return JSON.stringify(
    groups.map((g) => ({
      group: g.groupId,
      state: g.state,
      members: g.members.map((m) => ({ id: m.memberId, client: m.clientId, host: m.clientHost })),
    })),
  );
}

/**
 * Reads the trail of the data directory in a short-lived process (chDB: one process per data directory, and
 * only while no writer runs): rows, distinct event ids, and agents whose chain_index is not exactly 1..n.
 */
async function probeTrail(): Promise<{ rows: number; ids: number; gapped: number }> {
  const code = `
    import { Store } from '@thoth/platform';
    const store = await Store.open({ database: 'thoth', dataDir: process.env.PROBE_DIR });
    const [r] = await store.select(
      'SELECT sum(c) AS rows, sum(u) AS ids, countIf(mn != 1 OR mx != c) AS gapped FROM (' +
        'SELECT count() AS c, uniqExact(event_id) AS u, min(chain_index) AS mn, max(chain_index) AS mx ' +
        'FROM events GROUP BY tenant_id, agent_id)',
    );
    await store.close();
    process.stdout.write(JSON.stringify(r));
    process.exit(0);`;
  const child = spawn(
    process.execPath,
    ['--conditions=thoth-source', '--import', 'tsx', '--input-type=module', '-e', code],
    {
      cwd: ROOT,
      env: { ...process.env, PROBE_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  live.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  const exitCode = await new Promise<number | null>((res) => child.on('exit', res));
  live.delete(child);
  if (exitCode !== 0) throw new Error(`trail probe exited ${exitCode}: ${err}`);
  const r = JSON.parse(out) as Record<'rows' | 'ids' | 'gapped', number | string>;
  return { rows: Number(r.rows), ids: Number(r.ids), gapped: Number(r.gapped) };
}

interface Planned {
  eventId: string;
  tenant: string;
  agent: string;
}

describe('audit writer under SIGKILL', () => {
  it('stores 50,000 events exactly once with verifiable chains across ≥5 kill -9 and restarts', async () => {
    // The kill plan comes first from the seed: each life's time from its first commit to its SIGKILL.
    const plan = Array.from({ length: KILLS }, () => between(50, 600));
    log(`seed ${SEED} (CRASH_SEED=${SEED} to replay), kill plan [${plan.join(', ')}] ms, prefix ${prefix}`);
    const brokers = inject('kafkaBrokers');
    bus = adapters.find((a) => a.name === 'kafka')!.create();
    await bus.ensureTopics(topicSpecs(topics, PARTITIONS));
    admin = new Kafka({ clientId: 'crash-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();

    // 1. Publish every event first, keyed by agent, in a random agent order (seeded).
    const agents = Array.from({ length: AGENTS }, (_, i) => ({
      tenant: TENANTS[i % TENANTS.length]!,
      agent: `agent-${String(i).padStart(2, '0')}`,
    }));
    const codec = new AvroCodec();
    const planned: Planned[] = [];
    const base = Date.now() - TOTAL;
    let batch: OutgoingMessage[] = [];
    const published = Date.now();
    for (let i = 0; i < TOTAL; i++) {
      const { tenant, agent } = agents[between(0, AGENTS - 1)]!;
      // Zero-padded and increasing with publish order: one agent's chain must list its ids in ascending order.
      const eventId = `crash-${String(i).padStart(6, '0')}`;
      planned.push({ eventId, tenant, agent });
      batch.push(
        codec.encode(
          'thoth.v1.BehavioralEvent',
          agentKey(tenant, agent),
          behavioralEvent({
            event_id: eventId,
            tenant_id: tenant,
            agent_id: agent,
            session_id: `${agent}-s${Math.floor(i / 1000)}`,
            event_type: i % 2 === 0 ? 'TOOL_CALL_PRE' : 'TOOL_CALL_POST',
            content: `search_docs("crash ${i}")`,
            occurred_at: base + i,
            ingested_at: base + i,
          }),
        ),
      );
      if (batch.length === 2_500) {
        await bus.publish(topics.events, batch);
        batch = [];
      }
    }
    await bus.publish(topics.events, batch);
    const before = await progress();
    expect(before).toEqual({ committed: 0, lag: TOTAL });
    log(`published ${TOTAL} events for ${AGENTS} agents in ${Date.now() - published} ms; lag ${before.lag}`);

    // 2. Kill -9 the writer at random moments while it consumes, restart it each time. A life ends at a
    //    random 50–600 ms after its first commit was seen, or earlier once the group passed this life's share of
    //    the stream (a writer consumes ~15k events/s here, so later lives still have something to consume). A
    //    kill counts as mid-stream only if the life committed something (it was consuming) and the group still
    //    had a lag after it died. A restarted writer consumes only once the broker expired the killed member
    //    (its 30 s session): that wait, not the consumption, is most of this test's duration.
    const kills: Array<{ life: number; consumingMs: number; from: number; to: number; midStream: boolean }> =
      [];
    for (let life = 1; life <= KILLS; life++) {
      const started = Date.now();
      const atStart = await progress();
      const writer = startWriter(life);
      let first = atStart;
      for (;;) {
        first = await progress();
        if (first.committed > atStart.committed) break;
        const exited = await Promise.race([writer.exited, sleep(50).then(() => undefined)]);
        if (exited) throw new Error(`writer#${life} exited before consuming: ${JSON.stringify(exited)}`);
        if (Date.now() - started > 90_000)
          throw new Error(`writer#${life} did not commit within 90 s; group: ${await describeGroup()}`);
      }
      const consumingAt = Date.now();
      const delay = plan[life - 1]!;
      const cap = Math.floor((TOTAL * life) / (KILLS + 1));
      log(
        `writer#${life}: first commit ${consumingAt - started} ms after spawn (committed ${first.committed}); ` +
          `kill planned at +${delay} ms or once committed ≥ ${cap}`,
      );
      let now = first;
      while (Date.now() - consumingAt < delay && now.committed < cap) {
        await sleep(15);
        now = await progress();
      }
      const consumingMs = Date.now() - consumingAt;
      const trigger = now.committed >= cap ? `share ≥ ${cap} reached` : `timer ${delay} ms`;
      writer.child.kill('SIGKILL');
      const exit = await writer.exited;
      expect(exit.signal).toBe('SIGKILL');
      const after = await progress();
      const midStream = after.committed > atStart.committed && after.lag > 0;
      kills.push({ life, consumingMs, from: atStart.committed, to: after.committed, midStream });
      log(
        `KILL #${life} (SIGKILL, ${trigger}) ${consumingMs} ms after the first commit: committed ${atStart.committed} → ` +
          `${after.committed} of ${TOTAL}, lag ${after.lag} → ${midStream ? 'mid-stream' : 'NOT mid-stream'}`,
      );
      // What the dead writer left in its chDB: everything committed is stored (rows ≥ committed), nothing twice,
      // and every agent's chain_index runs 1..n without a gap. Rows beyond `committed` come again on restart.
      const trail = await probeTrail();
      log(
        `  trail after kill #${life}: ${trail.rows} rows (${trail.ids} distinct ids, ${trail.gapped} gapped ` +
          `chains); ${trail.rows - after.committed} stored but uncommitted → redelivered to writer#${life + 1}`,
      );
      expect(trail.ids).toBe(trail.rows);
      expect(trail.rows).toBeGreaterThanOrEqual(after.committed);
      expect(trail.gapped).toBe(0);
    }
    expect(kills.filter((k) => k.midStream).length).toBeGreaterThanOrEqual(5);

    // 3. Recovery: one more life runs until the group's lag is 0, then drains on SIGTERM and exits 0.
    const final = startWriter(KILLS + 1);
    const recovering = Date.now();
    let lastLog = 0;
    for (;;) {
      const now = await progress();
      if (Date.now() - lastLog > 2_000 || now.lag === 0) {
        log(`recovery writer#${KILLS + 1}: committed ${now.committed}, lag ${now.lag}`);
        lastLog = Date.now();
      }
      if (now.lag === 0) break;
      const exited = await Promise.race([final.exited, sleep(200).then(() => undefined)]);
      if (exited) throw new Error(`recovery writer exited: ${JSON.stringify(exited)}`);
      if (Date.now() - recovering > 120_000)
        throw new Error(`lag still ${now.lag} after 120 s; group: ${await describeGroup()}`);
    }
    final.child.kill('SIGTERM');
    const stopped = await final.exited;
    log(`recovery writer#${KILLS + 1} stopped on SIGTERM: ${JSON.stringify(stopped)}`);
    expect(stopped).toEqual({ code: 0, signal: null });
    const dlq = await admin.fetchTopicOffsets(dlqTopic(topics.events));
    expect(dlq.reduce((sum, p) => sum + Number(p.high), 0)).toBe(0);

    // 4. Every event exactly once, and every agent's chain verifies (its checkpoint signed by the writer's key).
    const store = await Store.open({ database: 'thoth', dataDir });
    try {
      const [totals] = await store.select<{ rows: number | string; ids: number | string }>(
        'SELECT count() AS rows, uniqExact(event_id) AS ids FROM events',
      );
      log(`trail: count() ${totals?.rows}, uniqExact(event_id) ${totals?.ids}`);
      expect(Number(totals?.rows)).toBe(TOTAL);
      expect(Number(totals?.ids)).toBe(TOTAL);

      const ids = await store.select<{ event_id: string }>('SELECT event_id FROM events ORDER BY event_id');
      const checksum = (list: string[]) => createHash('sha256').update(list.join('\n')).digest('hex');
      const expected = planned.map((p) => p.eventId).sort();
      expect(checksum(ids.map((r) => r.event_id))).toBe(checksum(expected));

      // Each agent's chain lists its events in publish order (one agent = one partition, in order).
      const chains = await store.select<{ tenant_id: string; agent_id: string; ids: string[] }>(
        `SELECT tenant_id, agent_id,
                  arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((chain_index, event_id)))) AS ids
           FROM events GROUP BY tenant_id, agent_id ORDER BY tenant_id, agent_id`,
      );
      const want = new Map<string, string[]>();
      for (const p of planned) {
        const k = `${p.tenant}/${p.agent}`;
        want.set(k, [...(want.get(k) ?? []), p.eventId]);
      }
      expect(chains.length).toBe(AGENTS);
      for (const c of chains) expect(c.ids).toEqual(want.get(`${c.tenant_id}/${c.agent_id}`));

      const key = SigningKey.loadOrCreate(SigningKey.pathIn(dataDir));
      const keys = [{ key_id: key.keyId, public_key_pem: key.publicKeyPem }];
      for (const tenant of TENANTS) {
        const expectedRecords = planned.filter((p) => p.tenant === tenant).length;
        const result = await verifyChains(store, tenant, keys);
        log(
          `verifyChains(${tenant}): verified ${result.verified}, records ${result.records_checked}/` +
            `${expectedRecords}, agents ${result.agents_checked}, checkpoint ${JSON.stringify(result.checkpoint)}`,
        );
        expect(result.breach_detail).toBeNull();
        expect(result.checkpoint).toMatchObject({ signature_valid: true, consistent: true });
        expect(result).toMatchObject({
          verified: true,
          records_checked: expectedRecords,
          agents_checked: AGENTS / TENANTS.length,
        });
      }
    } finally {
      await store.close();
    }
    log(
      `PASS: ${kills.filter((k) => k.midStream).length}/${kills.length} kills mid-stream, seed ${SEED}, ` +
        `${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }, 300_000);
});
