/**
 * Sustained HTTP batch ingest → Kafka → ClickHouse, end to end, on this machine.
 *
 *   npm run bench:ingest        # BENCH_DURATION_S=60 BENCH_WARMUP_S=5 BENCH_CONCURRENCY=8 BENCH_BATCH_SIZE=500
 *
 * What runs:
 * - a Kafka broker (scripts/kafka.sh on 127.0.0.1:BENCH_KAFKA_PORT, default 29092, wiped at start and stopped
 *   at the end) unless KAFKA_BROKERS names one;
 * - Thoth in its distributed shape (`THOTH_MODE=distributed`, on Kafka), the audit writer in its own process as
 *   in production: an API-only process takes the ingest and serves the probe's feed reads; a second process
 *   runs the audit writer alone (THOTH_SERVICES=audit-writer). Both use one ClickHouse server (CLICKHOUSE_URL),
 *   as in production: here the shared ClickHouse of the tests (test/clickhouse-http: ClickHouse's HTTP interface
 *   in front of chDB, the real engine, in a process of its own, with a temporary data directory), or the server
 *   CLICKHOUSE_URL names. BENCH_STORE=embedded instead gives the writer process the embedded chDB of its data
 *   directory (a fresh temporary one, removed at the end unless BENCH_KEEP=1), and it then also serves the
 *   probe's reads (THOTH_SERVICES=api,audit-writer): the store's work is then the writer process's CPU. Only
 *   the pipeline under test runs: the other consumers of the events topic (baselines, SIEM exports) read it in
 *   groups of their own, on machines of their own in production; here they would take the same 2 cores.
 *   BENCH_SERVICES names the writer process's services (e.g. all). BENCH_SPLIT=0 runs the API and the audit
 *   writer in one process instead (embedded chDB unless BENCH_STORE=server): one event loop carries both;
 * - this process: the load generator and the probe (loopback HTTP only).
 *
 * Load: BENCH_CONCURRENCY workers each keep up to one `POST /v1/events/batch` in flight (keep-alive), paced
 * together to BENCH_RATE events/s, by default 20,500/s, 2.5% over the target: the run shows whether the pipeline
 * sustains that rate for the whole window, and with what e2e (at exactly 20,000/s offered, the measured rates
 * would land on either side of the target by chance: each carries about ±0.5% of noise). BENCH_RATE=0 runs
 * a closed loop instead, as fast as Thoth answers: it finds the ceiling, but once ingest accepts faster than
 * the audit writer stores, a backlog builds and e2e grows with the length of the run. A batch is what one SDK
 * flushes: BENCH_BATCH_SIZE events of one agent (BENCH_AGENTS agents, round robin) in one session whose id is the
 * batch id, TOOL_CALL_PRE / TOOL_CALL_POST pairs with varied tools, content and metadata.
 *
 * e2e (accepted → queryable): every BENCH_SAMPLE_MS the next batch answered 202 during the measured window becomes
 * a sample, unless MAX_OUTSTANDING samples are still waiting to be seen. The probe asks the SOC feed
 * `GET /{tenant}/thoth/governance/feed?agent_id=A&session_id=S&per_page=1` until `total` equals the batch's
 * accepted count: e2e = the time that answer arrived minus the time the 202 arrived, i.e. until the LAST event
 * of the batch is queryable through the public read path (an upper bound). The
 * query hits the sort-key prefix (tenant, agent) plus the session bloom filter, and the probe is ONE loop with one
 * request in flight that polls every outstanding sample each round, BENCH_POLL_MS apart: measuring stays a small,
 * bounded load even when a backlog builds (chDB runs one query of a session at a time, so a poll per sample per
 * tick would queue in front of the audit writer's own queries and feed on itself). The cap on outstanding samples
 * keeps the probe's own queue out of the figure: with many samples waiting, a sample would be polled only after
 * the ones before it (each poll waits for the writer's insert in front of it in chDB), so its e2e would measure
 * the probe. Under a real backlog the samples stay outstanding, fewer are taken, and each still measures it.
 *
 * Throughput: events_per_s = min(accepted/s, stored/s) over the measured window: accepted/s counts the events whose
 * 202 arrived inside it, stored/s is the least-squares slope of the tenant's stored count (the feed's `total`, read
 * every 2 s through the window: it grows one audit-writer flush at a time, so two readings at the ends would each
 * be off by up to a flush). A pipeline that accepts faster than it stores cannot claim the accept rate. After
 * the load stops the bench waits until the trail holds exactly every accepted event (no loss, no duplicate) and
 * reports the drain.
 *
 * Writer CPU per event: `writer_events_per_cpu_s`. After the drain, the audit writer's process is paused (SIGSTOP),
 * BENCH_BACKLOG events (200,000; at most 15 s of posting, well inside Kafka's 30 s session timeout) are posted to
 * the API closed-loop, and the writer is resumed (SIGCONT). The figure is the number of events the trail gained
 * from the resume until it holds every accepted event, divided by the CPU-seconds (utime + stime of
 * /proc/<writer pid>/stat, all its threads: the event loop, GC, and with BENCH_STORE=embedded chDB's
 * parse/insert/merge threads; in clock ticks of `getconf CLK_TCK`) the writer process used over the same span: a
 * phase where the writer only drains. On a ClickHouse server of this bench's own, the server's CPU over the span
 * is reported too (`store_server_backlog_cpu_s`), and `writer_and_store_events_per_cpu_s` counts both: what
 * storing an event costs in all on this machine (the test server's HTTP layer is Node's, a real server's is
 * not). The span ends when the writer's consumer group has committed every offset of the events topic (its lag,
 * asked of the broker every 100 ms: the writer commits a batch only once stored), and the trail's count is read
 * after it (on a server, its merges of the drained rows may go on after that, uncounted): asking the
 * writer's own store for its count 4 times a second, as the bench did before, cost the writer about 45 ms of CPU a
 * reading on a trail of a million rows (the feed's page and total), a sixth of what the span measured.
 * CPU-seconds per event hold up on a shared machine far better than wall-clock rates, which move with whatever
 * else runs; they still move from run to run, mostly with the system time (`writer_backlog_system_cpu_s`: the
 * kernel handing out zeroed pages, `writer_backlog_faults_per_event` of them, whose cost on this VM varies several
 * times over between runs) and with the background merges that fall in the span. A progress line splits the
 * writer's CPU by thread name, for the window and the backlog. Split shape only
 * (BENCH_SPLIT=0 shares the process with the API: null); BENCH_BACKLOG=0 skips the phase.
 * `writer_window_events_per_cpu_s` is the steady-state counterpart: events stored in the measured window divided
 * by the writer process's CPU-seconds over the window (at the paced rate, which also includes the probe's reads).
 *
 * Knobs (environment): BENCH_DURATION_S (60), BENCH_WARMUP_S (5), BENCH_CONCURRENCY (8), BENCH_BATCH_SIZE (500),
 * BENCH_AGENTS (100), BENCH_RATE (20500; 0 = closed loop), BENCH_BACKLOG (200000; 0 = no writer CPU phase), BENCH_SAMPLE_MS (250), BENCH_POLL_MS (50),
 * THOTH_TOPIC_PARTITIONS (6), BENCH_KAFKA_PORT (29092), KAFKA_BROKERS (use that broker instead of starting
 * one), BENCH_SPLIT (1; 0 = one process), BENCH_STORE (server in the split shape, else embedded),
 * CLICKHOUSE_URL/CLICKHOUSE_USER/CLICKHOUSE_PASSWORD (a ClickHouse server to use instead of starting the test's),
 * BENCH_SERVICES (audit-writer on a server, else api,audit-writer), BENCH_KEEP=1 (keep the data directory, and
 * the database on a server CLICKHOUSE_URL names; the tests' server started here removes its data when it stops),
 * BENCH_CPU_PROF=1, BENCH_THOTH_NODE_ARGS (extra node flags for Thoth, for diagnostics; Thoth runs with the flags
 * of `npm start`). The CPU each process used during the
 * window is reported, and so is what OTHER processes on the machine used: on a shared 2-core machine that is
 * CPU this benchmark did not get.
 *
 * Progress goes to stderr; the last line on stdout is one JSON object:
 *   {"events_per_s":…,"e2e_p50_ms":…,"e2e_p99_ms":…, …details}
 * Exit 1 when a check fails (a non-202 answer, a rejected event, a lost or duplicated event); with BENCH_STRICT=1
 * also when the target (≥ 20,000 events/s, e2e p99 ≤ 2,000 ms) is missed. BENCH_CPU_PROF=1 writes a V8 CPU
 * profile of the Thoth process(es) to .cache/bench-profiles/.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createClient } from '@clickhouse/client';
import { topicNames } from '@thoth/contracts';
import { KafkaBus } from '@thoth/platform';
import { quietKnownWarnings } from '../services/thoth/src/process-warnings.ts';
import { wantedServices } from '../services/thoth/src/service-names.ts';
import { type SharedClickHouse, startSharedClickHouse } from '../test/clickhouse-http/shared-clickhouse.ts';
import {
  benchReporter,
  freePort,
  type HttpAnswer,
  http,
  percentile,
  round,
  sleep,
  stopChild,
} from './bench-support.ts';
import { START_FLAGS } from './product-server.ts';

const ROOT = resolve(import.meta.dirname, '..');
const TENANT = 'bench-corp';
const ADMIN_TOKEN = `bench-admin-${randomUUID()}`;
const TARGET_EVENTS_PER_S = 20_000;
/** The offered load: 2.5% over the target, so the measured rates (±0.5% noise) clear it only if Thoth keeps up. */
const DEFAULT_RATE = 20_500;
const STORED_READING_MS = 2_000;
/** The writer stays paused at most this long while the backlog is posted (Kafka's session timeout is 30 s). */
const BACKLOG_MAX_PAUSE_MS = 15_000;
/**
 * How often the backlog's drain is checked: the writer group's lag, which the broker answers (the writer process
 * does no work for it), so the check can be frequent and ends the measured span close to the last commit.
 */
