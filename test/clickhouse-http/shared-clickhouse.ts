import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = resolve(import.meta.dirname, '../..');
const SERVER = 'test/clickhouse-http/server.ts';

export interface SharedClickHouse {
  /** Base URL of a ClickHouse HTTP interface, for `CLICKHOUSE_URL` or `Store.open({ clickhouseUrl })`. */
  url: string;
  /** The user to connect as: the one the started server accepts, or CLICKHOUSE_USER/CLICKHOUSE_PASSWORD. */
  user: string;
  password: string;
  /** The started server's process id (for its CPU, in benchmarks); undefined for a server named by CLICKHOUSE_URL. */
  pid?: number;
  /** Stops the server this call started and removes its data (nothing, for a server named by CLICKHOUSE_URL). */
  stop(): Promise<void>;
}

/**
 * One ClickHouse that several processes share, for tests. With `CLICKHOUSE_URL` set (a real server reachable),
 * that server; otherwise this folder's server — ClickHouse's HTTP interface in front of chDB — started as a
 * process of its own on a free port, with a temporary data directory. Give each test its own database
 * (`CLICKHOUSE_DATABASE`, `Store.open({ database })`): a real server outlives the test. `credentials` are the
 * one user the started server accepts; a real server's user comes from CLICKHOUSE_USER/CLICKHOUSE_PASSWORD.
 */
export async function startSharedClickHouse(
  credentials: { user: string; password: string } = { user: 'default', password: '' },
): Promise<SharedClickHouse> {
  const external = process.env.CLICKHOUSE_URL;
  if (external) {
    const user = process.env.CLICKHOUSE_USER || 'default';
    return { url: external, user, password: process.env.CLICKHOUSE_PASSWORD ?? '', stop: async () => {} };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'thoth-shared-clickhouse-'));
  const args = [
    '--path',
    dataDir,
    '--port',
    '0',
    '--user',
    credentials.user,
    '--password',
    credentials.password,
    // It stops by itself if this process dies before calling stop().
    '--parent-pid',
    String(process.pid),
    '--temporary',
  ];
  const child = spawn(process.execPath, ['--conditions=thoth-source', '--import', 'tsx', SERVER, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  try {
    const url = await firstLine(child, exited);
    const ping = await fetch(`${url}/ping`);
    if (!ping.ok) throw new Error(`the shared ClickHouse at ${url} answers /ping with ${ping.status}`);
    return {
      url,
      ...credentials,
      pid: child.pid,
      stop: async () => {
        if (child.exitCode === null) child.kill('SIGTERM');
        await exited;
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** The URL the server prints once it listens (within 60 s), or why it did not. */
function firstLine(child: ChildProcess, exited: Promise<number | null>): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  return new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the shared ClickHouse did not start within 60 s')),
      60_000,
    );
    lines.once('line', (line) => {
      clearTimeout(timer);
      // Keep reading: a full pipe would block the server.
      lines.on('line', () => {});
      if (/^http:\/\/\S+$/.test(line)) resolveUrl(line);
      else reject(new Error(`the shared ClickHouse printed "${line}" instead of its URL`));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the shared ClickHouse exited (code ${code}) before listening`));
    });
  });
}
