import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inject } from 'vitest';
import { freePort, waitFor } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '..');

/**
 * Real Thoth processes (`services/thoth/src/main.ts`) in distributed mode on the test broker, as replicas
 * behind a load balancer would run: each with its own port and data directory under one work directory.
 */
export class ThothProcesses {
  readonly work: string;
  private readonly children: ChildProcess[] = [];

  constructor(
    label: string,
    private readonly common: { prefix: string; adminToken: string; env?: NodeJS.ProcessEnv },
  ) {
    this.work = mkdtempSync(join(tmpdir(), `thoth-${label}-`));
  }

  /** Starts one process running `services` and resolves with its base URL once /healthz answers 200. */
  async start(name: string, services: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/thoth/src/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        THOTH_MODE: 'distributed',
        THOTH_SERVICES: services,
        KAFKA_BROKERS: inject('kafkaBrokers').join(','),
        THOTH_TOPIC_PREFIX: this.common.prefix,
        THOTH_TOPIC_PARTITIONS: '3',
        THOTH_ADMIN_TOKEN: this.common.adminToken,
        THOTH_DATA_DIR: join(this.work, name),
        KAFKA_CLIENT_ID: `thoth-${name}`,
        PORT: String(port),
        LOG_LEVEL: 'warn',
        ...this.common.env,
        ...env,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    this.children.push(child);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      `${name} /healthz`,
      async () => (await fetch(`${url}/healthz`).catch(() => null))?.status === 200,
      60_000,
    );
    return url;
  }

  /** SIGTERM to every process, waits for them to exit, removes the work directory. */
  async stopAll(): Promise<void> {
    for (const child of this.children) child.kill('SIGTERM');
    await Promise.all(
      this.children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.on('exit', r)))),
    );
    rmSync(this.work, { recursive: true, force: true });
  }
}
