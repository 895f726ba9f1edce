/**
 * Throughput and latency of POST /v1/enforce against a bare Fastify route and against OPA's REST server with the
 * same decision in Rego, on the same machine, in the same run.
 *
 *   npm run bench:enforce            # BENCH_DURATION_S=10 BENCH_CONNECTIONS=50 BENCH_THREADS=2 BENCH_ROUNDS=1
 *
 * Six servers, each its own process (so none shares an event loop with another or with this script):
 * - bare:  plain Fastify, one POST route answering a small JSON object;
 * - bare-signed: the same route plus one Ed25519 signature a request on a signing thread (what a receipt per
 *   decision costs, THOTH_RECEIPTS=per-decision; kept for comparison with the batched Merkle receipts);
 * - bare-audited: the bare route plus what the protocol requires of every answer, built from Thoth's own parts:
 *   the protocol's answer, a Merkle receipt and a decision event on the in-memory bus. No authentication,
 *   validation or decision logic: the floor under Thoth's isolated API on this machine;
 * - thoth: the isolated API — `startApiService` on the in-memory bus with the 3-rule CEL policy of
 *   scripts/enforce-load.ts and an API key, plus a reader that commits the decision events as the audit writer
 *   would (so the bus lets go of them);
 * - product: Thoth as `npm start` runs it (scripts/product-server.ts: embedded, every consumer, chDB, Merkle
 *   receipts and decision events on) with the same policy as its rule file;
 * - opa: OPA's REST server (scripts/opa-server.ts; built once with `go install` into .cache/opa, skipped with a
 *   message when Go is missing) with the scope check and the same three rules in Rego, queried with the same
 *   request as `input`.
 * The load generator is wrk (Debian package `wrk`), 2 threads, 50 connections, a 2 s warm-up before each
 * measured run, in the order above (repeated when BENCH_ROUNDS > 1; medians are reported). Each measured run also
 * reports, from /proc, the server's CPU a request: its main thread (user and kernel time), its other threads,
 * and how idle the machine was.
 *
 * Progress goes to stderr; the last line on stdout is one JSON object:
 *   {"rps","p50_ms","p99_ms","bare_rps","bare_p99_ms","ratio","p99_to_bare","signed_bare_rps","signed_bare_ratio",
 *    "audited_bare_rps","audited_bare_p99_ms","audited_bare_ratio","product_rps","product_p50_ms","product_p99_ms",
 *    "opa_rps","opa_p99_ms","ratio_to_opa","isolated_ratio_to_opa","rounds","targets_met"}
 * (ratio = thoth rps / bare rps; audited_bare_ratio = bare-audited rps / bare rps; ratio_to_opa = product rps / OPA
 * rps.) Targets (issue #24): ratio ≥ 0.75, thoth p99 ≤ 1.5 × bare p99, the product ≥ OPA's rps with a lower p99.
 * Exit 2 when wrk is missing, 1 when a check fails (a non-2xx answer, a decision other than ALLOW, a reference
 * whose receipts do not verify or whose events do not reach the bus), and with BENCH_STRICT=1 also when a target
 * is missed. BENCH_CPU_PROF=1 writes V8 CPU profiles of the thoth and product servers to .cache/bench-profiles/.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Receipt } from '@thoth/contracts';
import type { FastifyInstance } from 'fastify';
import { benchReporter, round, targetsVerdict } from './bench-support.ts';
import { BODY_TEMPLATE, POLICY, SESSIONS_PER_THREAD, TENANT } from './enforce-load.ts';
import { busWithEventsReader, startIsolatedApi } from './isolated-api.ts';
import { OPA_MODULE, opaBinary, startOpa } from './opa-server.ts';
import { START_FLAGS, startProduct } from './product-server.ts';
import { luaScript, runWrk, type WrkResult, wrkPath } from './wrk.ts';

const SELF = import.meta.filename;
const ROOT = resolve(import.meta.dirname, '..');
type ChildMessage = { ready: true; port: number; key?: string } | { stats: Record<string, unknown> };

// ---------------------------------------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------------------------------------

/** Event-loop delay since the last reset (a stalled loop shows up here before it shows in p99). */
function loopDelayStats(histogram: ReturnType<typeof monitorEventLoopDelay>): Record<string, number> {
  return {
    loop_delay_p50_ms: Math.round(histogram.percentile(50) / 1e4) / 100,
    loop_delay_p99_ms: Math.round(histogram.percentile(99) / 1e4) / 100,
    loop_delay_max_ms: Math.round(histogram.max / 1e4) / 100,
  };
}

