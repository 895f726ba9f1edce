import { describe, expect, it } from 'vitest';
import type { ClassifiedMessage } from './json-rpc.ts';
import { McpSessionGovernor } from './mcp-session-governor.ts';
import type { GovernanceOptions } from './proxy-options.ts';
import type { ApiOutcome } from './thoth-api-client.ts';
import type { WireEvent } from './tool-call-events.ts';
import { ToolCallGovernor } from './tool-call-governor.ts';

const options: GovernanceOptions = {
  agentId: 'agent',
  tenantId: 'acme-corp',
  approvedScope: ['echo', 'report'],
  enforcement: 'progressive',
  userId: 'system',
  environment: 'prod',
  failClosed: false,
  listFilter: 'hide',
  apiUrl: new URL('http://127.0.0.1:1'),
  apiKey: 'k',
  timeoutMs: 1_000,
  stepUpPollMs: 5,
  sessionId: undefined,
};

/** A session governor whose Thoth answers `enforce` with `answer` and hold polls with `hold`. */
function governed(answer: unknown, hold: () => unknown = () => ({ resolved: false })) {
  const events: WireEvent[] = [];
  const response = (body: unknown): Promise<ApiOutcome> =>
    Promise.resolve({ kind: 'response', status: 200, body });
  const governor = new ToolCallGovernor({
    options,
    api: { enforce: () => response(answer), pollHold: () => response(hold()) },
    warn: () => {},
  });
  const session = new McpSessionGovernor({
    options,
    governor,
    events: { enqueue: (e) => events.push(e) },
    sessionId: 's1',
  });
  return { session, events };
}

const call = (id: number, name: string, args: unknown = {}, meta?: unknown): ClassifiedMessage => ({
  kind: 'request',
  message: {
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
  },
});

async function outcomeOf(
  session: McpSessionGovernor,
  message: ClassifiedMessage,
  progress?: (n: unknown) => void,
) {
  const action = session.fromClient(message, progress);
  if (action.kind !== 'governed') throw new Error(`expected a governed call, got ${action.kind}`);
  return action.outcome;
}

describe('McpSessionGovernor', () => {
  it('answers DEFER with a tool error naming when to retry', async () => {
    const { session, events } = governed({
      decision: 'DEFER',
      defer_reason: 'off hours',
      violation_id: 'v9',
      defer_timeout_seconds: 45,
    });
    const outcome = await outcomeOf(session, call(1, 'report'));
    expect(outcome.kind).toBe('reply');
    const result = outcome.kind === 'reply' ? (outcome.message.result as Record<string, unknown>) : {};
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toContain('retry in 45 s');
    expect(result.structuredContent).toMatchObject({
      decision: 'DEFER',
      violation_id: 'v9',
      retry_after_seconds: 45,
    });
    expect(events.map((e) => e.event_type)).toEqual(['TOOL_CALL_PRE', 'TOOL_CALL_BLOCK']);
  });

  it('leaves structuredContent out for a tool that declares an outputSchema', async () => {
    const { session } = governed({ decision: 'BLOCK', reason: 'no' });
    session.fromClient({ kind: 'request', message: { jsonrpc: '2.0', id: 'l', method: 'tools/list' } });
    session.fromServer({
      kind: 'response',
      message: {
        jsonrpc: '2.0',
        id: 'l',
        result: { tools: [{ name: 'echo', outputSchema: { type: 'object' } }] },
      },
    });
    const outcome = await outcomeOf(session, call(2, 'echo'));
    const result = outcome.kind === 'reply' ? (outcome.message.result as Record<string, unknown>) : {};
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    expect(result._meta).toMatchObject({ 'io.thoth/decision': { decision: 'BLOCK' } });
  });

  it('forwards a MODIFY with the rewritten arguments, and blocks one it cannot apply', async () => {
    const modify = governed({
      decision: 'MODIFY',
      modified_tool_args: { args: [], kwargs: { message: 'safe' } },
    });
    expect(await outcomeOf(modify.session, call(3, 'echo', { message: 'secret' }))).toMatchObject({
      kind: 'forward',
      message: { id: 3, params: { name: 'echo', arguments: { message: 'safe' } } },
    });
    const broken = governed({ decision: 'MODIFY', modified_tool_args: ['positional'] });
    expect(await outcomeOf(broken.session, call(4, 'echo'))).toMatchObject({
      kind: 'reply',
      message: { result: { isError: true, structuredContent: { reason_code: 'modification_unappliable' } } },
    });
  });

  it('reports progress while a call is held, and drops it when the client cancels', async () => {
    const { session } = governed({ decision: 'STEP_UP', hold_token: 'h' });
    const progress: unknown[] = [];
    const pending = outcomeOf(session, call(5, 'echo', {}, { progressToken: 'p5' }), (note) =>
      progress.push(note),
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    session.fromClient({
      kind: 'notification',
      message: { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5 } },
    });
    expect(await pending).toEqual({ kind: 'drop' });
    expect(progress.length).toBeGreaterThan(1);
    expect(progress[0]).toMatchObject({
      method: 'notifications/progress',
      params: { progressToken: 'p5', progress: 0.5 },
    });
  });

  it('answers a tools/call without a usable name or arguments with Invalid params', () => {
    const { session } = governed({ decision: 'ALLOW' });
    expect(session.fromClient(call(6, 'echo', ['positional']))).toMatchObject({
      kind: 'reply',
      message: { id: 6, error: { code: -32602 } },
    });
  });

  it('reports the result of a forwarded call (duration, size, isError) as TOOL_CALL_POST', async () => {
    const { session, events } = governed({ decision: 'ALLOW' });
    expect((await outcomeOf(session, call(7, 'echo'))).kind).toBe('forward');
    session.fromServer({
      kind: 'response',
      message: { jsonrpc: '2.0', id: 7, result: { content: [], isError: true } },
    });
    const post = events.find((e) => e.event_type === 'TOOL_CALL_POST');
    expect(post?.metadata).toMatchObject({
      authorization_decision: 'ALLOW',
      is_error: true,
      result_size_bytes: '{"content":[],"isError":true}'.length,
    });
  });
});
