/**
 * The SOC feed over a realistic audit trail: one agent, one hour, out of BENCH_ROWS (default 1,000,000) events.
 *
 *   npm run bench:feed          # BENCH_ROWS=1000000 BENCH_AGENTS=100 BENCH_DAYS=30 BENCH_QUERIES=300
 *
 * 1. A child process (chDB allows one process per data directory) opens a fresh Store, applies the migrations and
 *    loads the trail in ~100k-row JSONEachRow inserts, in time order as the audit writer would: BENCH_AGENTS agents
 *    with skewed activity (a few busy agents, a long tail), a diurnal rhythm over the last BENCH_DAYS days, sessions
 *    of 5–200 events, tool calls (PRE/POST), blocked calls and enforcement decisions (ALLOW mostly, BLOCK, STEP_UP,
 *    DEFER, MODIFY) with reason codes and risk scores, content and the full JSON record in `payload`. Chain indexes
 *    are sequential per agent; hashes are zeros (the feed does not read them). The child then times the feed's two
 *    queries in process (`feedQueries` + `store.select`, rows and total in parallel as the route does) and exits.
 * 2. Thoth itself (`services/thoth/dist/main.js`, embedded mode) starts on that data directory; the bench creates an
 *    API key and times `GET /{tenant}/thoth/governance/feed?agent_id=…&from=…&to=…` (one hour, default page of 50,
 *    newest first) over loopback, one request at a time, for random agents and random hours (after a warm-up), and
 *    checks every answer (200, rows of that agent inside the hour, rows ≤ total).
 *
 * Progress goes to stderr; the last line on stdout is one JSON object:
 *   {"rows":1000000,"feed_p50_ms":…,"feed_p99_ms":…,"total_matched":…, …details}
 * `feed_*` is the HTTP route (what a SOC console sees); `store_*` the two queries in process; `total_matched` the
 * mean `total` per query. Exit 1 when a check fails; with BENCH_STRICT=1 also when feed p99 > 100 ms.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clickhouseTime } from '@thoth/platform';
import { benchReporter, freePort, http, percentile, prng, round, sleep, stopChild } from './bench-support.ts';

const SELF = import.meta.filename;
const ROOT = resolve(import.meta.dirname, '..');
const TENANT = 'bench-corp';
const ADMIN_TOKEN = `bench-admin-${randomUUID()}`;
const TARGET_P99_MS = 100;
const HOUR_MS = 3_600_000;

const { progress, envInt } = benchReporter('bench:feed');

const agentName = (i: number) => `agent-${String(i).padStart(3, '0')}`;

interface Plan {
  rows: number;
  agents: number;
  days: number;
  /** The trail covers [startMs, endMs). */
  startMs: number;
  endMs: number;
}

// ---------------------------------------------------------------------------------------------------------
// Child: load the trail and time the queries in process
// ---------------------------------------------------------------------------------------------------------

const TOOLS = [
  ['search_docs', 'read', 'quarterly revenue by region'],
  ['read_file', 'read', '/srv/reports/2026-q3/summary.md'],
  ['query_database', 'read', 'SELECT id, amount FROM invoices WHERE status = $1'],
  ['list_customers', 'read', 'segment=enterprise region=emea'],
  ['http_get', 'read', 'https://api.example.com/v2/customers?page=3'],
  ['write_file', 'write', '/tmp/out/report-draft.txt'],
  ['send_email', 'write', 'to: finance@example.com subject: invoice batch ready'],
  ['update_crm_record', 'write', 'account 88231 stage=negotiation'],
  ['submit_payment', 'payment', 'vendor 4471 amount 1250.00 EUR'],
  ['refund_order', 'payment', 'order 99120 amount 89.90 EUR'],
  ['run_shell', 'exec', 'ls -la /var/log/app'],
  ['delete_records', 'destructive', 'table=staging_leads older_than=90d'],
] as const;

const DECISIONS = [
  // [decision, reason_code, weight]
  ['ALLOW', 'policy_allow', 86],
  ['ALLOW', 'baseline_ok', 6],
  ['BLOCK', 'payment_limit', 2],
  ['BLOCK', 'out_of_scope', 1.5],
  ['STEP_UP', 'anomalous_tool_sequence', 2.5],
  ['STEP_UP', 'pii_access', 1],
  ['DEFER', 'runaway_session', 0.5],
  ['MODIFY', 'redact_pii', 0.5],
] as const;