async function thothChild(): Promise<void> {
  const { service, port, key, stop: stopApi } = await startIsolatedApi({ prefix: 'bench', policy: POLICY });
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  process.on('message', (message: unknown) => {
    if (message === 'reset') loopDelay.reset();
    if (message !== 'stats') return;
    const memory = process.memoryUsage();
    process.send?.({
      stats: {
        ...loopDelayStats(loopDelay),
        rss_mb: Math.round(memory.rss / 1e6),
        heap_used_mb: Math.round(memory.heapUsed / 1e6),
        decision_events_published: service.publisher.published,
        decision_events_dropped: service.publisher.dropped,
        decision_events_pending: service.publisher.pending,
      },
    } satisfies ChildMessage);
  });
  const stop = async () => {
    await stopApi();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  process.send?.({ ready: true, port, key } satisfies ChildMessage);
}

async function bareChild(signed: boolean): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const { SigningKey } = await import('@thoth/platform');
  const keyDir = mkdtempSync(join(tmpdir(), 'thoth-bench-key-'));
  const signer = SigningKey.loadOrCreate(SigningKey.pathIn(keyDir));
  rmSync(keyDir, { recursive: true, force: true });
  const app = Fastify({ logger: false });
  app.post('/v1/enforce', async (request) => {
    const body = request.body as { tool_name?: string; session_id?: string };
    const answer = {
      decision: 'ALLOW',
      tool_name: body.tool_name,
      session_id: body.session_id,
      risk_score: 0,
    };
    if (!signed) return answer;
    const issuedAt = new Date().toISOString();
    return { ...answer, receipt: await signer.signAsync({ ...answer, issued_at: issuedAt }) };
  });
  await serveChild(app);
}

/** Listens on a free loopback port, answers the parent's stats requests, and stops on SIGTERM or disconnect. */
async function serveChild(
  app: FastifyInstance,
  more: { onClose?: () => Promise<void>; stats?: () => Record<string, unknown> } = {},
): Promise<void> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const stop = async () => {
    await app.close();
    await more.onClose?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  process.on('message', (message: unknown) => {
    if (message === 'reset') loopDelay.reset();
    if (message === 'stats')
      process.send?.({
        stats: {
          ...loopDelayStats(loopDelay),
          rss_mb: Math.round(process.memoryUsage().rss / 1e6),
          ...more.stats?.(),
        },
      } satisfies ChildMessage);
  });
  process.send?.({ ready: true, port: address.port } satisfies ChildMessage);
}

/**
 * Bare Fastify plus what the protocol requires of every answer, built from Thoth's own parts: the protocol's
 * answer (`envelope`, a plain ALLOW), a Merkle receipt (`ReceiptMaker`, one signature a batch at the end of the
 * turn) and a decision event queued on the in-memory bus after the answers of the turn, as the enforcer does
 * (`BackgroundPublisher`, Avro batches at the flush, a reader committing them). No authentication, body check,
 * decision logic, redaction or replay record: the floor under Thoth's isolated API on this machine.
 */
