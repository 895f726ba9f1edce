import { randomUUID } from 'node:crypto';
import {
  type ClassifiedMessage,
  errorResponse,
  INTERNAL_ERROR,
  INVALID_PARAMS,
  idKey,
  isObject,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from './json-rpc.ts';
import type { GovernanceOptions } from './proxy-options.ts';
import { refusalResult } from './refusal-result.ts';
import { blockEvent, postEvent, preEvent, type ToolCallContext, type WireEvent } from './tool-call-events.ts';
import type { ToolCallGovernor } from './tool-call-governor.ts';
import { filterToolList, toolsWithOutputSchema } from './tool-list-filter.ts';

/** What to do with a message from the client. */
export type ClientAction =
  /** Pass the received bytes on to the server unchanged. */
  | { kind: 'forward' }
  | { kind: 'reply'; message: JsonRpcResponse }
  /** A `tools/call`: the outcome comes once Thoth decided (other messages do not wait for it). */
  | { kind: 'governed'; outcome: Promise<GovernedOutcome> };

export type GovernedOutcome =
  | { kind: 'forward'; message: JsonRpcRequest }
  | { kind: 'reply'; message: JsonRpcResponse }
  /** The client cancelled the call while it was decided: MCP says a cancelled request gets no answer. */
  | { kind: 'drop' };

/** What to do with a message from the server. */
export type ServerAction = { kind: 'forward' } | { kind: 'rewrite'; message: JsonRpcResponse };

export interface SessionGovernorDeps {
  options: GovernanceOptions;
  governor: ToolCallGovernor;
  events: { enqueue(event: WireEvent): void };
  sessionId: string;
}

/** Session history reported to Thoth, as the SDKs cap it. */
const SESSION_HISTORY_LIMIT = 128;
/** Requests the server never answered must not grow memory without end. */
const MAX_TRACKED_REQUESTS = 10_000;

interface ForwardedCall {
  context: ToolCallContext;
  decision: string;
  failOpen: boolean;
  startedAt: number;
}

/**
 * The proxy's decisions for one MCP session, independent of the transport (stdio or Streamable HTTP):
 * every message passes unchanged except `tools/call` (decided by Thoth) and `tools/list` results (filtered
 * to the approved scope). Tracks the session's requests to recognize their responses.
 */
export class McpSessionGovernor {
  private readonly executed: string[] = [];
  private readonly pendingLists = new Set<string>();
  private readonly forwardedCalls = new Map<string, ForwardedCall>();
  private readonly decidingCalls = new Map<string, { cancelled: boolean }>();
  private readonly outputSchemaTools = new Set<string>();

  constructor(private readonly deps: SessionGovernorDeps) {}

  get sessionId(): string {
    return this.deps.sessionId;
  }

  /** The transport closed: calls still being decided (e.g. held for approval) stop waiting. */
  close(): void {
    for (const deciding of this.decidingCalls.values()) deciding.cancelled = true;
  }

  fromClient(
    item: ClassifiedMessage,
    sendProgress?: (notification: JsonRpcNotification) => void,
  ): ClientAction {
    if (item.kind === 'request') {
      const { message } = item;
      if (message.method === 'tools/call') return this.governCall(message, sendProgress);
      if (message.method === 'tools/list') remember(this.pendingLists, idKey(message.id));
    } else if (item.kind === 'notification' && item.message.method === 'notifications/cancelled') {
      const params = item.message.params;
      if (
        isObject(params) &&
        (typeof params.requestId === 'string' || typeof params.requestId === 'number')
      ) {
        const deciding = this.decidingCalls.get(idKey(params.requestId));
        if (deciding) deciding.cancelled = true;
      }
    }
    return { kind: 'forward' };
  }

  fromServer(item: ClassifiedMessage): ServerAction {
    if (item.kind !== 'response') return { kind: 'forward' };
    const key = idKey(item.message.id);
    if (this.pendingLists.delete(key)) return this.onToolList(item.message);
    const call = this.forwardedCalls.get(key);
    if (call) {
      this.forwardedCalls.delete(key);
      this.deps.events.enqueue(
        postEvent(this.deps.options, call.context, new Date(), {
          decision: call.decision,
          failOpen: call.failOpen,
          durationMs: performance.now() - call.startedAt,
          result: item.message.result,
          error: item.message.error,
        }),
      );
    }
    return { kind: 'forward' };
  }

  private onToolList(response: JsonRpcResponse): ServerAction {
    for (const name of toolsWithOutputSchema(response.result)) this.outputSchemaTools.add(name);
    const filtered = filterToolList(
      response.result,
      this.deps.options.approvedScope,
      this.deps.options.listFilter,
    );
    return filtered ? { kind: 'rewrite', message: { ...response, result: filtered } } : { kind: 'forward' };
  }

  private governCall(
    request: JsonRpcRequest,
    sendProgress: ((notification: JsonRpcNotification) => void) | undefined,
  ): ClientAction {
    const params = request.params;
    if (
      !isObject(params) ||
      typeof params.name !== 'string' ||
      (params.arguments !== undefined && !isObject(params.arguments))
    )
      return {
        kind: 'reply',
        message: errorResponse(
          request.id,
          INVALID_PARAMS,
          'Invalid params: tools/call needs a string "name" and an object "arguments"',
        ),
      };
    const toolName = params.name;
    const args = (params.arguments ?? {}) as Record<string, unknown>;
    const context: ToolCallContext = {
      sessionId: this.deps.sessionId,
      toolName,
      arguments: args,
      traceId: randomUUID(),
      sessionToolCalls: [...this.executed, toolName].slice(-SESSION_HISTORY_LIMIT),
    };
    const { options, events } = this.deps;
    events.enqueue(preEvent(options, context, new Date()));
    const key = idKey(request.id);
    const deciding = { cancelled: false };
    remember(this.decidingCalls, key, deciding);
    const progressToken = isObject(params._meta) ? params._meta.progressToken : undefined;
    const onHoldPoll =
      sendProgress && (typeof progressToken === 'string' || typeof progressToken === 'number')
        ? (poll: number) =>
            sendProgress({
              jsonrpc: '2.0',
              method: 'notifications/progress',
              // Strictly increasing and below 1, so the server's own progress after the approval still increases.
              params: {
                progressToken,
                progress: poll / (poll + 1),
                message: `waiting for a person to approve "${toolName}" in Thoth`,
              },
            })
        : undefined;

    const outcome = this.deps.governor
      .decide(context, { onHoldPoll, cancelled: () => deciding.cancelled })
      .then((verdict): GovernedOutcome => {
        if (deciding.cancelled) return { kind: 'drop' };
        if (!verdict.run) {
          const { refusal } = verdict;
          if (!refusal) return { kind: 'drop' };
          events.enqueue(
            blockEvent(options, context, new Date(), {
              decision: refusal.decision,
              reason: refusal.reason,
              reasonCode: refusal.reasonCode,
              violationId: refusal.violationId,
            }),
          );
          const result = refusalResult(refusal, !this.outputSchemaTools.has(toolName));
          return { kind: 'reply', message: { jsonrpc: '2.0', id: request.id, result } };
        }
        this.executed.push(toolName);
        if (this.executed.length > SESSION_HISTORY_LIMIT) this.executed.shift();
        remember(this.forwardedCalls, key, {
          context,
          decision: verdict.decision,
          failOpen: verdict.failOpen,
          startedAt: performance.now(),
        });
        // Re-serialized from what Thoth judged, never the received bytes: the server must run exactly the
        // arguments that were decided (a parser that reads duplicate keys differently cannot slip past).
        return {
          kind: 'forward',
          message: { ...request, params: { ...params, arguments: verdict.arguments } },
        };
      })
      // A bug here must not take the session down: the client gets an error answer, the call does not run.
      .catch(
        (error: unknown): GovernedOutcome => ({
          kind: 'reply',
          message: errorResponse(
            request.id,
            INTERNAL_ERROR,
            `Thoth proxy error: ${(error as Error).message}`,
          ),
        }),
      )
      .finally(() => this.decidingCalls.delete(key));
    return { kind: 'governed', outcome };
  }
}

function remember<V>(tracked: Set<string> | Map<string, V>, key: string, value?: V): void {
  if (tracked instanceof Set) tracked.add(key);
  else tracked.set(key, value as V);
  if (tracked.size > MAX_TRACKED_REQUESTS) {
    const oldest = tracked.keys().next().value;
    if (oldest !== undefined) tracked.delete(oldest);
  }
}
