import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers.ts';
import {
  EVERYTHING_SERVER,
  proxyArgs,
  RecordingStdioTransport,
  ROOT,
  type RunningThoth,
  startThoth,
} from './mcp-harness.ts';

/**
 * Protocol fidelity: with the proxy between the official SDK client and server-everything (stdio), every
 * message that is not a `tools/*` request or its result crosses the proxy byte for byte, in order, in both
 * directions: initialization, pings, resources, prompts, completions, logging, the server's sampling,
 * elicitation and roots requests and the client's answers, progress, and cancellation.
 */

const TAP = join(ROOT, 'test/mcp-stdio-tap.mjs');
let thoth: RunningThoth;
let dir: string;

beforeAll(async () => {
  thoth = await startThoth({ version: 1, rules: [] });
  dir = mkdtempSync(join(tmpdir(), 'thoth-mcp-tap-'));
});

afterAll(async () => {
  await thoth?.close();
  rmSync(dir, { recursive: true, force: true });
});

const linesOf = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '');
const parse = (line: string) => JSON.parse(line) as { id?: unknown; method?: string };

describe('MCP protocol fidelity through the proxy', () => {
  it('passes every non-tools/* message of server-everything unchanged, both ways', async () => {
    const log = join(dir, 'tap');
    const transport = new RecordingStdioTransport(
      [
        ...proxyArgs({ url: thoth.url, key: thoth.api.key }, 'everything-fidelity'),
        '--',
        process.execPath,
        TAP,
        log,
        process.execPath,
        EVERYTHING_SERVER,
        'stdio',
      ],
      { ...(process.env as Record<string, string>), THOTH_API_KEY: thoth.api.key },
    );
    const client = new Client(
      { name: 'thoth-fidelity', version: '1.0.0' },
      { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
    );
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      model: 'test-model',
      role: 'assistant',
      content: { type: 'text', text: 'a sampled answer' },
    }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
    client.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: [{ uri: 'file:///tmp', name: 'tmp' }],
    }));
    const logs: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (note) => void logs.push(note));
    await client.connect(transport);

    await client.ping();
    const { resources } = await client.listResources();
    await client.listResourceTemplates();
    const uri = resources[0]?.uri ?? '';
    await client.readResource({ uri });
    await client.subscribeResource({ uri });
    await client.unsubscribeResource({ uri });
    await client.listPrompts();
    await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris', state: 'IDF' } });
    await client.complete({
      ref: { type: 'ref/prompt', name: 'completable-prompt' },
      argument: { name: 'department', value: 'E' },
    });
    await client.setLoggingLevel('debug');
    await client.sendRootsListChanged();
    await client.listTools();
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 5 } });
    await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
    await client.callTool({ name: 'get-roots-list', arguments: {} });
    const progress: number[] = [];
    await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
      undefined,
      {
        onprogress: (note) => progress.push(note.progress),
      },
    );
    // Cancellation: the client gives up on a running call; its notifications/cancelled must reach the server.
    const abort = new AbortController();
    const cancelled = client
      .callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.4, steps: 2 } },
        undefined,
        { signal: abort.signal },
      )
      .catch((error: Error) => error);
    setTimeout(() => abort.abort('changed my mind'), 100);
    expect(await cancelled).toBeInstanceOf(Error);
    await waitFor('a simulated log message', () => logs.length > 0, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the cancelled operation's late messages
    await client.close();
    // The SDK client may drop the last one when the result follows it closely; the bytes are compared below.
    expect(progress.slice(0, 2)).toEqual([1, 2]);

    // Requests of tools/* and their responses are the proxy's to rewrite; everything else must be identical.
    const toolRequests = new Set(
      transport.sent
        .map(parse)
        .filter((m) => m.method?.startsWith('tools/'))
        .map((m) => JSON.stringify(m.id)),
    );
    const listRequests = new Set(
      transport.sent
        .map(parse)
        .filter((m) => m.method === 'tools/list')
        .map((m) => JSON.stringify(m.id)),
    );
    const isToolsRequest = (line: string) => parse(line).method?.startsWith('tools/') === true;
    const isToolListResult = (line: string) => {
      const message = parse(line);
      return message.method === undefined && listRequests.has(JSON.stringify(message.id));
    };
    const toServer = linesOf(`${log}.to-server`);
    const fromServer = linesOf(`${log}.from-server`);
    expect(toServer.filter((line) => !isToolsRequest(line))).toEqual(
      transport.sent.filter((line) => !isToolsRequest(line)),
    );
    expect(transport.received.filter((line) => !isToolListResult(line))).toEqual(
      fromServer.filter((line) => !isToolListResult(line)),
    );
    expect(toolRequests.size).toBeGreaterThan(5);

    // Each kind of message was really exercised.
    const methods = (lines: string[]) =>
      new Set(
        lines
          .map(parse)
          .map((m) => m.method)
          .filter(Boolean),
      );
    const sentMethods = methods(toServer);
    const serverMethods = methods(fromServer);
    for (const method of [
      'initialize',
      'notifications/initialized',
      'ping',
      'resources/list',
      'resources/templates/list',
      'resources/read',
      'resources/subscribe',
      'resources/unsubscribe',
      'prompts/list',
      'prompts/get',
      'completion/complete',
      'logging/setLevel',
      'notifications/roots/list_changed',
      'notifications/cancelled',
    ])
      expect(sentMethods, method).toContain(method);
    for (const method of [
      'sampling/createMessage',
      'elicitation/create',
      'roots/list',
      'notifications/progress',
      'notifications/message',
    ])
      expect(serverMethods, method).toContain(method);
    expect(transport.stderr).not.toContain('dropped');
  });
});