function weightedPicker<T>(items: readonly T[], weight: (item: T) => number, random: () => number): () => T {
  const cumulative: number[] = [];
  let sum = 0;
  for (const item of items) {
    sum += weight(item);
    cumulative.push(sum);
  }
  return () => {
    const x = random() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return items[lo]!;
  };
}

/** The trail as a time-ordered stream of `events` rows, `chunk` rows at a time. */
function* trailChunks(plan: Plan, chunk: number): Generator<Array<Record<string, unknown>>> {
  const random = prng(20261124);
  const agentIds = Array.from({ length: plan.agents }, (_, i) => i);
  // Skewed activity: weight ∝ 1/(rank+1)^0.9, so the busiest agent does ~20× the work of the quietest ones.
  const pickAgent = weightedPicker(agentIds, (i) => 1 / (i + 1) ** 0.9, random);
  const pickDecision = weightedPicker(DECISIONS, (d) => d[2], random);
  const chainIndex = new Array<number>(plan.agents).fill(0);
  const session = agentIds.map(() => ({ id: '', left: 0, user: '' }));
  const zeros = '0'.repeat(64);
  const span = plan.endMs - plan.startMs;
  // A diurnal rhythm: the instantaneous rate follows 1 + 0.8·sin over the UTC day; sampled by inverting it
  // numerically over a fine grid (one point per minute).
  const minutes = Math.ceil(span / 60_000);
  const cdf = new Float64Array(minutes + 1);
  for (let m = 0; m < minutes; m++) {
    const hour = ((plan.startMs + m * 60_000) / HOUR_MS) % 24;
    cdf[m + 1] = cdf[m]! + 1 + 0.8 * Math.sin(((hour - 9) / 24) * 2 * Math.PI);
  }
  const totalWeight = cdf[minutes]!;
  let minute = 0;
  const timeAt = (fraction: number): number => {
    const target = fraction * totalWeight;
    while (minute < minutes - 1 && cdf[minute + 1]! < target) minute++;
    const within = (target - cdf[minute]!) / (cdf[minute + 1]! - cdf[minute]!);
    return Math.floor(plan.startMs + (minute + Math.min(1, Math.max(0, within))) * 60_000);
  };

  let rows: Array<Record<string, unknown>> = [];
  for (let n = 0; n < plan.rows; n++) {
    const at = timeAt((n + random()) / plan.rows);
    const agent = pickAgent();
    const s = session[agent]!;
    if (s.left <= 0) {
      s.id = `sess-${agent}-${n.toString(36)}`;
      s.left = 5 + Math.floor(random() * 196);
      s.user = `user-${Math.floor(random() * 400)}@example.com`;
    }
    s.left--;
    const [tool, , arg] = TOOLS[Math.floor(random() * TOOLS.length)]!;
    const roll = random();
    const eventId = `evt-${n.toString(36)}-${agent}`;
    const agentId = agentName(agent);
    const ingested = at + 20 + Math.floor(random() * 400);
    let row: Record<string, unknown>;
    if (roll < 0.3) {
      const [decision, reasonCode] = pickDecision();
      const risk = decision === 'ALLOW' ? Math.floor(random() * 30) : 40 + Math.floor(random() * 60);
      const violation = decision === 'ALLOW' ? '' : `vio_${n.toString(36)}`;
      const trace = `trace_${n.toString(36)}`;
      const reason =
        decision === 'ALLOW' ? 'allowed by policy' : `${reasonCode.replaceAll('_', ' ')} for ${tool}`;
      row = {
        kind: 'decision',
        event_type: 'DECISION',
        decision,
        reason_code: reasonCode,
        risk_score: risk,
        violation_id: violation,
        enforcement_trace_id: trace,
        content: reason,
        payload: JSON.stringify({
          event_id: eventId,
          tenant_id: TENANT,
          agent_id: agentId,
          session_id: s.id,
          user_id: s.user,
          tool_name: tool,
          decision,
          would_be_decision: decision,
          enforcement_mode: 'progressive',
          environment: 'prod',
          reason,
          reason_code: reasonCode,
          violation_id: violation,
          enforcement_trace_id: trace,
          risk_score: risk,
          matched_rule_ids: decision === 'ALLOW' ? [] : [reasonCode],
          occurred_at: at,
        }),
      };
    } else {
      const eventType = roll < 0.64 ? 'TOOL_CALL_PRE' : roll < 0.98 ? 'TOOL_CALL_POST' : 'TOOL_CALL_BLOCK';
      const content =
        eventType === 'TOOL_CALL_POST'
          ? `${tool} returned ${100 + Math.floor(random() * 9000)} bytes in ${5 + Math.floor(random() * 300)} ms`
          : JSON.stringify({ args: [arg], kwargs: { limit: 10 + Math.floor(random() * 90) } });
      row = {
        kind: 'behavioral',
        event_type: eventType,
        decision: eventType === 'TOOL_CALL_BLOCK' ? 'BLOCK' : '',
        reason_code: '',
        risk_score: 0,
        violation_id: '',
        enforcement_trace_id: '',
        content,
        payload: JSON.stringify({
          event_id: eventId,
          tenant_id: TENANT,
          agent_id: agentId,
          session_id: s.id,
          user_id: s.user,
          source_type: 'agent_tool_call',
          event_type: eventType,
          tool_name: tool,
          content,
          metadata_json: `{"sdk":"thoth-py/0.4.2","host":"worker-${agent % 7}"}`,
          approved_scope: ['search_docs', 'read_file', 'query_database'],
          enforcement_mode: 'progressive',
          occurred_at: at,
          ingested_at: ingested,
          data_classification: random() < 0.15 ? 'pii' : 'internal',
        }),
      };
    }
    rows.push({
      tenant_id: TENANT,
      agent_id: agentId,
      occurred_at: clickhouseTime(at),
      event_id: eventId,
      session_id: s.id,
      user_id: s.user,
      tool_name: tool,
      enforcement_mode: 'progressive',
      ingested_at: clickhouseTime(ingested),
      chain_index: ++chainIndex[agent]!,
      previous_hash: zeros,
      hash: zeros,
      ...row,
    });
    if (rows.length === chunk) {
      yield rows;
      rows = [];
    }
  }
  if (rows.length > 0) yield rows;
}

