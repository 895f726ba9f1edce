import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../scripts/bench-support.ts';
import { startHttpProxy } from '../services/mcp-proxy/src/http-proxy.ts';
import { waitFor } from './helpers.ts';
import {
  EVERYTHING_SERVER,
  governanceFor,
  proxyArgs,
  ROOT,
  type RunningThoth,
  startThoth,
} from './mcp-harness.ts';

/**
 * Malformed JSON-RPC in both directions (seeded, reproducible): the proxy answers what the client sent that is
 * not a message as JSON-RPC 2.0 prescribes (-32700 Parse error, -32600 Invalid Request, -32602 for a
 * tools/call without a usable name), drops what the server wrote that is not one (with a warning on stderr),
 * never writes anything but JSON-RPC messages to stdout, and keeps serving.
 */

let thoth: RunningThoth;

beforeAll(async () => {
  thoth = await startThoth({ version: 1, rules: [] });
});

afterAll(async () => {
  await thoth?.close();
});

interface RunningProxy {
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  send(text: string | Buffer): void;
  exited: Promise<number | null>;
}

function startProxy(server: string[]): RunningProxy {
  const child = spawn(
    process.execPath,
    [...proxyArgs({ url: thoth.url, key: thoth.api.key }, 'fuzz-agent'), '--', ...server],
    { cwd: ROOT, env: { ...process.env, THOTH_API_KEY: thoth.api.key }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, stderr: () => stderr, send: (text) => child.stdin?.write(text), exited };
}

/** A JSON-RPC 2.0 message as MCP frames it: one object per line (or a batch of them). */
function isJsonRpcMessage(line: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return false;
  }
  const one = (m: unknown) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
    const message = m as Record<string, unknown>;
    if (message.jsonrpc !== '2.0') return false;
    if (typeof message.method === 'string') return true;
    return 'id' in message && 'result' in message !== 'error' in message;
  };
  return Array.isArray(value) ? value.length > 0 && value.every(one) : one(value);
}

/** The error code of an answer (of a batch answer's first element). */
const errorCodeOf = (line: string) => {
  const answer = JSON.parse(line) as { error?: { code?: number } } | { error?: { code?: number } }[];
  return (Array.isArray(answer) ? answer[0] : answer)?.error?.code;
};
const idOf = (line: string) => (JSON.parse(line) as { id?: unknown }).id;

const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 'init',
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } },
});

/** Seeded malformed inputs (never containing a newline: one input, one line) and what each must produce. */
type Expectation = 'parse' | 'invalid' | 'params' | 'none' | 'any';

/** What the proxy must answer to a line that is not a message: blank → nothing, not JSON → -32700, else -32600. */
function expectationOf(text: string): Expectation {
  if (text.trim() === '') return 'none';
  try {
    JSON.parse(text);
    return 'invalid';
  } catch {
    return 'parse';
  }
}