async function bareAuditedChild(): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const { AvroCodec, ReceiptMaker, SigningKey, createLogger } = await import('@thoth/platform');
  const { agentKey, enforceRequestSchema, ulid } = await import('@thoth/contracts');
  const { BackgroundPublisher } = await import('../services/api/src/background-publisher.ts');
  const { envelope, merkleReceiptJson } = await import('../services/api/src/enforce/enforcer.ts');
  const { decideToolCall } = await import('../services/api/src/decision/decide.ts');
  const { toToolCall } = await import('../services/api/src/enforce/enforce-request.ts');
  const { policySetFrom } = await import('../services/api/src/policy-source.ts');
  const keyDir = mkdtempSync(join(tmpdir(), 'thoth-bench-key-'));
  const signer = SigningKey.loadOrCreate(SigningKey.pathIn(keyDir));
  rmSync(keyDir, { recursive: true, force: true });
  const receipts = new ReceiptMaker(signer, 'merkle');
  const { bus, topics } = await busWithEventsReader('bench-audited');
  const publisher = new BackgroundPublisher({ bus, codec: new AvroCodec(), log: createLogger('silent') });
  // The outcome Thoth decides for the benchmark's body, decided once: the answer and the event carry what a real
  // plain ALLOW carries (its reason, its evidence), without the cost of deciding it again.
  const allow = decideToolCall(
    toToolCall(enforceRequestSchema.parse({ ...BODY_TEMPLATE, session_id: 'bench-audited' }), Date.now()),
    policySetFrom(POLICY).forTenant(TENANT),
    undefined,
    [],
  );
  if (allow.decision !== 'ALLOW') throw new Error(`the benchmark's body is decided ${allow.decision}`);

  let unpublished: Array<() => void> = [];
  const publishPending = () => {
    const due = unpublished;
    unpublished = [];
    for (const publish of due) publish();
  };
  const publishDecision = (body: typeof BODY_TEMPLATE, decisionId: string, receipt: Receipt, now: number) =>
    publisher.enqueueRecord(
      topics.events,
      'thoth.v1.DecisionEvent',
      agentKey(body.tenant_id, body.agent_id),
      {
        event_id: `${body.tenant_id}:${decisionId}`,
        tenant_id: body.tenant_id,
        agent_id: body.agent_id,
        session_id: body.session_id,
        user_id: body.user_id,
        tool_name: body.tool_name,
        decision: allow.decision,
        would_be_decision: allow.wouldBe,
        enforcement_mode: body.enforcement_mode,
        environment: body.environment,
        reason: allow.reason,
        reason_code: allow.reasonCode,
        action_classification: allow.actionClassification,
        violation_id: decisionId,
        enforcement_trace_id: body.session_id,
        risk_score: allow.riskScore,
        matched_rule_ids: allow.matchedRuleIds,
        model_signals: allow.modelSignals,
        top_contributors_json: JSON.stringify(allow.topContributors),
        decision_evidence_json: JSON.stringify(allow.decisionEvidence),
        tool_args_json: JSON.stringify(body.tool_args),
        modified_tool_args_json: null,
        hold_token: null,
        policy_version: 1,
        latency_us: 0,
        receipt_signature: receipt.signature,
        receipt_key_id: receipt.key_id,
        request_id: null,
        purpose: null,
        data_classification: null,
        occurred_at: now,
        replay_json: null,
        receipt_json: merkleReceiptJson(receipt),
      },
    );

  const app = Fastify({ logger: false });
  app.post('/v1/enforce', async (request) => {
    const body = request.body as typeof BODY_TEMPLATE;
    const now = Date.now();
    const decisionId = ulid(now);
    const receipt = await receipts.receipt({
      decision: allow.decision,
      decision_reason_code: allow.reasonCode,
      decision_id: decisionId,
      enforcement_trace_id: body.session_id,
      tenant_id: body.tenant_id,
      agent_id: body.agent_id,
      session_id: body.session_id,
      tool_name: body.tool_name,
      risk_score: allow.riskScore,
      issued_at: new Date(now).toISOString(),
      policy_version: 1,
    });
    unpublished.push(() => publishDecision(body, decisionId, receipt, now));
    if (unpublished.length === 1) setImmediate(publishPending);
    return envelope(allow, {
      decisionId,
      traceId: body.session_id,
      holdToken: undefined,
      receipt,
      latencyMs: 0,
      policyVersion: 1,
      detail: false,
    });
  });
  await serveChild(app, {
    onClose: async () => {
      publishPending();
      await publisher.drain();
      await bus.close();
    },
    stats: () => ({
      public_key_pem: signer.publicKeyPem,
      decision_events_published: publisher.published,
      decision_events_dropped: publisher.dropped,
      decision_events_pending: publisher.pending + unpublished.length,
    }),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------------------------------------

const { progress, envInt } = benchReporter('bench');

interface Server {
  name: string;
  child: ChildProcess;
  port: number;
  key: string;
  /** The route wrk POSTs to. */
  path?: string;
}

function startChild(
  mode: 'thoth' | 'bare' | 'bare-signed' | 'bare-audited',
  cpuProfileDir?: string,
): Promise<Server> {
  // The flags Thoth is started with, for the bare servers too: each runs as it would be deployed (bare Fastify's
  // young generation stays under the cap anyway: it scavenges as often with the flag as without).
  const execArgv = [...process.execArgv, ...START_FLAGS];
  if (cpuProfileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`);
  const child = fork(SELF, [`--child=${mode}`], {
    cwd: ROOT,
    execArgv,
    env: { ...process.env, LOG_LEVEL: 'silent', NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start within 60 s`)), 60_000);
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code} before it was ready`)));
    child.on('message', (message: ChildMessage) => {
      if ('ready' in message) {
        clearTimeout(timer);
        resolvePromise({ name: mode, child, port: message.port, key: message.key ?? 'not-checked' });
      }
    });
  });
}

function stats(server: Server): Promise<Record<string, unknown>> {
  // Only the forked children answer over IPC; the product and OPA are plain processes.
  if (!server.child.connected) return Promise.resolve({});
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => resolvePromise({}), 5_000);
    const onMessage = (message: ChildMessage) => {
      if (!('stats' in message)) return;
      clearTimeout(timer);
      server.child.off('message', onMessage);
      resolvePromise(message.stats);
    };
    server.child.on('message', onMessage);
    server.child.send('stats');
  });
}

async function stopChild(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
}

const sessionId = (thread: number, session: number) => `bench-${thread}-${session}`;
const bodyFor = (session: string) => JSON.stringify({ ...BODY_TEMPLATE, session_id: session });

/** POSTs the body of every session wrk will use; each must be 200 ALLOW. Returns a sample response. */
async function checkAllSessions(server: Server, threads: number): Promise<Record<string, unknown>> {
  let sample: Record<string, unknown> = {};
  for (let t = 1; t <= threads; t++) {
    for (let s = 1; s <= SESSIONS_PER_THREAD; s++) {
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/enforce`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' },
        body: bodyFor(sessionId(t, s)),
      });
      const text = await res.text();
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new Error(`${server.name}: answer is not JSON (${res.status}): ${text.slice(0, 300)}`);
      }
      if (res.status !== 200 || json.decision !== 'ALLOW')
        throw new Error(
          `${server.name}: expected 200 ALLOW for ${sessionId(t, s)}, got ${res.status}: ${text.slice(0, 500)}`,
        );
      sample = json;
    }
  }
  return sample;
}