const BACKLOG_LAG_READING_MS = 100;

/** Whether a THOTH_SERVICES value runs the API (`all` does), read as Thoth reads it. */
function includesApi(services: string): boolean {
  return wantedServices(
    services
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
  ).has('api');
}

/** Least-squares slope of (epoch ms, count) points, per second. */
function slopePerSecond(points: Array<[number, number]>): number {
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const [x, y] of points) {
    covariance += (x - meanX) * (y - meanY);
    variance += (x - meanX) ** 2;
  }
  return variance === 0 ? 0 : (covariance / variance) * 1_000;
}
const TARGET_E2E_P99_MS = 2_000;
/** A new sample is taken only while fewer samples wait to be seen (see the header). */
const MAX_OUTSTANDING = 2;

const { progress, envInt } = benchReporter('bench:ingest');
// The lag probe is a kafkajs client: the same known-harmless warning as Thoth's own processes, kept quiet.
quietKnownWarnings();

// ---------------------------------------------------------------------------------------------------------
// Processes: broker, Thoth
// ---------------------------------------------------------------------------------------------------------

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) progress(line);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`)),
    );
  });
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux unless told otherwise). */
const CLOCK_TICKS = (() => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process used so far, from /proc (Linux). */
function cpuSeconds(pid: number | undefined, thread = false): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // A process's stat sums its threads; /proc/<pid>/task/<pid>/stat is its main thread alone (the event loop).
    const stat = readFileSync(thread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 once pid and comm are cut off.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of each of a process's threads so far, summed by thread name (the main thread as `main`), user and
 * system apart. Node names its own threads "node" (the consumers' thread, V8's collector helpers, libuv's pool,
 * where chDB's inserts and queries run); chDB names its own (QueryPipelineEx, MergeMutate, …). System time is
 * mostly the kernel zeroing pages the process touches for the first time.
 */
function threadCpu(pid: number): Map<string, ThreadCpu> {
  const byName = new Map<string, ThreadCpu>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return byName;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const sum = byName.get(name) ?? { user: 0, system: 0, faults: 0 };
      // minflt, utime, stime: fields 10, 14 and 15 of stat.
      sum.faults += Number(fields[7]);
      sum.user += Number(fields[11]) / CLOCK_TICKS;
      sum.system += Number(fields[12]) / CLOCK_TICKS;
      byName.set(name, sum);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return byName;
}

interface ThreadCpu {
  user: number;
  system: number;
  /** Minor page faults: pages touched for the first time. */
  faults: number;
}

/** What each thread name used between two `threadCpu` readings, largest first. */
function threadCpuDelta(
  before: Map<string, ThreadCpu>,
  after: Map<string, ThreadCpu>,
): Map<string, ThreadCpu> {
  return new Map(
    [...after]
      .map(([name, t]): [string, ThreadCpu] => {
        const b = before.get(name) ?? { user: 0, system: 0, faults: 0 };
        return [name, { user: t.user - b.user, system: t.system - b.system, faults: t.faults - b.faults }];
      })
      .filter(([, t]) => t.user + t.system >= 0.01)
      .sort(([, a], [, b]) => b.user + b.system - (a.user + a.system)),
  );
}

function threadsLine(threads: Map<string, ThreadCpu>): string {
  return [...threads]
    .map(
      ([name, t]) => `${name} ${round(t.user + t.system, 2)} (sys ${round(t.system, 2)}, ${t.faults} faults)`,
    )
    .join(', ');
}

/** CPU seconds the whole machine spent busy so far (all cores, from /proc/stat). */
function machineBusySeconds(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    // user nice system idle iowait irq softirq steal …: busy = all − idle − iowait.
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - fields[3]! - fields[4]!) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

function brokerPid(port: number): number | undefined {
  try {
    const pid = Number(readFileSync(join(ROOT, `.cache/kafka/run-${port}/broker.pid`), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------------------

const TOOLS = [
  ['search_docs', 'quarterly revenue by region'],
  ['read_file', '/srv/reports/2026-q3/summary.md'],
  ['query_database', 'SELECT id, amount FROM invoices WHERE status = $1'],
  ['send_email', 'to: finance@example.com subject: invoice batch ready'],
  ['submit_payment', 'vendor 4471 amount 1250.00 EUR'],
  ['http_get', 'https://api.example.com/v2/customers?page=3'],
  ['write_file', '/tmp/out/report-draft.txt'],
  ['run_shell', 'ls -la /var/log/app'],
] as const;

/** One SDK flush: `size` events of one agent in one session (the batch id), PRE/POST pairs. */
function batchBody(batchId: string, agentId: string, size: number, nowMs: number): string {
  const occurredAt = new Date(nowMs).toISOString();
  const parts: string[] = [];
  for (let i = 0; i < size; i++) {
    const [tool, arg] = TOOLS[(i >> 1) % TOOLS.length]!;
    const pre = i % 2 === 0;
    const content = pre
      ? `{"args":[${JSON.stringify(arg)}],"kwargs":{"limit":${10 + (i % 40)}}}`
      : `"${tool} returned ${100 + ((i * 37) % 900)} bytes in ${5 + (i % 95)} ms"`;
    parts.push(
      `{"event_id":"${batchId}-${i}","tenant_id":"${TENANT}","agent_id":"${agentId}","session_id":"${batchId}",` +
        `"user_id":"user-${i % 17}@example.com","event_type":"${pre ? 'TOOL_CALL_PRE' : 'TOOL_CALL_POST'}",` +
        `"tool_name":"${tool}","content":${content},"occurred_at":"${occurredAt}",` +
        `"metadata":{"sdk":"thoth-ts/0.1.0","host":"worker-${i % 7}","latency_ms":${5 + (i % 95)},` +
        `"authorization_decision":"ALLOW"},"approved_scope":["search_docs","read_file","query_database"],` +
        `"enforcement_mode":"progressive","data_classification":"${i % 5 === 0 ? 'pii' : 'internal'}"}`,
    );
  }
  return `{"events":[${parts.join(',')}]}`;
}

interface Sample {
  agentId: string;
  sessionId: string;
  expected: number;
  acceptedAt: number;
  firstSeenMs?: number;
  e2eMs?: number;
  polls: number;
}

type Phase = 'warmup' | 'measure' | 'stopped';

interface Thoth {
  name: string;
  child: ChildProcess;
  port: number;
  exited: Promise<never>;
}

async function main(): Promise<void> {
  const durationS = envInt('BENCH_DURATION_S', 60, 1);
  const warmupS = envInt('BENCH_WARMUP_S', 5, 0);
  const concurrency = envInt('BENCH_CONCURRENCY', 8, 1);
  const batchSize = envInt('BENCH_BATCH_SIZE', 500, 2);
  const agents = envInt('BENCH_AGENTS', 100, 1);
  const sampleMs = envInt('BENCH_SAMPLE_MS', 250, 10);
  const pollMs = envInt('BENCH_POLL_MS', 50, 5);
  const rate = envInt('BENCH_RATE', DEFAULT_RATE, 0);
  const partitions = envInt('THOTH_TOPIC_PARTITIONS', 6, 1);
  const kafkaPort = envInt('BENCH_KAFKA_PORT', 29092, 1024);
  const keep = process.env.BENCH_KEEP === '1';
  const split = process.env.BENCH_SPLIT !== '0';
  // Distributed mode stores into a ClickHouse server (production), or each process into its own chDB.
  const storeKind = process.env.BENCH_STORE ?? (split ? 'server' : 'embedded');
  if (storeKind !== 'server' && storeKind !== 'embedded')
    throw new Error(`BENCH_STORE is "${storeKind}": server or embedded`);
  const onServer = storeKind === 'server';
  // On a shared store the writer process runs the consumers alone and the probe reads through the ingest API;
  // with chDB the writer process also serves the probe's reads from its own store.
  const services = process.env.BENCH_SERVICES ?? (split && onServer ? 'audit-writer' : 'api,audit-writer');
  const writerServesApi = includesApi(services);
  const backlogEvents = envInt('BENCH_BACKLOG', 200_000, 0);
  const profileDir = process.env.BENCH_CPU_PROF ? resolve(ROOT, '.cache/bench-profiles') : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const ownBroker = !process.env.KAFKA_BROKERS;
  const brokers = process.env.KAFKA_BROKERS ?? `127.0.0.1:${kafkaPort}`;
  // The broker's CPU is reported when it is one of scripts/kafka.sh's (ours, or a given local one).
  const localBrokerPort = /^(?:127\.0\.0\.1|localhost):(\d+)$/.exec(brokers)?.[1];
  const brokerCpu = () => (localBrokerPort ? cpuSeconds(brokerPid(Number(localBrokerPort))) : undefined);
  const dataDir = mkdtempSync(join(tmpdir(), 'thoth-bench-ingest-'));
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  let failed = false;
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        progress(`cleanup: ${(error as Error).message}`);
      }
    }
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    if (ownBroker) {
      progress(`starting a Kafka broker on 127.0.0.1:${kafkaPort} (scripts/kafka.sh, wiped)`);
      const env = { ...process.env, KAFKA_PORT: String(kafkaPort), KAFKA_RESET: '1' };
      cleanups.push(() => run('bash', ['scripts/kafka.sh', 'stop'], env));
      await run('bash', ['scripts/kafka.sh', 'start'], env);
    } else progress(`using KAFKA_BROKERS=${brokers}`);

    // The node flags of `npm start` (package.json): a small young generation for the API's thread (the consumers'
    // thread takes its own).
    const execArgv = [...START_FLAGS];
    if (profileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
    // Diagnostics: extra node flags for the Thoth process (e.g. `--import ./my-timing-hooks.mjs`).
    execArgv.push(...(process.env.BENCH_THOTH_NODE_ARGS ?? '').split(' ').filter(Boolean));
    let thothLogLines = 0;
    let clickhouse: SharedClickHouse | undefined;
    if (onServer) {
      progress('starting the shared ClickHouse (test/clickhouse-http: the HTTP interface in front of chDB)');
      clickhouse = await startSharedClickHouse();
      const started = clickhouse;
      cleanups.push(() => started.stop());
      progress(`ClickHouse at ${clickhouse.url} (pid ${clickhouse.pid ?? 'not ours'})`);
    }
    const database = `thoth_${prefix.replaceAll('-', '_')}`;
    if (clickhouse && clickhouse.pid === undefined && !keep) {
      // A server of its own (CLICKHOUSE_URL) outlives the bench: its database goes unless BENCH_KEEP=1. The
      // server the bench started removes its data directory when it stops.
      const server = clickhouse;
      cleanups.push(async () => {
        const admin = createClient({ url: server.url, username: server.user, password: server.password });
        await admin.command({ query: `DROP DATABASE IF EXISTS ${database}` });
        await admin.close();
      });
    }
    // Embedded: the processes must not inherit a server from this environment (spawn leaves undefined out).
    const storeEnv: Record<string, string | undefined> = clickhouse
      ? {
          CLICKHOUSE_URL: clickhouse.url,
          CLICKHOUSE_USER: clickhouse.user,
          CLICKHOUSE_PASSWORD: clickhouse.password,
          CLICKHOUSE_DATABASE: database,
        }
      : {
          CLICKHOUSE_URL: undefined,
          CLICKHOUSE_USER: undefined,
          CLICKHOUSE_PASSWORD: undefined,
          CLICKHOUSE_DATABASE: undefined,
        };
    const startThoth = async (name: string, services: string): Promise<Thoth> => {
      const port = await freePort();
      // A process without the API answers /healthz on its metrics port only.
      const servesApi = includesApi(services);
      const healthPort = servesApi ? port : await freePort();
      const dir = join(dataDir, name);
      progress(
        `starting Thoth "${name}" (THOTH_SERVICES=${services}, distributed) on 127.0.0.1:${healthPort}, ` +
          (clickhouse ? `store ${clickhouse.url}` : `data ${dir}`),
      );
      const child = spawn(process.execPath, [...execArgv, 'services/thoth/dist/main.js'], {
        cwd: ROOT,
        env: {
          ...process.env,
          THOTH_MODE: 'distributed',
          THOTH_SERVICES: services,
          KAFKA_BROKERS: brokers,
          THOTH_ADMIN_TOKEN: ADMIN_TOKEN,
          THOTH_DATA_DIR: dir,
          THOTH_TOPIC_PREFIX: prefix,
          THOTH_TOPIC_PARTITIONS: String(partitions),
          ...storeEnv,
          HOST: '127.0.0.1',
          PORT: String(port),
          // Several Thoth processes on one machine: each its own metrics port.
          THOTH_METRICS_PORT: servesApi ? '0' : String(healthPort),
          LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
          THOTH_RATE_LIMIT_PER_KEY: '1000000',
          THOTH_RATE_LIMIT_PER_TENANT: '1000000',
          NODE_ENV: 'production',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      cleanups.push(() =>
        stopChild(child, () => progress(`thoth ${name} did not stop within 40 s: SIGKILL`)),
      );
      const forward = (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) {
          if (!line.trim()) continue;
          // A flood of warnings would cost the load generator CPU: show the first ones only.
          if (++thothLogLines <= 40) process.stderr.write(`[thoth ${name}] ${line.slice(0, 500)}\n`);
          else if (thothLogLines === 41) progress('(further Thoth log lines are not shown)');
        }
      };
      child.stdout?.on('data', forward);
      child.stderr?.on('data', forward);
      const exited = new Promise<never>((_, reject) =>
        child.once('exit', (code, signal) => reject(new Error(`Thoth "${name}" exited (${code ?? signal})`))),
      );
      exited.catch(() => undefined);
      const started = Date.now();
      for (;;) {
        const ok = await http(probePool, healthPort, 'GET', '/healthz', {}).then(
          (a) => a.status === 200,
          () => false,
        );
        if (ok) break;
        if (child.exitCode !== null) await exited;
        if (Date.now() - started > 180_000)
          throw new Error(`Thoth "${name}" did not become ready within 180 s`);
        await sleep(250);
      }
      progress(`Thoth "${name}" ready after ${Date.now() - started} ms (pid ${child.pid})`);
      return { name, child, port, exited };
    };

    const agentPool = new Agent({ keepAlive: true, maxSockets: concurrency });
    const probePool = new Agent({ keepAlive: true, maxSockets: 16 });
    cleanups.push(async () => {
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
      else progress(`kept the data directory ${dataDir}`);
    });
    cleanups.push(async () => {
      agentPool.destroy();
      probePool.destroy();
    });
    // An API-only process takes the ingest and a second process runs the audit writer (with chDB it also serves
    // the probe's feed reads from its store; on a ClickHouse server the ingest API serves them). BENCH_SPLIT=0:
    // one process, the API and the audit writer on one event loop.
    const store = await startThoth(split ? 'writer' : 'all', services);
    const ingest = split ? await startThoth('ingest', 'api') : store;
    const reader = writerServesApi ? store : ingest;
    // The ClickHouse server's CPU (the store's work: parsing inserts, merges, the probe's queries), when ours.
    const storeServerCpu = () => (clickhouse?.pid ? cpuSeconds(clickhouse.pid) : undefined);
    const thoths = split ? [store, ingest] : [store];
    const exitedEarly = Promise.race(thoths.map((t) => t.exited));
    exitedEarly.catch(() => undefined);
    const port = ingest.port;
    const thothCpu = (mainThread = false) =>
      thoths.reduce((sum, t) => sum + (cpuSeconds(t.child.pid, mainThread) ?? 0), 0);
    const processCpu = () =>
      thoths.map((t) => ({ all: cpuSeconds(t.child.pid) ?? 0, main: cpuSeconds(t.child.pid, true) ?? 0 }));

    const created = await http(
      probePool,
      port,
      'POST',
      `/${TENANT}/thoth/api-keys`,
      { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      JSON.stringify({ name: 'bench', permissions: ['execute', 'write', 'read'] }),
    );
    if (created.status !== 201) throw new Error(`creating the API key: ${created.status} ${created.body}`);
    const apiKey = (JSON.parse(created.body) as { api_key: string }).api_key;
    const auth = { authorization: `Bearer ${apiKey}` };
    const post = { ...auth, 'content-type': 'application/json' };

    const feed = async (query: string): Promise<{ total: number; rows: number }> => {
      const answer = await http(
        probePool,
        reader.port,
        'GET',
        `/${TENANT}/thoth/governance/feed?${query}`,
        auth,
      );
      if (answer.status !== 200)
        throw new Error(`feed ${query}: ${answer.status} ${answer.body.slice(0, 300)}`);
      const json = JSON.parse(answer.body) as { total: number; data: unknown[] };
      return { total: json.total, rows: json.data.length };
    };
    // The tenant's `_admin` chain (the admin audit of creating the bench's API key) is not ingested traffic.
    const storedTotal = async () =>
      (await feed('per_page=1')).total - (await feed('per_page=1&agent_id=_admin')).total;
    if (reader !== ingest) {
      // The key reaches the writer process through the control topic.
      const t0 = Date.now();
      for (;;) {
        const answer = await http(
          probePool,
          reader.port,
          'GET',
          `/${TENANT}/thoth/governance/feed?per_page=1`,
          auth,
        );
        if (answer.status === 200) break;
        if (Date.now() - t0 > 60_000)
          throw new Error(`the writer process does not know the key: ${answer.status}`);
        await sleep(100);
      }
    }

    // Until the audit writer's consumer group has joined, nothing is stored: wait for one batch end to end.
    {
      const id = `warm-${randomUUID().slice(0, 8)}`;
      const answer = await http(
        agentPool,
        port,
        'POST',
        '/v1/events/batch',
        post,
        batchBody(id, 'agent-000', 2, Date.now()),
      );
      if (answer.status !== 202) throw new Error(`first batch: ${answer.status} ${answer.body}`);
      const t0 = Date.now();
      while ((await feed(`agent_id=agent-000&session_id=${id}&per_page=1`)).total < 2) {
        if (Date.now() - t0 > 120_000) throw new Error('the first batch was not stored within 120 s');
        await sleep(100);
      }
      progress(`pipeline up: the first batch was queryable ${Date.now() - t0} ms after its 202`);
    }

    // ------------------------------------------------------------------- load + probe
    let phaseNow: Phase = warmupS > 0 ? 'warmup' : 'measure';
    // A function, so TypeScript does not narrow the phase across awaits.
    const phase = (): Phase => phaseNow;
    let acceptedTotal = 2; // the first batch
    let acceptedInWindow = 0;
    let batchesInWindow = 0;
    let rejectedTotal = 0;
    const errors: string[] = [];
    const postLatencies: number[] = [];
    const samples: Sample[] = [];
    let sampleDue = false;
    let batchSeq = 0;
    let loadStart = Date.now();
    let issued = 0;

    // The probe: ONE loop with one feed request at a time, whatever the backlog, so that measuring cannot
    // become the load (chDB runs one query of a session at a time: a poll per sample per tick, with a growing
    // backlog, would queue in front of the audit writer's own queries and feed on itself).
    const outstanding: Sample[] = [];
    const probeLatencies: number[] = [];
    let probing = true;
    const poll = async (sample: Sample): Promise<boolean> => {
      sample.polls++;
      const sentAt = performance.now();
      let total = 0;
      try {
        total = (await feed(`agent_id=${sample.agentId}&session_id=${sample.sessionId}&per_page=1`)).total;
      } catch (error) {
        errors.push(`probe: ${(error as Error).message}`);
      }
      probeLatencies.push(performance.now() - sentAt);
      const now = Date.now();
      if (total > 0 && sample.firstSeenMs === undefined) sample.firstSeenMs = now - sample.acceptedAt;
      if (total >= sample.expected) {
        sample.e2eMs = now - sample.acceptedAt;
        return true;
      }
      if (now - sample.acceptedAt > 120_000) {
        errors.push(`sample ${sample.sessionId}: ${total}/${sample.expected} events queryable after 120 s`);
        return true;
      }
      return false;
    };
    const probeLoop = async (): Promise<void> => {
      while (probing || outstanding.length > 0) {
        const roundStart = Date.now();
        // The oldest first (batches land roughly in order).
        for (const sample of [...outstanding])
          if (await poll(sample)) outstanding.splice(outstanding.indexOf(sample), 1);
        await sleep(Math.max(1, roundStart + pollMs - Date.now()));
      }
    };
    const probes = probeLoop();

    const worker = async (): Promise<void> => {
      while (phase() !== 'stopped') {
        if (rate > 0) {
          const due = loadStart + ((issued * batchSize) / rate) * 1_000;
          issued++;
          if (due > Date.now()) await sleep(due - Date.now());
          if (phase() === 'stopped') return;
        }
        const seq = batchSeq++;
        const agentId = `agent-${String(seq % agents).padStart(3, '0')}`;
        const batchId = `b${seq}-${randomUUID().slice(0, 8)}`;
        const body = batchBody(batchId, agentId, batchSize, Date.now());
        const measuring = phase() === 'measure';
        const sentAt = performance.now();
        let answer: HttpAnswer;
        try {
          answer = await http(agentPool, port, 'POST', '/v1/events/batch', post, body);
        } catch (error) {
          errors.push(`POST: ${(error as Error).message}`);
          await sleep(100);
          continue;
        }
        const acceptedAt = Date.now();
        if (answer.status !== 202) {
          errors.push(`POST: ${answer.status} ${answer.body.slice(0, 300)}`);
          await sleep(100);
          continue;
        }
        const result = JSON.parse(answer.body) as { accepted: number; rejected: unknown[] };
        acceptedTotal += result.accepted;
        rejectedTotal += result.rejected.length;
        if (result.rejected.length > 0 && errors.length < 100)
          errors.push(`rejected: ${JSON.stringify(result.rejected[0])}`);
        // Throughput counts the batches answered inside the window (completions per second, whenever sent);
        // latencies and samples only those sent inside it too.
        const answeredInWindow = phase() === 'measure';
        if (answeredInWindow) {
          acceptedInWindow += result.accepted;
          batchesInWindow++;
        }
        if (measuring && answeredInWindow) {
          postLatencies.push(performance.now() - sentAt);
          if (sampleDue && outstanding.length < MAX_OUTSTANDING) {
            sampleDue = false;
            const sample: Sample = {
              agentId,
              sessionId: batchId,
              expected: result.accepted,
              acceptedAt,
              polls: 0,
            };
            samples.push(sample);
            outstanding.push(sample);
          }
        }
      }
    };

    const cpuThoth0 = {
      at: 0,
      thoth: 0,
      thothMain: 0,
      broker: 0 as number | undefined,
      storeServer: 0 as number | undefined,
      machine: 0 as number | undefined,
      self: process.cpuUsage(),
    };
    let stored0 = 0;
    let windowStart = 0;
    progress(
      `load: ${concurrency} in flight × ${batchSize} events/batch, ${agents} agents, ${partitions} partitions, ` +
        `${rate > 0 ? `paced to ${rate} events/s` : 'closed loop (as fast as accepted)'}; ` +
        `${warmupS} s warm-up + ${durationS} s measured; sample every ${sampleMs} ms, poll every ${pollMs} ms`,
    );
    loadStart = Date.now();
    const workers = Array.from({ length: concurrency }, () => worker());

    if (warmupS > 0) {
      await sleep(warmupS * 1_000);
      progress(`warm-up done: ${acceptedTotal} events accepted`);
    }
    // The stored count grows in steps, one per audit-writer flush (a few thousand events): two readings, at the
    // window's ends, would each be off by up to a step. stored/s is the least-squares slope of a reading every
    // STORED_READING_MS over the window instead.
    const storedReadings: Array<{ at: number; stored: number }> = [];
    const readStored = async (): Promise<number> => {
      const stored = await storedTotal();
      storedReadings.push({ at: Date.now(), stored });
      return stored;
    };
    stored0 = await readStored();
    windowStart = Date.now();
    cpuThoth0.at = windowStart;
    cpuThoth0.thoth = thothCpu();
    const processCpu0 = processCpu();
    const writerThreads0 = split ? threadCpu(store.child.pid!) : undefined;
    cpuThoth0.thothMain = thothCpu(true);
    cpuThoth0.broker = brokerCpu();
    cpuThoth0.storeServer = storeServerCpu();
    cpuThoth0.self = process.cpuUsage();
    cpuThoth0.machine = machineBusySeconds();
    phaseNow = 'measure';
    const sampler = setInterval(() => {
      sampleDue = true;
    }, sampleMs);
    const reporter = setInterval(() => {
      const s = (Date.now() - windowStart) / 1_000;
      const done = samples.filter((x) => x.e2eMs !== undefined).map((x) => x.e2eMs!);
      progress(
        `t=${s.toFixed(0)}s accepted ${acceptedInWindow} (${Math.round(acceptedInWindow / s)}/s), ` +
          `samples ${done.length}/${samples.length} done, e2e p50 ${percentile(done, 50)} ms, ` +
          `p99 ${percentile(done, 99)} ms, max ${Math.max(0, ...done)} ms, errors ${errors.length}`,
      );
    }, 10_000);
    // Readings inside the window only: after it, the count flattens out as the backlog drains.
    const readings = setInterval(() => void readStored().catch(() => {}), STORED_READING_MS);
    await Promise.race([sleep(durationS * 1_000), exitedEarly]);
    phaseNow = 'stopped';
    const windowEnd = Date.now();
    clearInterval(readings);
    clearInterval(sampler);
    clearInterval(reporter);
    const windowS = (windowEnd - windowStart) / 1_000;
    const storedEnd = await readStored();
    const cpu = {
      thoth: thothCpu() - cpuThoth0.thoth,
      thothMain: thothCpu(true) - cpuThoth0.thothMain,
      broker: cpuThoth0.broker === undefined ? undefined : (brokerCpu() ?? 0) - cpuThoth0.broker,
      storeServer:
        cpuThoth0.storeServer === undefined ? undefined : (storeServerCpu() ?? 0) - cpuThoth0.storeServer,
      self: (() => {
        const u = process.cpuUsage(cpuThoth0.self);
        return (u.user + u.system) / 1e6;
      })(),
      machine: cpuThoth0.machine === undefined ? undefined : (machineBusySeconds() ?? 0) - cpuThoth0.machine,
    };
    const writerThreadsWindow = writerThreads0 && threadCpuDelta(writerThreads0, threadCpu(store.child.pid!));
    const processCpuWindow = processCpu().map((end, i) => ({
      name: thoths[i]!.name,
      all: end.all - processCpu0[i]!.all,
      main: end.main - processCpu0[i]!.main,
    }));
    // Whatever else ran on the machine meanwhile (other people's tests…) took CPU from this benchmark.
    const others =
      cpu.machine === undefined
        ? undefined
        : Math.max(0, cpu.machine - cpu.thoth - (cpu.broker ?? 0) - (cpu.storeServer ?? 0) - cpu.self);
    await Promise.all(workers);
    if (writerThreadsWindow)
      progress(`window: the writer's threads, CPU-s: ${threadsLine(writerThreadsWindow)}`);
    progress(`load stopped after ${windowS.toFixed(1)} s; waiting for the samples and the drain`);

    const drainCpu0 = { thoth: thothCpu(), thothMain: thothCpu(true) };
    probing = false;
    await Promise.race([probes, exitedEarly]);
    let drainMs = 0;
    let storedFinal = 0;
    for (;;) {
      storedFinal = await storedTotal();
      drainMs = Date.now() - windowEnd;
      if (storedFinal >= acceptedTotal) break;
      if (drainMs > 180_000) {
        errors.push(`drain: ${storedFinal}/${acceptedTotal} stored 180 s after the load stopped`);
        break;
      }
      await sleep(100);
    }
    // With a backlog, the drain shows what the audit writer stores per second with the API idle.
    const backlog = acceptedTotal - storedEnd;
    const drainRate = drainMs >= 2_000 ? backlog / (drainMs / 1_000) : undefined;
    const drainCpu = {
      thoth: (thothCpu() - drainCpu0.thoth) / (drainMs / 1_000),
      thothMain: (thothCpu(true) - drainCpu0.thothMain) / (drainMs / 1_000),
    };
    if (drainRate !== undefined)
      progress(
        `drain: ${backlog} events were waiting when the load stopped; stored in ${drainMs} ms = ` +
          `${Math.round(drainRate)} events/s by the audit writer alone (thoth CPU ${Math.round(drainCpu.thoth * 100)}%, ` +
          `main thread ${Math.round(drainCpu.thothMain * 100)}%)`,
      );
    // Duplicates would show up late (a redelivery): look once more after a short pause.
    await sleep(1_000);
    storedFinal = await storedTotal();
    if (storedFinal !== acceptedTotal)
      errors.push(`stored ${storedFinal} events but ${acceptedTotal} were accepted (lost or duplicated)`);

    // ----------------------------------------------------------------- writer CPU per event (see the header)
    let writerBacklog:
      | {
          events: number;
          cpuS: number;
          mainCpuS: number;
          systemCpuS: number;
          faults: number;
          drainMs: number;
          storeServerCpuS: number | undefined;
        }
      | undefined;
    if (backlogEvents > 0 && split && errors.length === 0) {
      const writerPid = store.child.pid!;
      const storedBefore = storedFinal;
      progress(`backlog: writer paused (SIGSTOP); posting ${backlogEvents} events to the API`);
      process.kill(writerPid, 'SIGSTOP');
      let paused = true;
      const resume = () => {
        if (paused) process.kill(writerPid, 'SIGCONT');
        paused = false;
      };
      // A failure while paused must not leave the writer stopped: it could not stop on SIGTERM.
      cleanups.push(async () => resume());
      let backlogAccepted = 0;
      let posted = 0;
      const postStart = Date.now();
      const poster = async (): Promise<void> => {
        // Kafka evicts a member silent for its session timeout (30 s): the pause stays well under it.
        while (posted < backlogEvents && Date.now() - postStart < BACKLOG_MAX_PAUSE_MS) {
          const seq = batchSeq++;
          posted += batchSize;
          const agentId = `agent-${String(seq % agents).padStart(3, '0')}`;
          const body = batchBody(`k${seq}-${randomUUID().slice(0, 8)}`, agentId, batchSize, Date.now());
          const answer = await http(agentPool, port, 'POST', '/v1/events/batch', post, body);
          if (answer.status !== 202)
            throw new Error(`backlog POST: ${answer.status} ${answer.body.slice(0, 300)}`);
          const result = JSON.parse(answer.body) as { accepted: number; rejected: unknown[] };
          backlogAccepted += result.accepted;
          rejectedTotal += result.rejected.length;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, () => poster()));
      acceptedTotal += backlogAccepted;
      const lagProbe = new KafkaBus({ brokers: brokers.split(','), clientId: `${prefix}-bench-lag` });
      cleanups.push(() => lagProbe.close());
      const writerGroup = `${topicNames(prefix).events}.audit-writer`;
      const cpu0 = {
        all: cpuSeconds(writerPid) ?? 0,
        main: cpuSeconds(writerPid, true) ?? 0,
        storeServer: storeServerCpu(),
      };
      const threads0 = threadCpu(writerPid);
      const drainStart = Date.now();
      resume();
      while ((await lagProbe.lag(writerGroup, topicNames(prefix).events)) > 0) {
        if (Date.now() - drainStart > 180_000) {
          errors.push(`backlog: the writer's group still lags 180 s after the writer resumed`);
          break;
        }
        await sleep(BACKLOG_LAG_READING_MS);
      }
      const drainMs = Date.now() - drainStart;
      const cpuS = (cpuSeconds(writerPid) ?? 0) - cpu0.all;
      const mainCpuS = (cpuSeconds(writerPid, true) ?? 0) - cpu0.main;
      const storeServerCpuS =
        cpu0.storeServer === undefined ? undefined : (storeServerCpu() ?? 0) - cpu0.storeServer;
      const threads = threadCpuDelta(threads0, threadCpu(writerPid));
      const stored = await storedTotal();
      const all = [...threads.values()];
      writerBacklog = {
        events: stored - storedBefore,
        cpuS,
        mainCpuS,
        systemCpuS: all.reduce((sum, t) => sum + t.system, 0),
        faults: all.reduce((sum, t) => sum + t.faults, 0),
        drainMs,
        storeServerCpuS,
      };
      progress(
        `backlog: ${writerBacklog.events} events drained in ${drainMs} ms using ${round(writerBacklog.cpuS, 2)} CPU-s ` +
          `of the writer process (main thread ${round(writerBacklog.mainCpuS, 2)}): ` +
          `${Math.round(writerBacklog.events / writerBacklog.cpuS)} events per CPU-second`,
      );
      progress(`backlog: the writer's threads, CPU-s: ${threadsLine(threads)}`);
      if (storeServerCpuS !== undefined)
        progress(
          `backlog: the ClickHouse server used ${round(storeServerCpuS, 2)} CPU-s meanwhile: writer and store ` +
            `together ${Math.round(writerBacklog.events / (writerBacklog.cpuS + storeServerCpuS))} events per CPU-second`,
        );
      await sleep(1_000);
      storedFinal = await storedTotal();
      if (storedFinal !== acceptedTotal)
        errors.push(`stored ${storedFinal} events but ${acceptedTotal} were accepted (lost or duplicated)`);
    }
    const writerWindow = processCpuWindow.find((p) => p.name === 'writer');

    const e2e = samples.filter((s) => s.e2eMs !== undefined).map((s) => s.e2eMs!);
    const firstSeen = samples.filter((s) => s.firstSeenMs !== undefined).map((s) => s.firstSeenMs!);
    const acceptedPerS = acceptedInWindow / windowS;
    const storedPerS = slopePerSecond(storedReadings.map((r) => [r.at, r.stored]));
    const eventsPerS = Math.min(acceptedPerS, storedPerS);
    const p50 = percentile(e2e, 50);
    const p99 = percentile(e2e, 99);
    const pct = (seconds: number | undefined) =>
      seconds === undefined ? 'n/a' : `${Math.round((seconds / windowS) * 100)}%`;
    progress(
      `window ${windowS.toFixed(1)} s: accepted ${acceptedInWindow} events in ${batchesInWindow} batches ` +
        `(${Math.round(acceptedPerS)}/s), stored ${storedEnd - stored0} (${Math.round(storedPerS)}/s over ` +
        `${storedReadings.length} readings); ` +
        `POST 202 latency p50 ${round(percentile(postLatencies, 50))} ms, p99 ${round(percentile(postLatencies, 99))} ms`,
    );
    progress(
      `e2e over ${e2e.length} samples: p50 ${p50} ms, p90 ${percentile(e2e, 90)} ms, p99 ${p99} ms, max ${Math.max(0, ...e2e)} ms ` +
        `(first event of a batch queryable: p50 ${percentile(firstSeen, 50)} ms, p99 ${percentile(firstSeen, 99)} ms); ` +
        `drain after the load stopped ${drainMs} ms; trail holds ${storedFinal}/${acceptedTotal} accepted events; ` +
        `probe: ${probeLatencies.length} feed requests, p50 ${round(percentile(probeLatencies, 50))} ms, ` +
        `p99 ${round(percentile(probeLatencies, 99))} ms`,
    );
    progress(
      `CPU over the window (100% = one core; the machine has 2): thoth ${pct(cpu.thoth)} ` +
        `(its main thread, the event loop, ${pct(cpu.thothMain)}; ${onServer ? '' : 'chDB and '}other threads ${pct(cpu.thoth - cpu.thothMain)}), ` +
        (split
          ? `[${processCpuWindow.map((p) => `${p.name} ${pct(p.all)}, main thread ${pct(p.main)}`).join('; ')}], `
          : '') +
        `kafka broker ${pct(cpu.broker)}, ` +
        (cpu.storeServer === undefined ? '' : `ClickHouse server ${pct(cpu.storeServer)}, `) +
        `load generator + probe ${pct(cpu.self)}; whole machine ${pct(cpu.machine)} ` +
        `of 200%, of which other processes ${pct(others)}`,
    );
    if (rejectedTotal > 0) progress(`FAIL: ${rejectedTotal} events rejected`);
    if (errors.length > 0) {
      failed = true;
      progress(`FAIL: ${errors.length} errors, first: ${errors.slice(0, 5).join(' | ')}`);
    }
    const met = eventsPerS >= TARGET_EVENTS_PER_S && p99 <= TARGET_E2E_P99_MS;
    progress(
      `target ≥ ${TARGET_EVENTS_PER_S} events/s and e2e p99 ≤ ${TARGET_E2E_P99_MS} ms: ${met ? 'met' : 'MISSED'}`,
    );
    if (!met && process.env.BENCH_STRICT === '1') failed = true;
    process.stdout.write(
      `${JSON.stringify({
        events_per_s: Math.round(eventsPerS),
        e2e_p50_ms: p50,
        e2e_p99_ms: p99,
        offered_per_s: rate > 0 ? rate : 'closed loop',
        accepted_per_s: Math.round(acceptedPerS),
        stored_per_s: Math.round(storedPerS),
        e2e_max_ms: Math.max(0, ...e2e),
        samples: e2e.length,
        post_p99_ms: round(percentile(postLatencies, 99)),
        drain_ms: drainMs,
        drain_events_per_s: drainRate === undefined ? null : Math.round(drainRate),
        duration_s: round(windowS),
        batch_size: batchSize,
        concurrency,
        processes: split ? `api | ${services}` : services.replaceAll(',', ' + '),
        store: onServer ? 'clickhouse server' : 'chdb in the writer process',
        cpu_thoth_pct: Math.round((cpu.thoth / windowS) * 100),
        cpu_thoth_main_thread_pct: Math.round((cpu.thothMain / windowS) * 100),
        cpu_broker_pct: cpu.broker === undefined ? null : Math.round((cpu.broker / windowS) * 100),
        cpu_store_server_pct:
          cpu.storeServer === undefined ? null : Math.round((cpu.storeServer / windowS) * 100),
        cpu_others_pct: others === undefined ? null : Math.round((others / windowS) * 100),
        writer_events_per_cpu_s: writerBacklog ? Math.round(writerBacklog.events / writerBacklog.cpuS) : null,
        writer_backlog_events: writerBacklog?.events ?? null,
        // The store's CPU too (its server's, over the same span): what storing an event costs in all.
        writer_and_store_events_per_cpu_s:
          writerBacklog?.storeServerCpuS !== undefined
            ? Math.round(writerBacklog.events / (writerBacklog.cpuS + writerBacklog.storeServerCpuS))
            : null,
        store_server_backlog_cpu_s:
          writerBacklog?.storeServerCpuS !== undefined ? round(writerBacklog.storeServerCpuS, 2) : null,
        writer_backlog_cpu_s: writerBacklog ? round(writerBacklog.cpuS, 2) : null,
        writer_backlog_main_thread_cpu_s: writerBacklog ? round(writerBacklog.mainCpuS, 2) : null,
        writer_backlog_system_cpu_s: writerBacklog ? round(writerBacklog.systemCpuS, 2) : null,
        writer_backlog_faults_per_event: writerBacklog
          ? round(writerBacklog.faults / writerBacklog.events, 2)
          : null,
        writer_backlog_drain_events_per_s: writerBacklog
          ? Math.round(writerBacklog.events / (writerBacklog.drainMs / 1_000))
          : null,
        writer_window_events_per_cpu_s:
          writerWindow && writerWindow.all > 0 ? Math.round((storedEnd - stored0) / writerWindow.all) : null,
      })}\n`,
    );
  } catch (error) {
    progress(`FAIL: ${(error as Error).stack ?? error}`);
    failed = true;
  } finally {
    await cleanup();
    if (profileDir) progress(`CPU profile of the Thoth process written to ${profileDir}`);
  }
  process.exit(failed ? 1 : 0);
}

await main();