function clientInputs(seed: number): { text: string | Buffer; expect: Expectation }[] {
  const random = prng(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)] as T;
  const bytes = (n: number) =>
    Buffer.from(Array.from({ length: n }, () => pick([...Array(256).keys()].filter((b) => b !== 10))));
  const valid = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ping' });
  const inputs: { text: string | Buffer; expect: Expectation }[] = [];
  for (let i = 0; i < 150; i++) {
    const kind = Math.floor(random() * 9);
    if (kind === 0) {
      const text = bytes(1 + Math.floor(random() * 200));
      inputs.push({ text, expect: expectationOf(text.toString('utf8')) });
    } else if (kind === 1)
      inputs.push({ text: valid.slice(0, 1 + Math.floor(random() * (valid.length - 2))), expect: 'parse' });
    else if (kind === 2)
      inputs.push({
        text: pick(['42', '"text"', 'null', 'true', '{}', '{"jsonrpc":"1.0","id":1,"method":"ping"}']),
        expect: 'invalid',
      });
    else if (kind === 3)
      inputs.push({
        text: JSON.stringify(
          pick([
            { jsonrpc: '2.0', id: 1 },
            { jsonrpc: '2.0', id: null, method: 'ping' },
            { jsonrpc: '2.0', id: { a: 1 }, method: 'ping' },
            { jsonrpc: '2.0', method: 5, id: 2 },
            { jsonrpc: '2.0', id: 3, result: 1, error: {} },
          ]),
        ),
        expect: 'invalid',
      });
    else if (kind === 4) inputs.push({ text: '[]', expect: 'invalid' });
    else if (kind === 5)
      inputs.push({
        text: JSON.stringify({
          jsonrpc: '2.0',
          id: `bad-call-${i}`,
          method: 'tools/call',
          params: pick([
            undefined,
            {},
            { name: 5 },
            { name: 'echo', arguments: [1] },
            { name: 'echo', arguments: 'x' },
            [],
          ]),
        }),
        expect: 'params',
      });
    else if (kind === 6) {
      const text = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
      inputs.push({ text, expect: expectationOf(text) });
    } else if (kind === 7)
      inputs.push({
        text: `{"jsonrpc":"2.0","id":"big-${i}","method":"ping","params":{"pad":"${'x'.repeat(500_000)}"}}`,
        expect: 'any',
      });
    else
      inputs.push({
        text: JSON.stringify([{ jsonrpc: '2.0', id: `batch-${i}`, method: 'ping' }, 17, { jsonrpc: '2.0' }]),
        expect: 'any',
      });
  }
  return inputs;
}