/**
 * The audited reference answers as the protocol says, with Merkle receipts that the standalone verifier
 * (scripts/verify-receipt.mjs) accepts against its own public key, some from batches of more than one decision.
 * Rounds of 20 concurrent requests: the first opens the connections (over new ones, the answers rarely share a
 * turn), the next ones until a batch held more than one (at most 5). Returns how many requests it sent.
 */
async function checkAudited(server: Server): Promise<number> {
  const { receiptProblem, signedDecision } = await import('./verify-receipt.mjs');
  const publicKeyPem = (await stats(server)).public_key_pem;
  if (typeof publicKeyPem !== 'string') throw new Error(`${server.name}: no public key in its stats`);
  let sent = 0;
  for (let round = 0; round <= 5; round++) {
    const requests = Array.from({ length: 20 }, (_, i) => JSON.parse(bodyFor(`check-${i}`)) as object);
    sent += requests.length;
    const answers = await Promise.all(
      requests.map(async (request) => {
        const res = await fetch(`http://127.0.0.1:${server.port}/v1/enforce`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(request),
        });
        if (res.status !== 200)
          throw new Error(`${server.name}: answered ${res.status}: ${await res.text()}`);
        return (await res.json()) as { decision?: string; receipt?: { tree_size?: number } };
      }),
    );
    for (const [i, answer] of answers.entries()) {
      if (answer.decision !== 'ALLOW') throw new Error(`${server.name}: answered ${answer.decision}`);
      const problem = receiptProblem(signedDecision(requests[i]!, answer), answer.receipt, publicKeyPem);
      if (problem !== undefined)
        throw new Error(`${server.name}: a receipt that does not verify: ${problem}`);
    }
    if (round > 0 && answers.some((a) => (a.receipt?.tree_size ?? 0) > 1)) return sent;
  }
  throw new Error(
    `${server.name}: five rounds of 20 concurrent decisions, yet every receipt's batch held one`,
  );
}

/**
 * The audited reference published a decision event for each of the `answered` answers it gave and dropped none,
 * within 10 s: its rate counts the events it claims to publish.
 */
