import { createServer } from 'node:net';

/** What every benchmark script shares: progress lines on stderr, env knobs, percentiles, ports, a PRNG. */

/** Progress goes to stderr, so stdout carries only the one JSON result line. */
export function benchReporter(tag: string): {
  progress: (line: string) => void;
  envInt: (name: string, fallback: number, min: number) => number;
} {
  const progress = (line: string) => process.stderr.write(`[${tag}] ${line}\n`);
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
