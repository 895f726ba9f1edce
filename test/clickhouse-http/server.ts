/**
 * TEST INFRASTRUCTURE, never a production option: ClickHouse's HTTP interface in front of chDB, so several
 * Thoth processes (and the store's HTTP code path) can be tested against one shared store on a machine without
 * a ClickHouse server. See README.md next to this file.
 *
 *   node --conditions=thoth-source --import tsx test/clickhouse-http/server.ts --path DIR [--port N] [--host H] [--user U] [--password P]
 *                                                     [--parent-pid PID] [--temporary]
 *
 * Prints its base URL (`http://host:port`) on one line of stdout once it answers; stops on SIGTERM or SIGINT,
 * and, with --parent-pid, when that process is gone (a test runner killed before it could stop the server).
 * With --temporary it removes its data directory when it stops.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ChdbEngine } from './chdb-engine.ts';
import { clickHouseHttpHandler } from './http-interface.ts';

const { values } = parseArgs({
  options: {
    path: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    user: { type: 'string', default: 'default' },
    password: { type: 'string', default: '' },
    'parent-pid': { type: 'string' },
    temporary: { type: 'boolean', default: false },
  },
});
if (!values.path) {
  console.error('usage: server.ts --path DIR [--port N] [--host H] [--user U] [--password P]');
  process.exit(2);
}
const path = resolve(values.path);
mkdirSync(path, { recursive: true });
const engine = await ChdbEngine.open(path);
const server = createServer(
  // A query's bound parameters travel in its URL: accept what a ClickHouse server does (http_max_uri_size,
  // 1 MiB by default), not Node's 16 KB header limit.
  { keepAliveTimeout: 10_000, maxHeaderSize: 1024 * 1024 },
  clickHouseHttpHandler({ engine, user: values.user, password: values.password }),
);
await new Promise<void>((ready) => server.listen(Number(values.port), values.host, ready));
const address = server.address();
const port = typeof address === 'object' && address ? address.port : Number(values.port);
console.log(`http://${values.host}:${port}`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  await engine.close();
  if (values.temporary) rmSync(path, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
if (values['parent-pid']) {
  const parent = Number(values['parent-pid']);
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      void stop();
    }
  }, 1_000).unref();
}