async function eventsAccounted(server: Server, answered: number): Promise<void> {
  for (let waited = 0; ; waited += 100) {
    const { decision_events_published: published, decision_events_dropped: dropped } = await stats(server);
    if (typeof dropped !== 'number') throw new Error(`${server.name}: no event counts in its stats`);
    if (dropped !== 0) throw new Error(`${server.name}: ${dropped} decision events dropped`);
    if (typeof published === 'number' && published >= answered) return;
    if (waited >= 10_000)
      throw new Error(`${server.name}: ${published} decision events published for ${answered} answers`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** CPU ticks (user, system) of a process, or of one of its threads, from /proc (Linux; undefined elsewhere). */
function cpuTicks(pid: number, tid?: number): { user: number; system: number } | undefined {
  const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  if (!existsSync(path)) return undefined;
  const stat = readFileSync(path, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]), system: Number(fields[12]) };
}

/** Whole-machine idle ticks (all CPUs) from /proc/stat. */
function idleTicks(): number | undefined {
  if (!existsSync('/proc/stat')) return undefined;
  return Number(readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)[4]);
}

/**
 * Where a server's CPU went during a measured run, per request: its event loop (the main thread: user and
 * kernel time), its other threads (signing, GC, the thread pool), and how idle the whole machine was.
 */
