import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type Agent, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';

/**
 * `--help` on any benchmark: print the script's leading doc comment (its usage and what it measures) and exit 0,
 * before it starts anything. Every benchmark imports this module, so the check runs first for all of them.
 */
function exitWithUsageOnHelp(): void {
  if (!process.argv.includes('--help') && !process.argv.includes('-h')) return;
  const script = process.argv[1] ?? '';
  const doc = /\/\*\*([\s\S]*?)\*\//.exec(readFileSync(script, 'utf8'))?.[1] ?? '';
  const text = doc
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, ''))
    .join('\n')
    .trim();
  process.stdout.write(`${text || `usage: npx tsx --conditions=thoth-source ${script}`}\n`);
  process.exit(0);
}
exitWithUsageOnHelp();

/**
 * What every benchmark script shares: progress lines on stderr, env knobs, percentiles, ports, a PRNG, a
 * keep-alive HTTP call on loopback, stopping a child process.
 */

/** Progress goes to stderr, so stdout carries only the one JSON result line. */
export function benchReporter(tag: string): {
  progress: (line: string) => void;
  envInt: (name: string, fallback: number, min: number) => number;
} {
  const progress = (line: string) => process.stderr.write(`[${tag}] ${line}\n`);
  // Figures measured on an older Node than Thoth runs on describe something else (Node 20 was a fifth slower here).
  if (Number(process.versions.node.split('.')[0]) < 22)
    progress(
      `warning: Node.js ${process.versions.node} runs this benchmark, older than Thoth's requirement (22 or 24; ` +
        'CI and the Docker image run 24): its figures do not describe Thoth as it ships. `.ci/run` installs Node 24 ' +
        'into .cache/node24: PATH="$PWD/.cache/node24/bin:$PATH" npm run …',
    );
  const envInt = (name: string, fallback: number, min: number): number => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      progress(`${name} must be an integer ≥ ${min} (got ${JSON.stringify(raw)})`);
      process.exit(2);
    }
    return value;
  };
  return { progress, envInt };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Nearest rank: the smallest value with at least p% of the samples at or below it. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Deterministic PRNG (mulberry32): a seed gives the same run every time. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One HTTP request to 127.0.0.1 on `agent` (keep-alive), the whole body read; 60 s at most. */
export function http(
  agent: Agent,
  port: number,
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<HttpAnswer> {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** SIGTERM, then SIGKILL if the child has not exited within 40 s (`onKill` hears about it). */
export async function stopChild(child: ChildProcess, onKill?: () => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  if (await Promise.race([exited.then(() => false), sleep(40_000).then(() => true)])) {
    onKill?.();
    child.kill('SIGKILL');
    await exited;
  }
}

/** "met", or "MISSED: " and the names of the targets that were not (the benchmarks' verdict line). */
export function targetsVerdict(targets: Record<string, boolean>): string {
  const missed = Object.entries(targets)
    .filter(([, ok]) => !ok)
    .map(([name]) => name);
  return missed.length === 0 ? 'met' : `MISSED: ${missed.join(', ')}`;
}

/** Waits until `url` answers 200, failing when `child` exits first or `timeoutMs` passes. */
export async function waitForHealthy(
  url: string,
  child: { exitCode: number | null },
  name: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before it was ready`);
    if (Date.now() > deadline) throw new Error(`${name} did not answer ${url} within ${timeoutMs / 1_000} s`);
    const healthy = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (healthy) return;
    await sleep(100);
  }
}
