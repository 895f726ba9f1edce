import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseError, createClient } from '@clickhouse/client';
import type { FindingRecord } from '@thoth/contracts';
import { agentKey, topicNames, topicSpecs } from '@thoth/contracts';
import { AvroCodec, MemoryBus, SigningKey, Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EVENT_COLUMNS,
  feedFilterSchema,
  feedPage,
  feedQueries,
  type StoredEvent,
  sessionSummary,
  toApiEvent,
} from '../services/api/src/soc/audit-queries.ts';
import { evidenceBundle, type PublicKeyInfo, verifyChains } from '../services/api/src/soc/evidence.ts';
import { AuditWriter } from '../services/audit-writer/src/audit-writer.ts';
import { newBaseline } from '../services/baselines/src/agent-baseline.ts';
import {
  insertFindings,
  loadBaselines,
  loadEscalatedBaselines,
  saveBaselines,
} from '../services/baselines/src/baseline-store.ts';
import { type SharedClickHouse, startSharedClickHouse } from './clickhouse-http/shared-clickhouse.ts';
import { behavioralEvent, decisionEvent } from './fixtures.ts';
import { quietLog, uniquePrefix, waitFor } from './helpers.ts';

// The store's code path is the same whether it talks to a ClickHouse server over HTTP (here the shared
// ClickHouse: test/clickhouse-http, or CLICKHOUSE_URL's real server) or to chDB in process: the same migrations,
// the same rows written by the real audit writer, the same answers to the real SOC and baselines queries.

const TENANT = 'acme-corp';
const AGENTS = ['invoice-processor-v2', 'research-bot', 'ops-agent'];
const SESSIONS = ['session-a', 'session-b'];
const t0 = Date.UTC(2026, 10, 24, 9, 0, 0);

interface Side {
  name: 'http' | 'embedded';
  store: Store;
  bus: MemoryBus;
  writer: AuditWriter;
}

let shared: SharedClickHouse;
let work: string;
let signingKey: SigningKey;
let keys: PublicKeyInfo[];
const database = `thoth_parity_${randomUUID().slice(0, 8)}`;
const sides: Side[] = [];
const codec = new AvroCodec();
const topics = topicNames(uniquePrefix('parity'));

/** The same events, in the same order, for both sides: behavioral events and decisions of three agents. */
function trailEvents() {
  const messages: Array<{ schema: 'thoth.v1.BehavioralEvent' | 'thoth.v1.DecisionEvent'; value: object }> =
    [];
  let i = 0;
  for (const agent_id of AGENTS) {
    for (const session_id of SESSIONS) {
      for (let n = 0; n < 15; n++, i++) {
        const at = t0 + i * 1_000;
        const common = {
          event_id: `evt-${agent_id}-${session_id}-${n}`,
          tenant_id: TENANT,
          agent_id,
          session_id,
        };
        if (n % 3 === 2) {
          const decision = (['ALLOW', 'BLOCK', 'STEP_UP'] as const)[i % 3]!;
          messages.push({
            schema: 'thoth.v1.DecisionEvent',
            value: decisionEvent({
              ...common,
              tool_name: n % 2 ? 'submit_payment' : 'search_docs',
              decision,
              would_be_decision: decision,
              reason_code: decision === 'ALLOW' ? 'allowed' : 'policy_scope_violation',
              reason: `decided ${decision} for "${agent_id}" — it's n=${n}`,
              risk_score: (i * 7) % 100,
              violation_id: `vio-${i}`,
              enforcement_trace_id: `trace-${i}`,
              occurred_at: at,
            }),
          });
        } else {
          messages.push({
            schema: 'thoth.v1.BehavioralEvent',
            value: behavioralEvent({
              ...common,
              event_type: n % 3 === 0 ? 'TOOL_CALL_PRE' : 'TOOL_CALL_BLOCK',
              tool_name: n % 2 ? 'submit_payment' : 'search_docs',
              content: `search_docs("quarterly report ✓ \\ it's ${n}")`,
              metadata_json: JSON.stringify(
                n % 3 === 1
                  ? { authorization_decision: 'block', decision_reason_code: 'policy_scope_violation' }
                  : { sdk_language: 'typescript' },
              ),
              occurred_at: at,
              ingested_at: at + 5,
            }),
          });
        }
      }
    }
  }
  return messages;
}

