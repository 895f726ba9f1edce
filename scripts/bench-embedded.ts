/**
 * The enforce path of the product as a user runs it: `npm start` (embedded: every consumer in the process,
 * default settings, one rule file), driven closed-loop at 1, 16 and 50 connections, against the isolated API of
 * bench:enforce (the API alone on an in-memory bus) at 50 connections in the same run.
 *
 *   npm run bench:embedded           # BENCH_DURATION_S=10 BENCH_WARMUP_S=2
 *
 * - thoth: `node --max-semi-space-size=16 services/thoth/dist/main.js` (the command of `npm start`)
 *   on a fresh data directory, with the rule file of bench:enforce (scripts/enforce-load.ts) as
 *   THOTH_POLICY_FILE. The per-key and per-tenant rate limits are raised (one key drives the whole load; at the
 *   defaults most of it would be answered 429); everything else is the default.
 * - isolated: bench:enforce's server (`bench-enforce.ts --child=thoth`).
 * The load generator is wrk (Debian package `wrk`). After the runs Thoth is stopped (SIGTERM drains it) and the
 * trail is read from its chDB directory: every decision answered must be there (at least as many DECISION rows
 * as wrk counted answers), and the time from a decision to its row (`written_at - occurred_at`) gives the
 * "accepted → in the trail" percentiles.
 *
 * Progress goes to stderr; stdout carries one JSON line:
 *   {"c1":{"rps","p50_ms","p99_ms"},"c16":{…},"c50":{…},"isolated_c50":{…},"ratio_to_isolated":…,
 *    "decisions_answered":…,"decisions_in_trail":…,"trail_lag_p50_ms":…,"trail_lag_p99_ms":…,"targets_met":…}
 * Targets (issue #18): p99 ≤ 3 ms at 1 connection, ≤ 10 ms at 16, ratio_to_isolated ≥ 0.8, every decision in the
 * trail with a lag p99 ≤ 2 s. Exit 2 when wrk is missing, 1 when a check fails (a non-2xx answer, a missing
 * decision), and with BENCH_STRICT=1 also when a target is missed.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Store } from '@thoth/platform';
import { benchReporter, round, stopChild, targetsVerdict } from './bench-support.ts';
import { BODY_TEMPLATE, POLICY, SESSIONS_PER_THREAD, TENANT } from './enforce-load.ts';
import { START_FLAGS, startProduct, type Target } from './product-server.ts';
import { luaScript, runWrk, type WrkResult, wrkPath } from './wrk.ts';

const ROOT = resolve(import.meta.dirname, '..');
const { progress, envInt } = benchReporter('bench:embedded');

function startIsolated(): Promise<{ child: ChildProcess; target: Target }> {
  const child = fork(join(ROOT, 'scripts/bench-enforce.ts'), ['--child=thoth'], {
    cwd: ROOT,
    execArgv: [...START_FLAGS, '--conditions=thoth-source', '--import', 'tsx'],
    env: { ...process.env, LOG_LEVEL: 'silent', NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error('the isolated API did not start within 60 s')), 60_000);
    child.once('exit', (code) =>
      reject(new Error(`the isolated API exited with ${code} before it was ready`)),
    );
    child.on('message', (message: { ready?: boolean; port?: number; key?: string }) => {
      if (!message.ready) return;
      clearTimeout(timer);
      resolvePromise({ child, target: { name: 'isolated', port: message.port!, key: message.key! } });
    });
  });
}

/** One ALLOW per session wrk will use (the run measures the common path); returns how many were answered. */
async function checkSessions(target: Target, threads: number): Promise<number> {
  let answered = 0;
  for (let t = 1; t <= threads; t++)
    for (let s = 1; s <= SESSIONS_PER_THREAD; s++) {
      const res = await fetch(`http://127.0.0.1:${target.port}/v1/enforce`, {
        method: 'POST',
        headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...BODY_TEMPLATE, session_id: `bench-${t}-${s}` }),
      });
      const answer = (await res.json()) as { decision?: string };
      if (res.status !== 200 || answer.decision !== 'ALLOW')
        throw new Error(`${target.name}: expected 200 ALLOW, got ${res.status} ${JSON.stringify(answer)}`);
      answered++;
    }
  return answered;
}

interface Level {
  rps: number;
  p50_ms: number;
  p99_ms: number;
}

const level = (r: WrkResult): Level => ({
  rps: round(r.rps, 0),
  p50_ms: round(r.p50Ms, 3),
  p99_ms: round(r.p99Ms, 3),
});

