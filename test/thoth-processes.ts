import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inject } from 'vitest';
import { freePort, waitFor } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '..');

/** One started process: its API URL (when it runs the API) and its metrics URL (every process has one). */
export interface ThothProcess {
  name: string;
  services: string;
  env: NodeJS.ProcessEnv;
  child: ChildProcess;
  /** `http://127.0.0.1:<PORT>` (only listened on when `services` includes the API). */
  url: string;
  /** `http://127.0.0.1:<THOTH_METRICS_PORT>`: `/metrics` and `/healthz` of any process. */
  metricsUrl: string;
}

/**
 * Real Thoth processes (`services/thoth/dist/main.js`, compiled as `npm start` runs it) in distributed mode on the test broker, as replicas
 * behind a load balancer would run: each with its own ports and data directory under one work directory.
 */
export class ThothProcesses {
  readonly work: string;
  private readonly running = new Map<string, ThothProcess>();
  private readonly exited: ChildProcess[] = [];

  constructor(
    label: string,
    private readonly common: { prefix: string; adminToken: string; env?: NodeJS.ProcessEnv },
  ) {
    this.work = mkdtempSync(join(tmpdir(), `thoth-${label}-`));
  }

  /**
   * Starts one process running `services` and resolves with its base URL once it is healthy: the API's
   * /healthz when it serves the API, else its metrics listener's. A name already used (a killed process)
   * restarts it on the same data directory and ports.
   */
  async start(name: string, services: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
    return (await this.startProcess(name, services, env)).url;
  }

  async startProcess(name: string, services: string, env: NodeJS.ProcessEnv = {}): Promise<ThothProcess> {
    const previous = this.running.get(name);
    if (previous && previous.child.exitCode === null && previous.child.signalCode === null)
      throw new Error(`${name} is already running`);
    const port = previous ? Number(new URL(previous.url).port) : await freePort();
    const metricsPort = previous ? Number(new URL(previous.metricsUrl).port) : await freePort();
    const child = spawn(process.execPath, ['services/thoth/dist/main.js'], {
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
        THOTH_METRICS_PORT: String(metricsPort),
        LOG_LEVEL: 'warn',
        ...this.common.env,
        ...env,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const started: ThothProcess = {
      name,
      services,
      env,
      child,
      url: `http://127.0.0.1:${port}`,
      metricsUrl: `http://127.0.0.1:${metricsPort}`,
    };
    if (previous) this.exited.push(previous.child);
    this.running.set(name, started);
    const health = services.split(',').includes('api') ? started.url : started.metricsUrl;
    await waitFor(
      `${name} /healthz`,
      async () => {
        if (child.exitCode !== null)
          throw new Error(`${name} exited with code ${child.exitCode} while starting`);
        return (await fetch(`${health}/healthz`).catch(() => null))?.status === 200;
      },
      60_000,
    );
    return started;
  }

  /** `kill -9` of a started process; resolves once it is gone. `start` with its name restarts it. */
  async kill(name: string): Promise<void> {
    const target = this.running.get(name);
    if (!target) throw new Error(`no process ${name}`);
    if (target.child.exitCode !== null || target.child.signalCode !== null) return;
    const gone = new Promise((r) => target.child.once('exit', r));
    target.child.kill('SIGKILL');
    await gone;
  }

  /** Restarts a killed process with the services and environment it had. */
  async restart(name: string): Promise<string> {
    const target = this.running.get(name);
    if (!target) throw new Error(`no process ${name}`);
    return this.start(name, target.services, target.env);
  }

  /** SIGTERM to every process, waits for them to exit, removes the work directory. */
  async stopAll(): Promise<void> {
    const children = [...[...this.running.values()].map((p) => p.child), ...this.exited];
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(
      children.map(
        (c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.on('exit', r))),
      ),
    );
    rmSync(this.work, { recursive: true, force: true });
  }
}
