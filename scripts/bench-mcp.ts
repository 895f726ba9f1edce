/**
 * What the MCP proxy adds to each message, over loopback: the official MCP SDK client talks to
 * @modelcontextprotocol/server-everything (stdio) directly and through `thoth mcp proxy`, in alternating
 * blocks, same run; a Thoth API (in-memory bus, default policy) answers the proxy's enforce calls.
 *
 *   npm run bench:mcp            # BENCH_CALLS=600 (per kind and path), BENCH_BLOCK=100
 *
 * Measured per message, sequentially (one in flight, so this is latency, not throughput):
 * - `tools/call` (echo): proxied − direct = the enforce round trip + the proxy's own work; the enforce round
 *   trip alone is measured too (the proxy's own HTTP client, same key, same body), and the difference is
 *   what the proxy adds beyond it (target ≤ 1 ms p50);
 * - a non-tool message (`ping`): proxied − direct (target ≤ 0.2 ms p50).
 * Progress goes to stderr; stdout is one JSON line. BENCH_STRICT=1 exits 1 when a target is missed.
 */
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ThothApiClient } from '../services/mcp-proxy/src/thoth-api-client.ts';
import { wireToolArgs } from '../services/mcp-proxy/src/tool-call-events.ts';
import { benchReporter, percentile, round, stopChild } from './bench-support.ts';
import { startIsolatedApi } from './isolated-api.ts';

const SELF = import.meta.filename;
const ROOT = resolve(import.meta.dirname, '..');
const TENANT = 'acme-corp';

async function thothChild(): Promise<void> {
  const { port, key, stop: stopApi } = await startIsolatedApi({ prefix: 'bench-mcp' });
  process.send?.({ port, key });
  const stop = async () => {
    await stopApi();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
}

async function connect(command: string, args: string[], env: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'bench-mcp', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command, args, env, cwd: ROOT, stderr: 'ignore' }));
  return client;
}

async function timed(times: number[], action: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await action();
  times.push(performance.now() - started);
}

async function main(): Promise<void> {
  const { progress, envInt } = benchReporter('bench:mcp');
  const calls = envInt('BENCH_CALLS', 600, 10);
  const block = envInt('BENCH_BLOCK', 100, 1);
  const child = fork(SELF, ['--child=thoth'], {
    execArgv: ['--conditions=thoth-source', '--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const { port, key } = await new Promise<{ port: number; key: string }>((done) =>
    child.once('message', (m) => done(m as never)),
  );
  const thothUrl = `http://127.0.0.1:${port}`;
  progress(`thoth on ${thothUrl}`);

  const server = createRequire(import.meta.url).resolve(
    '@modelcontextprotocol/server-everything/dist/index.js',
  );
  const env = { ...(process.env as Record<string, string>), THOTH_API_KEY: key };
  const direct = await connect(process.execPath, [server, 'stdio'], env);
  const proxied = await connect(
    process.execPath,
    [
      join(ROOT, 'services/thoth/bin/thoth.mjs'),
      'mcp',
      'proxy',
      '--agent-id',
      'bench-mcp',
      '--tenant',
      TENANT,
      '--url',
      thothUrl,
      '--',
      process.execPath,
      server,
      'stdio',
    ],
    env,
  );
  const api = new ThothApiClient(new URL(thothUrl), key);
  const enforceBody = {
    agent_id: 'bench-mcp',
    tenant_id: TENANT,
    tool_name: 'echo',
    session_id: 'bench-mcp-enforce',
    user_id: 'system',
    session_tool_calls: ['echo'],
    approved_scope: [],
    enforcement_mode: 'progressive',
    environment: 'prod',
    tool_args: wireToolArgs({ message: 'hello' }),
  };

  const samples = {
    directCall: [] as number[],
    proxiedCall: [] as number[],
    directPing: [] as number[],
    proxiedPing: [] as number[],
    enforce: [] as number[],
  };
  const call = (client: Client) => client.callTool({ name: 'echo', arguments: { message: 'hello' } });
  // Warm-up: JIT, keep-alive connections, the proxy's first enforce.
  for (let i = 0; i < 50; i++) {
    await Promise.all([
      call(direct),
      call(proxied),
      direct.ping(),
      proxied.ping(),
      api.enforce(enforceBody, 5_000),
    ]);
  }
  for (let done = 0; done < calls; done += block) {
    const n = Math.min(block, calls - done);
    for (let i = 0; i < n; i++) await timed(samples.directCall, () => call(direct));
    for (let i = 0; i < n; i++) await timed(samples.proxiedCall, () => call(proxied));
    for (let i = 0; i < n; i++) await timed(samples.enforce, () => api.enforce(enforceBody, 5_000));
    for (let i = 0; i < n; i++) await timed(samples.directPing, () => direct.ping());
    for (let i = 0; i < n; i++) await timed(samples.proxiedPing, () => proxied.ping());
    progress(`${done + n}/${calls} of each`);
  }
  await direct.close();
  await proxied.close();
  api.close();
  await stopChild(child);

  const p = (values: number[], q: number) => percentile(values, q);
  const result = {
    calls,
    tools_call_direct_p50_ms: round(p(samples.directCall, 50), 3),
    tools_call_proxied_p50_ms: round(p(samples.proxiedCall, 50), 3),
    tools_call_added_p50_ms: round(p(samples.proxiedCall, 50) - p(samples.directCall, 50), 3),
    tools_call_added_p99_ms: round(p(samples.proxiedCall, 99) - p(samples.directCall, 99), 3),
    enforce_round_trip_p50_ms: round(p(samples.enforce, 50), 3),
    enforce_round_trip_p99_ms: round(p(samples.enforce, 99), 3),
    tools_call_added_beyond_enforce_p50_ms: round(
      p(samples.proxiedCall, 50) - p(samples.directCall, 50) - p(samples.enforce, 50),
      3,
    ),
    other_direct_p50_ms: round(p(samples.directPing, 50), 3),
    other_added_p50_ms: round(p(samples.proxiedPing, 50) - p(samples.directPing, 50), 3),
    other_added_p99_ms: round(p(samples.proxiedPing, 99) - p(samples.directPing, 99), 3),
  };
  const met = result.tools_call_added_beyond_enforce_p50_ms <= 1 && result.other_added_p50_ms <= 0.2;
  process.stdout.write(`${JSON.stringify({ ...result, targets_met: met })}\n`);
  // stopChild's SIGKILL timer would keep the process alive for its full 40 s.
  process.exit(process.env.BENCH_STRICT === '1' && !met ? 1 : 0);
}

const childMode = process.argv.find((arg) => arg.startsWith('--child='))?.slice('--child='.length);
if (childMode === 'thoth') await thothChild();
else await main();