async function main(): Promise<void> {
  const wrk = wrkPath();
  if (!wrk) {
    progress('bench:embedded needs wrk: sudo apt-get install -y wrk');
    process.exit(2);
  }
  const seconds = envInt('BENCH_DURATION_S', 10, 1);
  const warmup = envInt('BENCH_WARMUP_S', 2, 0);
  const workDir = mkdtempSync(join(tmpdir(), 'thoth-bench-embedded-'));
  const dataDir = join(workDir, 'data');
  const policyFile = join(workDir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(POLICY));
  const children: ChildProcess[] = [];
  let failed = false;
  try {
    const embedded = await startProduct(dataDir, policyFile);
    children.push(embedded.child);
    const isolated = await startIsolated();
    children.push(isolated.child);
    progress(
      `thoth (npm start) on 127.0.0.1:${embedded.target.port}, isolated API on 127.0.0.1:${isolated.target.port}`,
    );
    let answered = await checkSessions(embedded.target, 2);
    await checkSessions(isolated.target, 2);

    const run = async (target: Target, connections: number): Promise<WrkResult> => {
      const threads = Math.min(2, connections);
      const script = join(workDir, `${target.name}.lua`);
      writeFileSync(script, luaScript('/v1/enforce', target.key, BODY_TEMPLATE, SESSIONS_PER_THREAD));
      const common = { url: `http://127.0.0.1:${target.port}/v1/enforce`, script, threads, connections };
      if (warmup > 0) {
        const w = await runWrk(wrk, { ...common, seconds: warmup });
        if (target.name === 'embedded') answered += w.requests;
      }
      const result = await runWrk(wrk, { ...common, seconds });
      if (target.name === 'embedded') answered += result.requests;
      progress(
        `${target.name} ${connections} connection(s): ${result.rps.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(3)} ms, ` +
          `p99 ${result.p99Ms.toFixed(3)} ms, ${result.requests} requests, non-2xx ${result.non2xx}, socket errors ${result.socketErrors}`,
      );
      if (result.non2xx > 0) {
        progress(`FAIL: ${target.name} answered ${result.non2xx} non-2xx responses`);
        failed = true;
      }
      return result;
    };
    const c1 = await run(embedded.target, 1);
    const c16 = await run(embedded.target, 16);
    const c50 = await run(embedded.target, 50);
    const isolatedC50 = await run(isolated.target, 50);

    // Stopped with SIGTERM, Thoth drains: what it answered is stored before it exits.
    await stopChild(isolated.child);
    await stopChild(embedded.child);
    const store = await Store.open({ database: 'thoth', dataDir });
    const [trail] = await store.select<{ rows: string; p50: number; p99: number }>(
      `SELECT count() AS rows,
              quantileExact(0.5)(toUnixTimestamp64Milli(written_at) - toUnixTimestamp64Milli(occurred_at)) AS p50,
              quantileExact(0.99)(toUnixTimestamp64Milli(written_at) - toUnixTimestamp64Milli(occurred_at)) AS p99
         FROM events FINAL WHERE tenant_id = {tenant:String} AND event_type = 'DECISION'`,
      { tenant: TENANT },
    );
    await store.close();
    const inTrail = Number(trail?.rows ?? 0);
    const lagP50 = Number(trail?.p50 ?? Number.NaN);
    const lagP99 = Number(trail?.p99 ?? Number.NaN);
    progress(
      `decisions answered ${answered}, in the trail ${inTrail}; decision → row p50 ${lagP50} ms, p99 ${lagP99} ms`,
    );
    if (inTrail < answered) {
      progress(`FAIL: ${answered - inTrail} answered decisions are not in the trail`);
      failed = true;
    }

    const ratio = c50.rps / isolatedC50.rps;
    const targets = {
      c1_p99: c1.p99Ms <= 3,
      c16_p99: c16.p99Ms <= 10,
      ratio: ratio >= 0.8,
      trail: inTrail >= answered && lagP99 <= 2_000,
    };
    const met = Object.values(targets).every(Boolean);
    progress(
      `targets (p99 ≤ 3 ms at 1, ≤ 10 ms at 16, ratio ≥ 0.8, every decision in the trail with p99 ≤ 2 s): ` +
        `${targetsVerdict(targets)}`,
    );
    if (!met && process.env.BENCH_STRICT === '1') failed = true;
    process.stdout.write(
      `${JSON.stringify({
        c1: level(c1),
        c16: level(c16),
        c50: level(c50),
        isolated_c50: level(isolatedC50),
        ratio_to_isolated: round(ratio, 3),
        decisions_answered: answered,
        decisions_in_trail: inTrail,
        trail_lag_p50_ms: lagP50,
        trail_lag_p99_ms: lagP99,
        targets_met: met,
      })}\n`,
    );
  } catch (error) {
    progress(`FAIL: ${(error as Error).stack ?? error}`);
    failed = true;
  } finally {
    await Promise.all(children.map((child) => stopChild(child)));
    rmSync(workDir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

await main();