describe('malformed JSON-RPC through the proxy', () => {
  it('answers a fuzzing client as JSON-RPC prescribes, and keeps serving', async () => {
    const proxy = startProxy([process.execPath, EVERYTHING_SERVER, 'stdio']);
    proxy.send(`${INIT}\n`);
    await waitFor('initialize', () => proxy.lines.some((line) => line.includes('"init"')), 15_000);
    const inputs = clientInputs(2_026);
    for (const input of inputs) proxy.send(Buffer.concat([Buffer.from(input.text), Buffer.from('\n')]));
    proxy.send(`${JSON.stringify({ jsonrpc: '2.0', id: 'final', method: 'ping' })}\n`);
    await waitFor('the final ping', () => proxy.lines.some((line) => line.includes('"final"')), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 200));

    expect(proxy.child.exitCode).toBeNull();
    const bad = proxy.lines.filter((line) => !isJsonRpcMessage(line));
    expect(bad).toEqual([]);
    const expectedParse = inputs.filter((input) => input.expect === 'parse').length;
    expect(proxy.lines.filter((line) => errorCodeOf(line) === -32700).length).toBe(expectedParse);
    const invalid = inputs.filter((input) => input.expect === 'invalid').length;
    // Each batch input also holds two invalid elements.
    const batches = inputs.filter((input) => input.text.toString().startsWith('[{')).length;
    expect(proxy.lines.filter((line) => errorCodeOf(line) === -32600).length).toBe(invalid + 2 * batches);
    const badCalls = inputs.filter((input) => input.expect === 'params').length;
    const params = proxy.lines.filter((line) => errorCodeOf(line) === -32602);
    expect(params.length).toBe(badCalls);
    expect(params.every((line) => String(idOf(line)).startsWith('bad-call-'))).toBe(true);
    // The valid requests inside the noise were answered by the server.
    expect(proxy.lines.filter((line) => String(idOf(line)).startsWith('batch-')).length).toBe(batches);

    proxy.child.stdin?.end();
    expect(await proxy.exited).toBe(0);
  });

  it('drops what a noisy server writes that is not JSON-RPC, and passes its messages', async () => {
    // A server that logs to stdout (the classic stdio bug) and wraps each answer in malformed output.
    const noisy = `
      const random = (${prng.toString()})(7);
      const junk = () => [
        'Starting server...', '{"jsonrpc":"2.0"', '[]', '{"id":1}', '{"jsonrpc":"2.0","id":{"x":1},"result":1}',
        Buffer.from(Array.from({ length: 64 }, () => 11 + Math.floor(random() * 245))).toString('latin1'),
        '[{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"in a batch"}},5]',
      ];
      process.stdout.write('Starting server...\\n');
      let buffer = '';
      process.stdin.on('data', (chunk) => {
        buffer += chunk;
        let i;
        while ((i = buffer.indexOf('\\n')) !== -1) {
          const message = JSON.parse(buffer.slice(0, i));
          buffer = buffer.slice(i + 1);
          if (message.id === undefined) continue;
          process.stdout.write(junk().join('\\n') + '\\n');
          process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: {} }) + '\\n');
        }
      });
    `;
    const proxy = startProxy([process.execPath, '-e', noisy]);
    for (let i = 0; i < 50; i++) proxy.send(`${JSON.stringify({ jsonrpc: '2.0', id: i, method: 'ping' })}\n`);
    await waitFor(
      '50 answers',
      () => proxy.lines.filter((line) => idOf(line) !== undefined).length >= 50,
      15_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(proxy.lines.filter((line) => !isJsonRpcMessage(line))).toEqual([]);
    expect(proxy.lines.filter((line) => idOf(line) !== undefined).map(idOf)).toEqual([...Array(50).keys()]);
    // The batch's valid notification passed (one per answer), its invalid element did not.
    expect(proxy.lines.filter((line) => line.includes('in a batch')).length).toBe(50);
    expect(proxy.stderr()).toContain('dropped a non-JSON line from the server');
    expect(proxy.stderr()).toContain('dropped an invalid JSON-RPC message from the server');
    proxy.child.stdin?.end();
    expect(await proxy.exited).toBe(0);
  });

  it('over Streamable HTTP: answers malformed bodies with 400 and JSON-RPC errors, drops malformed upstream events', async () => {
    // An upstream that answers every request with an SSE stream mixing junk events and the real answer.
    const upstream = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        const message = JSON.parse(body) as { id?: unknown };
        if (message.id === undefined) return void res.writeHead(202).end();
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('id: 1\ndata:\n\n'); // a priming event: kept
        res.write('data: Starting server...\n\n');
        res.write('data: {"jsonrpc":"2.0"\n\n');
        res.write(': a comment\n\n');
        res.end(
          `id: 2\nevent: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: message.id, result: {} })}\n\n`,
        );
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const warnings: string[] = [];
    const proxy = await startHttpProxy(
      governanceFor(thoth, { agentId: 'fuzz-http', approvedScope: [] }),
      {
        listenHost: '127.0.0.1',
        listenPort: 0,
        upstream: new URL(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`),
        forwardAuth: false,
      },
      (message) => warnings.push(message),
    );
    const post = async (body: string | Buffer) => {
      const r = await fetch(proxy.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body,
      });
      return { status: r.status, text: await r.text() };
    };
    for (const input of clientInputs(7)) {
      const text = input.text.toString('utf8');
      if (input.expect === 'params' || text.startsWith('[{') || text.includes('"big-')) continue;
      const answer = await post(Buffer.from(input.text));
      if (input.expect === 'none' || input.expect === 'parse') {
        expect(answer.status).toBe(400);
        expect(errorCodeOf(answer.text)).toBe(-32700);
      } else if (input.expect === 'invalid') {
        // A single invalid message is a 400 (as MCP servers answer it); a batch of only invalid elements
        // (deep nesting) gets JSON-RPC's array of errors.
        expect(answer.status).toBe(answer.text.startsWith('[') ? 200 : 400);
        expect(errorCodeOf(answer.text)).toBe(-32600);
      }
    }
    const badCall = await post(
      JSON.stringify({ jsonrpc: '2.0', id: 'c', method: 'tools/call', params: { name: 1 } }),
    );
    expect(badCall.status).toBe(200);
    expect(errorCodeOf(badCall.text)).toBe(-32602);
    const ping = await post(JSON.stringify({ jsonrpc: '2.0', id: 'p', method: 'ping' }));
    expect(ping.text).toBe(
      `id: 1\ndata:\n\n: a comment\n\nid: 2\nevent: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 'p', result: {} })}\n\n`,
    );
    expect(warnings.filter((w) => w.includes('not JSON-RPC')).length).toBe(2);
    await proxy.close();
    upstream.close();
  });
});