/** The random questions: (agent, hour start) pairs inside the trail, the same every run. */
function questions(plan: Plan, count: number, seed: number): Array<{ agent: string; from: number }> {
  const random = prng(seed);
  return Array.from({ length: count }, () => ({
    agent: agentName(Math.floor(random() * plan.agents)),
    from: plan.startMs + Math.floor(random() * (plan.endMs - plan.startMs - HOUR_MS)),
  }));
}

type ChildMessage =
  | { loaded: { ms: number; parts: number; bytesOnDisk: number } }
  | { timed: { p50: number; p99: number; meanTotal: number } };

async function loaderChild(plan: Plan, dataDir: string, queries: number): Promise<void> {
  const { Store } = await import('@thoth/platform');
  const { feedFilterSchema, feedQueries } = await import('../services/api/src/soc/audit-queries.ts');
  const store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
  const chunk = envInt('BENCH_CHUNK_ROWS', 100_000, 1_000);
  const started = performance.now();
  let loaded = 0;
  let insertMs = 0;
  for (const rows of trailChunks(plan, chunk)) {
    const t0 = performance.now();
    await store.insertRows('events', rows);
    insertMs += performance.now() - t0;
    loaded += rows.length;
    progress(
      `loaded ${loaded}/${plan.rows} rows (${Math.round(loaded / ((performance.now() - started) / 1_000))}/s; ` +
        `Store.insertRows alone ${Math.round(loaded / (insertMs / 1_000))} rows/s)`,
    );
  }
  const ms = performance.now() - started;
  const [stored] = await store.select<{ n: number | string }>(
    `SELECT count() AS n FROM events WHERE tenant_id = {t:String}`,
    { t: TENANT },
  );
  if (Number(stored?.n) !== plan.rows) throw new Error(`stored ${stored?.n} rows, expected ${plan.rows}`);
  const [parts] = await store.select<{ parts: number | string; bytes: number | string }>(
    "SELECT count() AS parts, sum(bytes_on_disk) AS bytes FROM system.parts WHERE table = 'events' AND active",
  );
  process.send?.({
    loaded: { ms, parts: Number(parts?.parts), bytesOnDisk: Number(parts?.bytes) },
  } satisfies ChildMessage);

  // The route's two queries, in process: what the store costs without HTTP.
  const latencies: number[] = [];
  let totals = 0;
  const asked = questions(plan, queries + 20, 7);
  for (const [i, q] of asked.entries()) {
    const filter = feedFilterSchema.parse({
      agent_id: q.agent,
      from: new Date(q.from).toISOString(),
      to: new Date(q.from + HOUR_MS).toISOString(),
    });
    const sql = feedQueries(TENANT, filter);
    const t0 = performance.now();
    const [, [count]] = await Promise.all([
      store.select(sql.rows.sql, sql.rows.params),
      store.select<{ total: number | string }>(sql.total.sql, sql.total.params),
    ]);
    if (i < 20) continue; // warm-up
    latencies.push(performance.now() - t0);
    totals += Number(count?.total ?? 0);
  }
  await store.close();
  process.send?.({
    timed: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), meanTotal: totals / queries },
  } satisfies ChildMessage);
}