async function openSide(name: Side['name']): Promise<Side> {
  const store =
    name === 'http'
      ? await Store.open({
          clickhouseUrl: shared.url,
          user: shared.user,
          password: shared.password,
          database,
          dataDir: join(work, 'unused'),
        })
      : await Store.open({ database: 'thoth', dataDir: join(work, 'embedded') });
  const bus = new MemoryBus({ defaultPartitions: 3 });
  await bus.ensureTopics(topicSpecs(topics, 3));
  const writer = new AuditWriter({
    bus,
    codec,
    store,
    eventsTopic: topics.events,
    log: quietLog,
    signingKey,
  });
  return { name, store, bus, writer };
}

/** The same call on both sides, their answers side by side: [http, embedded]. */
async function both<T>(read: (side: Side) => Promise<T>): Promise<[T, T]> {
  const [http, embedded] = await Promise.all(sides.map(read));
  return [http!, embedded!];
}

/** What differs by design between two runs (ids and times of signing, signatures): replaced by a marker. */
function withoutSigningMoment(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSigningMoment);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      ['checkpoint_id', 'created_at', 'generated_at', 'signature'].includes(k) && v !== null
        ? 'varies'
        : withoutSigningMoment(v),
    ]),
  );
}

async function feed(store: Store, query: Record<string, string>) {
  const filter = feedFilterSchema.parse(query);
  const q = feedQueries(TENANT, filter);
  const [rows, [count]] = await Promise.all([
    store.select<StoredEvent>(q.rows.sql, q.rows.params),
    store.select<{ total: number | string }>(q.total.sql, q.total.params),
  ]);
  return feedPage(rows, Number(count?.total ?? 0), filter);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'thoth-store-parity-'));
  signingKey = SigningKey.loadOrCreate(SigningKey.pathIn(work));
  keys = [{ key_id: signingKey.keyId, public_key_pem: signingKey.publicKeyPem }];
  shared = await startSharedClickHouse();
  sides.push(await openSide('http'), await openSide('embedded'));
});
afterAll(async () => {
  for (const side of sides) {
    await side.writer.stop();
    await side.bus.close();
    await side.store.close();
  }
  await shared?.stop();
  rmSync(work, { recursive: true, force: true });
});