async function measureCpu<T extends { requests: number }>(
  server: Server,
  seconds: number,
  run: () => Promise<T>,
): Promise<{ result: T; cpu: string }> {
  const pid = server.child.pid;
  const before =
    pid === undefined ? undefined : { main: cpuTicks(pid, pid), all: cpuTicks(pid), idle: idleTicks() };
  const result = await run();
  if (pid === undefined || !before?.main || !before.all || before.idle === undefined)
    return { result, cpu: 'CPU figures need Linux /proc' };
  const main = cpuTicks(pid, pid)!;
  const all = cpuTicks(pid)!;
  const idle = idleTicks()!;
  const perRequest = (ticks: number) => ((ticks * 10_000) / Math.max(1, result.requests)).toFixed(1); // 100 ticks/s
  const mainUser = main.user - before.main.user;
  const mainSystem = main.system - before.main.system;
  const others = all.user + all.system - (before.all.user + before.all.system) - mainUser - mainSystem;
  const idlePercent = ((idle - before.idle) / (availableParallelism() * seconds)).toFixed(0);
  return {
    result,
    cpu:
      `event loop ${perRequest(mainUser)} µs user + ${perRequest(mainSystem)} µs kernel a request, ` +
      `other threads ${perRequest(others)} µs a request, machine idle ${idlePercent}%`,
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main(): Promise<void> {
  const wrk = wrkPath();
  if (!wrk) {
    process.stderr.write(
      'bench:enforce needs wrk (an HTTP load generator), which is not installed.\n' +
        'Install it with:  sudo apt-get install -y wrk      (Debian/Ubuntu)\n' +
        '                  brew install wrk                 (macOS)\n',
    );
    process.exit(2);
  }
  const seconds = envInt('BENCH_DURATION_S', 10, 1);
  const connections = envInt('BENCH_CONNECTIONS', 50, 1);
  const threads = envInt('BENCH_THREADS', 2, 1);
  const warmup = envInt('BENCH_WARMUP_S', 2, 0);
  const rounds = envInt('BENCH_ROUNDS', 1, 1);
  if (connections < threads) {
    progress('BENCH_CONNECTIONS must be ≥ BENCH_THREADS');
    process.exit(1);
  }
  const profileDir = process.env.BENCH_CPU_PROF ? resolve(ROOT, '.cache/bench-profiles') : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  progress(
    `wrk ${wrk}: ${threads} threads, ${connections} connections, ${warmup} s warm-up + ${seconds} s measured, ${rounds} round(s)`,
  );
  const servers: Server[] = [];
  const workDir = mkdtempSync(join(tmpdir(), 'thoth-bench-wrk-'));
  const cleanup = async () => {
    await Promise.all(servers.map(stopChild));
    rmSync(workDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  let failed = false;
  try {
    const bare = await startChild('bare');
    servers.push(bare);
    const bareSigned = await startChild('bare-signed');
    servers.push(bareSigned);
    const bareAudited = await startChild('bare-audited');
    servers.push(bareAudited);
    const thoth = await startChild('thoth', profileDir);
    servers.push(thoth);
    progress(
      `bare fastify on 127.0.0.1:${bare.port}, bare fastify + Ed25519 on 127.0.0.1:${bareSigned.port}, ` +
        `bare fastify + Merkle receipt + decision event on 127.0.0.1:${bareAudited.port}, thoth on 127.0.0.1:${thoth.port}`,
    );

    const policyFile = join(workDir, 'policy.json');
    writeFileSync(policyFile, JSON.stringify(POLICY));
    const product = await startProduct(
      join(workDir, 'product-data'),
      policyFile,
      'product',
      profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    );
    servers.push({ ...product.target, child: product.child });
    const productServer = servers.at(-1)!;
    progress(
      `thoth as npm start runs it (embedded, every consumer, Merkle receipts) on 127.0.0.1:${product.target.port}`,
    );
    const opaFound = opaBinary(progress);
    let opa: Server | undefined;
    if ('missing' in opaFound) progress(opaFound.missing);
    else {
      const started = await startOpa(opaFound.path, workDir);
      opa = { name: 'opa', child: started.child, port: started.port, key: 'none', path: started.path };
      servers.push(opa);
      progress(`OPA (${OPA_MODULE}) REST server on 127.0.0.1:${opa.port}, the same decision in Rego`);
    }

    const sample = await checkAllSessions(thoth, threads);
    await checkAllSessions(productServer, threads);
    progress(
      `checked ${threads * SESSIONS_PER_THREAD} sessions on thoth and the product: 200 ALLOW (${sample.decision_reason_code}, risk ${sample.risk_score}, ` +
        `receipt ${(sample.receipt as { receipt_format?: string } | undefined)?.receipt_format ?? 'per-decision'}); response ${JSON.stringify(sample).length} bytes`,
    );
    for (const server of [bare, bareSigned]) {
      const check = await fetch(`http://127.0.0.1:${server.port}/v1/enforce`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: bodyFor('check'),
      });
      if (check.status !== 200) throw new Error(`${server.name} server answered ${check.status}`);
      const answer = (await check.json()) as { receipt?: { signature?: string } };
      if ((server === bareSigned) !== (answer.receipt?.signature !== undefined))
        throw new Error(`${server.name} server: a receipt where none was expected, or none where one was`);
    }
    // Every answer the audited reference gives (checks, warm-ups, measured runs) must have its event published.
    let auditedAnswered = await checkAudited(bareAudited);
    await eventsAccounted(bareAudited, auditedAnswered);
    if (opa) {
      const check = await fetch(`http://127.0.0.1:${opa.port}${opa.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: { ...BODY_TEMPLATE, session_id: 'check' } }),
      });
      const answer = (await check.json()) as { result?: { decision?: string } };
      if (check.status !== 200 || answer.result?.decision !== 'ALLOW')
        throw new Error(`opa: expected 200 ALLOW, got ${check.status} ${JSON.stringify(answer)}`);
    }

    const scripts: Record<string, string> = {};
    const measured = [bare, bareSigned, bareAudited, thoth, productServer, ...(opa ? [opa] : [])];
    for (const server of measured) {
      scripts[server.name] = join(workDir, `${server.name}.lua`);
      const body = server === opa ? { input: BODY_TEMPLATE } : BODY_TEMPLATE;
      writeFileSync(
        scripts[server.name]!,
        luaScript(server.path ?? '/v1/enforce', server.key, body, SESSIONS_PER_THREAD),
      );
    }

    const results: Record<string, WrkResult[]> = Object.fromEntries(measured.map((m) => [m.name, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const server of measured) {
        const name = server.name;
        const url = `http://127.0.0.1:${server.port}${server.path ?? '/v1/enforce'}`;
        const common = { url, script: scripts[name]!, threads, connections };
        if (warmup > 0) {
          progress(`round ${round}: ${name} warm-up ${warmup} s`);
          const warm = await runWrk(wrk, { ...common, seconds: warmup });
          if (server === bareAudited) auditedAnswered += warm.requests;
        }
        progress(`round ${round}: ${name} measuring ${seconds} s`);
        if (server.child.connected) server.child.send('reset');
        const { result, cpu } = await measureCpu(server, seconds, () => runWrk(wrk, { ...common, seconds }));
        results[name]!.push(result);
        if (server === bareAudited) auditedAnswered += result.requests;
        const serverStats = await stats(server);
        progress(
          `round ${round}: ${name}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(3)} ms, ` +
            `p75 ${result.p75Ms.toFixed(3)} ms, p90 ${result.p90Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms, ` +
            `${result.requests} requests, non-2xx ${result.non2xx}, socket errors: ${result.socketErrors}; ` +
            (serverStats.loop_delay_p99_ms === undefined
              ? ''
              : `server event-loop delay p99 ${serverStats.loop_delay_p99_ms} ms, max ${serverStats.loop_delay_max_ms} ms; `) +
            cpu,
        );
        if (result.non2xx > 0) {
          progress(`FAIL: ${name} answered ${result.non2xx} non-2xx responses`);
          failed = true;
        }
      }
    }

    // The measured path stayed the common path: every session still answers ALLOW.
    await checkAllSessions(thoth, threads);
    await checkAllSessions(productServer, threads);
    const thothStats = await stats(thoth);
    progress(
      `after the runs every session still answers 200 ALLOW; thoth server: ${JSON.stringify(thothStats)}`,
    );
    await eventsAccounted(bareAudited, auditedAnswered);

    const med = (name: string, pick: (r: WrkResult) => number) => median(results[name]!.map(pick));
    const rps = med('thoth', (r) => r.rps);
    const bareRps = med('bare', (r) => r.rps);
    const p50 = med('thoth', (r) => r.p50Ms);
    const p99 = med('thoth', (r) => r.p99Ms);
    const ratio = rps / bareRps;
    const bareP99 = med('bare', (r) => r.p99Ms);
    const signedBareRps = med('bare-signed', (r) => r.rps);
    const auditedBareRps = med('bare-audited', (r) => r.rps);
    const productRps = med('product', (r) => r.rps);
    const productP99 = med('product', (r) => r.p99Ms);
    const opaRps = opa ? med('opa', (r) => r.rps) : undefined;
    const opaP99 = opa ? med('opa', (r) => r.p99Ms) : undefined;
    const targets: Record<string, boolean> = {
      ratio: ratio >= 0.75,
      p99_to_bare: p99 <= 1.5 * bareP99,
      ...(opaRps !== undefined && opaP99 !== undefined
        ? { product_to_opa: productRps >= opaRps && productP99 < opaP99 }
        : {}),
    };
    const met = Object.values(targets).every(Boolean);
    progress(
      `per round: ${measured
        .map(
          (m) =>
            `${m.name} ${results[m.name]!.map((r) => `${r.rps.toFixed(0)}/${r.p99Ms.toFixed(2)}ms`).join(' ')}`,
        )
        .join('; ')}`,
    );
    progress(
      `targets (ratio ≥ 0.75, p99 ≤ 1.5 × bare p99 ${bareP99.toFixed(3)} ms, the product ≥ OPA's rps with a lower p99): ` +
        `${targetsVerdict(targets)}`,
    );
    if (!met && process.env.BENCH_STRICT === '1') failed = true;
    process.stdout.write(
      `${JSON.stringify({
        rps: round(rps, 0),
        p50_ms: round(p50, 3),
        p99_ms: round(p99, 3),
        bare_rps: round(bareRps, 0),
        bare_p99_ms: round(bareP99, 3),
        ratio: round(ratio, 3),
        p99_to_bare: round(p99 / bareP99, 3),
        signed_bare_rps: round(signedBareRps, 0),
        signed_bare_ratio: round(signedBareRps / bareRps, 3),
        audited_bare_rps: round(auditedBareRps, 0),
        audited_bare_p99_ms: round(
          med('bare-audited', (r) => r.p99Ms),
          3,
        ),
        audited_bare_ratio: round(auditedBareRps / bareRps, 3),
        product_rps: round(productRps, 0),
        product_p50_ms: round(
          med('product', (r) => r.p50Ms),
          3,
        ),
        product_p99_ms: round(productP99, 3),
        opa_rps: opaRps === undefined ? null : round(opaRps, 0),
        opa_p99_ms: opaP99 === undefined ? null : round(opaP99, 3),
        ratio_to_opa: opaRps === undefined ? null : round(productRps / opaRps, 3),
        isolated_ratio_to_opa: opaRps === undefined ? null : round(rps / opaRps, 3),
        rounds,
        targets_met: met,
      })}\n`,
    );
  } catch (error) {
    progress(`FAIL: ${(error as Error).stack ?? error}`);
    failed = true;
  } finally {
    await cleanup();
    if (profileDir) progress(`CPU profile of the thoth server written to ${profileDir}`);
  }
  process.exit(failed ? 1 : 0);
}

const childMode = process.argv.find((arg) => arg.startsWith('--child='))?.slice('--child='.length);
if (childMode === 'thoth') await thothChild();
else if (childMode === 'bare') await bareChild(false);
else if (childMode === 'bare-signed') await bareChild(true);
else if (childMode === 'bare-audited') await bareAuditedChild();
else await main();