// ---------------------------------------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------------------------------------

function planFromEnv(): Plan {
  const rows = envInt('BENCH_ROWS', 1_000_000, 1_000);
  const agents = envInt('BENCH_AGENTS', 100, 1);
  const days = envInt('BENCH_DAYS', 30, 1);
  // The trail ends at the last full hour (well inside the 365-day retention).
  const endMs = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  return { rows, agents, days, startMs: endMs - days * 24 * HOUR_MS, endMs };
}

async function main(): Promise<void> {
  const plan = planFromEnv();
  const queries = envInt('BENCH_QUERIES', 300, 10);
  const warmup = envInt('BENCH_WARMUP_QUERIES', 30, 0);
  const keep = process.env.BENCH_KEEP === '1';
  const dataDir = process.env.BENCH_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'thoth-bench-feed-'));
  const children: ChildProcess[] = [];
  let failed = false;
  const cleanup = async () => {
    await Promise.all(children.map((child) => stopChild(child)));
    if (!keep && !process.env.BENCH_DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    else progress(`kept the data directory ${dataDir}`);
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    // ------------------------------------------------------------------ 1. load (child process)
    progress(
      `loading ${plan.rows} events (${plan.agents} agents, ${plan.days} days up to ${new Date(plan.endMs).toISOString()}) ` +
        `into ${dataDir}`,
    );
    const loader = fork(SELF, ['--child=load', dataDir, String(plan.endMs), String(queries)], {
      cwd: ROOT,
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(loader);
    let loaded: Extract<ChildMessage, { loaded: unknown }>['loaded'] | undefined;
    let storeTimes: Extract<ChildMessage, { timed: unknown }>['timed'] | undefined;
    loader.on('message', (message: ChildMessage) => {
      if ('loaded' in message) {
        loaded = message.loaded;
        progress(
          `loaded ${plan.rows} rows in ${(loaded.ms / 1_000).toFixed(1)} s ` +
            `(${Math.round(plan.rows / (loaded.ms / 1_000))} rows/s); ${loaded.parts} active parts, ` +
            `${(loaded.bytesOnDisk / 1e6).toFixed(0)} MB on disk; timing the queries in process…`,
        );
      } else storeTimes = message.timed;
    });
    const code = await new Promise<number | null>((r) => loader.once('exit', r));
    if (code !== 0 || !loaded || !storeTimes) throw new Error(`the loader exited with ${code}`);
    progress(
      `in process (feedQueries via store.select, rows ‖ total): p50 ${round(storeTimes.p50, 2)} ms, ` +
        `p99 ${round(storeTimes.p99, 2)} ms, mean total ${round(storeTimes.meanTotal)}`,
    );

    // ------------------------------------------------------------------ 2. Thoth on that data directory
    const port = await freePort();
    const thoth = spawn(process.execPath, ['services/thoth/dist/main.js'], {
      cwd: ROOT,
      env: {
        ...process.env,
        THOTH_MODE: 'embedded',
        THOTH_SERVICES: 'all',
        THOTH_ADMIN_TOKEN: ADMIN_TOKEN,
        THOTH_PRINT_ADMIN_TOKEN: 'false',
        THOTH_DATA_DIR: dataDir,
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(thoth);
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n'))
        if (line.trim()) process.stderr.write(`[thoth] ${line.slice(0, 500)}\n`);
    };
    thoth.stdout?.on('data', forward);
    thoth.stderr?.on('data', forward);
    const pool = new Agent({ keepAlive: true, maxSockets: 1 });
    const started = Date.now();
    for (;;) {
      const ok = await http(pool, port, 'GET', '/healthz', {}).then(
        (a) => a.status === 200,
        () => false,
      );
      if (ok) break;
      if (thoth.exitCode !== null) throw new Error(`Thoth exited with ${thoth.exitCode}`);
      if (Date.now() - started > 180_000) throw new Error('Thoth did not become ready within 180 s');
      await sleep(250);
    }
    progress(`Thoth (embedded) ready on 127.0.0.1:${port} after ${Date.now() - started} ms`);
    const created = await http(
      pool,
      port,
      'POST',
      `/${TENANT}/thoth/api-keys`,
      { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      JSON.stringify({ name: 'bench-feed', permissions: ['read'] }),
    );
    if (created.status !== 201) throw new Error(`creating the API key: ${created.status} ${created.body}`);
    const auth = { authorization: `Bearer ${(JSON.parse(created.body) as { api_key: string }).api_key}` };

    // ------------------------------------------------------------------ 3. time the route
    const latencies: number[] = [];
    const totals: number[] = [];
    const errors: string[] = [];
    let rowsSeen = 0;
    const asked = questions(plan, warmup + queries, 11);
    for (const [i, q] of asked.entries()) {
      const from = new Date(q.from).toISOString();
      const to = new Date(q.from + HOUR_MS).toISOString();
      const path =
        `/${TENANT}/thoth/governance/feed?agent_id=${q.agent}` +
        `&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
      const t0 = performance.now();
      const answer = await http(pool, port, 'GET', path, auth);
      const ms = performance.now() - t0;
      if (answer.status !== 200) {
        errors.push(`${path}: ${answer.status} ${answer.body.slice(0, 300)}`);
        continue;
      }
      const body = JSON.parse(answer.body) as {
        data: Array<{ agent_id: string; occurred_at: string }>;
        total: number;
      };
      const outside = body.data.find(
        (e) =>
          e.agent_id !== q.agent ||
          Date.parse(e.occurred_at) < q.from ||
          Date.parse(e.occurred_at) >= q.from + HOUR_MS,
      );
      if (outside) errors.push(`${path}: a row outside the filter: ${JSON.stringify(outside)}`);
      if (body.data.length > body.total || body.data.length !== Math.min(50, body.total))
        errors.push(`${path}: ${body.data.length} rows but total ${body.total}`);
      if (i < warmup) continue;
      latencies.push(ms);
      totals.push(body.total);
      rowsSeen += body.data.length;
    }
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const meanTotal = totals.reduce((a, b) => a + b, 0) / Math.max(1, totals.length);
    progress(
      `HTTP feed, ${latencies.length} queries (one agent, one hour, page of 50, newest first) after ${warmup} ` +
        `warm-up: p50 ${round(p50, 2)} ms, p90 ${round(percentile(latencies, 90), 2)} ms, p99 ${round(p99, 2)} ms, ` +
        `max ${round(Math.max(...latencies), 2)} ms; total per query: mean ${round(meanTotal)}, ` +
        `min ${Math.min(...totals)}, max ${Math.max(...totals)}, ${totals.filter((t) => t === 0).length} empty; ` +
        `${rowsSeen} rows returned`,
    );
    if (errors.length > 0) {
      failed = true;
      progress(`FAIL: ${errors.length} errors, first: ${errors.slice(0, 3).join(' | ')}`);
    }
    const met = p99 <= TARGET_P99_MS;
    progress(`target feed p99 ≤ ${TARGET_P99_MS} ms: ${met ? 'met' : 'MISSED'}`);
    if (!met && process.env.BENCH_STRICT === '1') failed = true;
    pool.destroy();
    process.stdout.write(
      `${JSON.stringify({
        rows: plan.rows,
        feed_p50_ms: round(p50, 2),
        feed_p99_ms: round(p99, 2),
        total_matched: round(meanTotal),
        queries: latencies.length,
        store_p50_ms: round(storeTimes.p50, 2),
        store_p99_ms: round(storeTimes.p99, 2),
        load_rows_per_s: Math.round(plan.rows / (loaded.ms / 1_000)),
        parts: loaded.parts,
      })}\n`,
    );
  } catch (error) {
    progress(`FAIL: ${(error as Error).stack ?? error}`);
    failed = true;
  } finally {
    await cleanup();
  }
  process.exit(failed ? 1 : 0);
}

const childMode = process.argv.find((arg) => arg.startsWith('--child='))?.slice('--child='.length);
if (childMode === 'load') {
  const [dataDir, endMs, queries] = process.argv.slice(process.argv.indexOf('--child=load') + 1);
  const plan = planFromEnv();
  const end = Number(endMs);
  await loaderChild(
    { ...plan, endMs: end, startMs: end - plan.days * 24 * HOUR_MS },
    dataDir!,
    Number(queries),
  );
  process.exit(0);
} else await main();