// Without CLICKHOUSE_URL both sides run the chDB engine (behind the HTTP interface of test/clickhouse-http, and in
// process): what this proves is that the store's HTTP code path (the server's) and its in-process one give the same
// results — not that chDB and a ClickHouse server of another version agree. With CLICKHOUSE_URL set, it does that too.
describe('the store over HTTP (shared ClickHouse) and in process (chDB): same code path, same results', () => {
  it('applies the same migrations and ends with the same tables and columns', async () => {
    const [httpApplied, embeddedApplied] = await both((s) => s.store.migrate());
    expect(httpApplied.length).toBeGreaterThan(0);
    expect(httpApplied).toEqual(embeddedApplied);
    expect(sides[0]!.store.engine).toBe('server');
    expect(sides[1]!.store.engine).toBe('chdb');
    const [httpColumns, embeddedColumns] = await both((s) =>
      s.store.select(
        `SELECT table, name, type, default_expression, is_in_sorting_key FROM system.columns
         WHERE database = currentDatabase() ORDER BY table, position`,
      ),
    );
    expect(httpColumns.length).toBeGreaterThan(20);
    expect(httpColumns).toEqual(embeddedColumns);
    const [httpTables, embeddedTables] = await both((s) =>
      s.store.select(
        `SELECT name, engine, sorting_key, partition_key FROM system.tables
         WHERE database = currentDatabase() ORDER BY name`,
      ),
    );
    expect(httpTables).toEqual(embeddedTables);
    // The retention is read from the table's DDL in the current database, then altered: the same both ways.
    expect(await both((s) => s.store.applyRetention(30))).toEqual([true, true]);
    expect(await both((s) => s.store.applyRetention(30))).toEqual([false, false]);
  });

  it('stores the same audit trail through the real audit writer, and the SOC reads answer the same', async () => {
    const messages = trailEvents();
    await both(async (s) => {
      await s.writer.start();
      await s.bus.publish(
        topics.events,
        messages.map((m) => {
          const v = m.value as { tenant_id: string; agent_id: string };
          return codec.encode(m.schema, agentKey(v.tenant_id, v.agent_id), m.value as never);
        }),
      );
      await waitFor(
        `${s.name} trail`,
        async () =>
          Number((await s.store.select<{ n: string }>('SELECT count() AS n FROM events'))[0]?.n) ===
          messages.length,
        30_000,
      );
      return s.writer.checkpoint();
    });

    const feeds: Array<Record<string, string>> = [
      {},
      { per_page: '7', page: '3' },
      { agent_id: 'research-bot', sort_by: 'risk_score', sort_dir: 'asc' },
      { decision: 'block' },
      { reason_code: 'policy_scope_violation', session_id: 'session-b' },
      { search: "it's 4" },
      { from: new Date(t0 + 10_000).toISOString(), to: new Date(t0 + 40_000).toISOString() },
    ];
    for (const query of feeds) {
      const [http, embedded] = await both((s) => feed(s.store, query));
      expect(http.data.length, JSON.stringify(query)).toBeGreaterThan(0);
      expect(http, JSON.stringify(query)).toEqual(embedded);
    }

    const [httpVerify, embeddedVerify] = await both((s) => verifyChains(s.store, TENANT, keys));
    expect(httpVerify.verified).toBe(true);
    expect(httpVerify.records_checked).toBe(messages.length);
    expect(httpVerify.checkpoint).not.toBeNull();
    expect(withoutSigningMoment(httpVerify)).toEqual(withoutSigningMoment(embeddedVerify));

    const [httpBundle, embeddedBundle] = await both((s) =>
      evidenceBundle(s.store, TENANT, 'session-a', signingKey, keys),
    );
    expect((httpBundle?.records as unknown[] | undefined)?.length).toBe(messages.length / 2);
    expect(withoutSigningMoment(httpBundle)).toEqual(withoutSigningMoment(embeddedBundle));

    const [httpSummary, embeddedSummary] = await both(async (s) => {
      const rows = await s.store.select<StoredEvent>(
        `SELECT ${EVENT_COLUMNS} FROM events
         WHERE tenant_id = {tenant:String} AND session_id = {session:String} ORDER BY occurred_at, event_id`,
        { tenant: TENANT, session: 'session-b' },
      );
      return sessionSummary(rows.map(toApiEvent));
    });
    expect(httpSummary).toEqual(embeddedSummary);
  });

  it('saves and loads the same baselines and findings (array parameters included)', async () => {
    const baselines = AGENTS.map((agent, i) => {
      const b = newBaseline(TENANT, agent, t0);
      b.version = 3;
      b.calls = 10 * (i + 1);
      if (i === 1) b.published_level = 'STEP_UP';
      return b;
    });
    const findings: FindingRecord[] = AGENTS.map((agent, i) => ({
      finding_id: `fnd-${i}`,
      tenant_id: TENANT,
      agent_id: agent,
      session_id: 'session-a',
      tool_name: 'submit_payment',
      detector: 'rate_spike',
      score: 50 + i * 10,
      severity: 'high',
      explanation: `rate ${i} "over" baseline — it's high`,
      observed_json: JSON.stringify({ rate: i }),
      baseline_json: JSON.stringify({ rate: 0 }),
      event_ids: [`evt-${i}`, `evt-${i + 1}`],
      learning: i === 0,
      occurred_at: t0 + i,
    }));
    await both(async (s) => {
      await saveBaselines(s.store, baselines, t0);
      await insertFindings(s.store, findings);
    });
    const keysOf = AGENTS.slice(0, 2).map((a) => `${TENANT}/${a}`);
    const [httpLoaded, embeddedLoaded] = await both(async (s) =>
      (await loadBaselines(s.store, keysOf)).sort((a, b) => a.agent_id.localeCompare(b.agent_id)),
    );
    expect(httpLoaded.map((b) => b.agent_id)).toEqual([AGENTS[0], AGENTS[1]].sort());
    expect(httpLoaded).toEqual(embeddedLoaded);
    const [httpEscalated, embeddedEscalated] = await both((s) => loadEscalatedBaselines(s.store));
    expect(httpEscalated.map((b) => b.agent_id)).toEqual([AGENTS[1]]);
    expect(httpEscalated).toEqual(embeddedEscalated);
    const [httpFindings, embeddedFindings] = await both((s) =>
      s.store.select(
        `SELECT finding_id, agent_id, score, severity, explanation, event_ids, learning,
                toUnixTimestamp64Milli(occurred_at) AS at_ms
         FROM findings WHERE has(event_ids, {id:String}) ORDER BY finding_id`,
        { id: 'evt-1' },
      ),
    );
    expect(httpFindings.length).toBe(2);
    expect(httpFindings).toEqual(embeddedFindings);
  });

  it('a bad query raises the same ClickHouse error code both ways', async () => {
    const className = (error: unknown) => (error as Error).constructor.name;
    // A ClickHouseError's code, or the code of chDB's own insert error (the embedded raw-insert path).
    const codeOf = (error: unknown) =>
      className(error) === 'ClickHouseError'
        ? (error as ClickHouseError).code
        : String((error as { clickhouseCode?: unknown }).clickhouseCode);
    for (const [sql, code] of [
      ['SELECT * FROM no_such_table', '60'],
      ['SELEC 1', '62'],
      ['SELECT no_such_column FROM events', '47'],
      ['SELECT {x:UInt8}', '456'],
    ] as const) {
      const [http, embedded] = await both((s) =>
        s.store.select(sql).then(
          () => 'no error',
          (e: unknown) => e,
        ),
      );
      // Both are @clickhouse/client's ClickHouseError, from two copies of the class (the client bundles its
      // own; chdb/connection uses @clickhouse/client-common): compare by name, never by instanceof.
      expect([className(http), className(embedded)], sql).toEqual(['ClickHouseError', 'ClickHouseError']);
      expect([codeOf(http), codeOf(embedded)], sql).toEqual([code, code]);
    }
    // An insert the engine refuses: a number column given text (the embedded path is chDB's own raw insert).
    const [http, embedded] = await both((s) =>
      s.store
        .insertRows('baseline_state', [{ tenant_id: TENANT, agent_id: 'x', version: 'not a number' }])
        .then(
          () => 'no error',
          (e: unknown) => e,
        ),
    );
    expect(codeOf(http)).toBe('27');
    expect(codeOf(embedded)).toBe(codeOf(http));
  });

  it('a compressed insert and select (gzip both ways) read back what the uncompressed embedded store holds', async () => {
    const compressed = createClient({
      url: shared.url,
      username: shared.user,
      password: shared.password,
      database,
      compression: { request: true, response: true },
    });
    const rows = Array.from({ length: 2_000 }, (_, i) => ({
      tenant_id: TENANT,
      agent_id: `bulk-${i % 5}`,
      version: i,
      calls: i * 3,
      learning: i % 2,
      escalation_level: i % 7 === 0 ? 'BLOCK' : '',
      updated_at: '2026-11-24 09:00:00.000',
      state: JSON.stringify({ note: `row ${i} ✓ "quoted" \\ it's` }),
    }));
    try {
      await compressed.insert({ table: 'baseline_state', values: rows, format: 'JSONEachRow' });
      await sides[1]!.store.insertRows('baseline_state', rows);
      const sql = `SELECT agent_id, count() AS n, sum(calls) AS calls, countIf(escalation_level != '') AS escalated,
                     groupArray(state)[1] AS first_state
                   FROM (SELECT * FROM baseline_state WHERE agent_id LIKE 'bulk-%' ORDER BY version)
                   GROUP BY agent_id ORDER BY agent_id`;
      const viaGzip = await (await compressed.query({ query: sql, format: 'JSONEachRow' })).json();
      const embedded = await sides[1]!.store.select(sql);
      expect(viaGzip).toHaveLength(5);
      expect(viaGzip).toEqual(embedded);
    } finally {
      await compressed.close();
    }
  });
});
