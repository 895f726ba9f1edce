import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, waitForHealthy } from './bench-support.ts';
import { TENANT } from './enforce-load.ts';

const ROOT = resolve(import.meta.dirname, '..');

/**
 * The Node.js flags `npm start` (and the Dockerfile) start Thoth with: a young generation capped at 16 MB a
 * semi-space. Uncapped, V8 grew the isolated API's young generation to about 48 MB under the enforce load, and
 * each scavenge then held the event loop about 3.5 ms instead of under 1. The enforce-path benchmarks (bench:enforce,
 * bench:embedded, bench:ingest) start every Node.js server they measure with them, so each runs as deployed.
 */
export const START_FLAGS: readonly string[] = ['--max-semi-space-size=16'];

/** A benchmark's view of a server under load: where it listens and the key wrk sends. */
export interface Target {
  name: string;
  port: number;
  key: string;
}

/**
 * Thoth started the way `npm start` starts it (`node --max-semi-space-size=16
 * services/thoth/dist/main.js`: embedded, every consumer in the process, receipts and decision events on), on a
 * fresh data directory with `policyFile` as THOTH_POLICY_FILE, and an API key of the load's tenant. The per-key
 * and per-tenant rate limits are raised (one key drives the whole load; at the defaults most of it would be
 * answered 429); everything else is the default. The benchmarks bench:embedded and bench:enforce share it.
 */
export async function startProduct(
  dataDir: string,
  policyFile: string,
  name = 'embedded',
  /** Extra Node.js flags, e.g. `--cpu-prof` (which NODE_OPTIONS does not accept). */
  nodeFlags: string[] = [],
): Promise<{ child: ChildProcess; target: Target }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeFlags, ...START_FLAGS, 'services/thoth/dist/main.js'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      THOTH_DATA_DIR: dataDir,
      THOTH_POLICY_FILE: policyFile,
      THOTH_RATE_LIMIT_PER_KEY: '1000000000',
      THOTH_RATE_LIMIT_PER_TENANT: '1000000000',
      LOG_LEVEL: 'warn',
      THOTH_ADMIN_TOKEN: '',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForHealthy(`http://127.0.0.1:${port}/healthz`, child, 'thoth', 60_000);
  const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const created = await fetch(`http://127.0.0.1:${port}/${TENANT}/thoth/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', permissions: ['execute', 'write', 'read'] }),
  });
  if (created.status !== 200 && created.status !== 201)
    throw new Error(`creating a key answered ${created.status}: ${await created.text()}`);
  const { api_key } = (await created.json()) as { api_key: string };
  return { child, target: { name, port, key: api_key } };
}
