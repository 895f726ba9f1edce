import { randomUUID } from 'node:crypto';
import type { GovernanceOptions } from './proxy-options.ts';

/**
 * The behavioral events of one proxied `tools/call` (TOOL_CALL_PRE, TOOL_CALL_POST, TOOL_CALL_BLOCK) in the
 * snake_case ingest dialect of POST /v1/events/batch. Pure apart from the event ids.
 */

export interface ToolCallContext {
  sessionId: string;
  toolName: string;
  arguments: Record<string, unknown>;
  /** Sent as `enforcement_trace_id`: ties PRE, the decision and POST of one call together. */
  traceId: string;
  sessionToolCalls: string[];
}

export type WireEvent = Record<string, unknown>;

export const PROXY_VERSION = '0.1.0';
/** The feed shows `content` to people; full arguments stay in metadata. */
const CONTENT_LIMIT = 2_000;

export function preEvent(options: GovernanceOptions, call: ToolCallContext, at: Date): WireEvent {
  const toolArgs = wireToolArgs(call.arguments);
  return baseEvent(
    options,
    call,
    'TOOL_CALL_PRE',
    at,
    truncate(`${call.toolName}(${safeJson(call.arguments)})`),
    {
      event_phase: 'pre',
      tool_call: { name: call.toolName, arguments: call.arguments },
      tool_args: toolArgs,
    },
  );
}

export interface CallOutcome {
  decision: string;
  failOpen: boolean;
  durationMs: number;
  /** The JSON-RPC result (a CallToolResult), or the JSON-RPC error when the server answered one. */
  result: unknown;
  error: unknown;
}

export function postEvent(
  options: GovernanceOptions,
  call: ToolCallContext,
  at: Date,
  outcome: CallOutcome,
): WireEvent {
  const serialized = safeJson(outcome.error ?? outcome.result);
  const isError =
    outcome.error !== undefined ||
    (typeof outcome.result === 'object' &&
      outcome.result !== null &&
      (outcome.result as { isError?: unknown }).isError === true);
  return baseEvent(
    options,
    call,
    'TOOL_CALL_POST',
    at,
    isError ? `${call.toolName} returned an error` : `${call.toolName} completed`,
    {
      event_phase: 'post',
      authorization_decision: outcome.decision,
      duration_ms: Math.round(outcome.durationMs * 1_000) / 1_000,
      ...(outcome.failOpen ? { fail_open: true } : {}),
      result_type: outcome.error !== undefined ? 'error' : 'object',
      result_size_bytes: Buffer.byteLength(serialized),
      is_error: isError,
      ...(outcome.error !== undefined ? { error: truncate(serialized) } : {}),
    },
  );
}

export interface BlockDetails {
  decision: string;
  reason: string;
  reasonCode: string;
  violationId: string | undefined;
}

export function blockEvent(
  options: GovernanceOptions,
  call: ToolCallContext,
  at: Date,
  block: BlockDetails,
): WireEvent {
  const event = baseEvent(
    options,
    call,
    'TOOL_CALL_BLOCK',
    at,
    truncate(`${call.toolName} blocked: ${block.reason}`),
    {
      event_phase: 'block',
      authorization_decision: block.decision,
      decision_reason_code: block.reasonCode,
      reason: block.reason,
    },
  );
  if (block.violationId) event.violation_id = block.violationId;
  return event;
}

/** MCP arguments are named, so they go to Thoth as keyword arguments (`args.<name>` in policies). */
export function wireToolArgs(args: Record<string, unknown>): {
  args: unknown[];
  kwargs: Record<string, unknown>;
} {
  return { args: [], kwargs: args };
}

function baseEvent(
  options: GovernanceOptions,
  call: ToolCallContext,
  eventType: string,
  at: Date,
  content: string,
  metadata: Record<string, unknown>,
): WireEvent {
  return {
    event_id: `${options.tenantId}:${randomUUID()}`,
    event_type: eventType,
    tenant_id: options.tenantId,
    agent_id: options.agentId,
    session_id: call.sessionId,
    user_id: options.userId,
    source_type: 'agent_tool_call',
    tool_name: call.toolName,
    content,
    occurred_at: at.toISOString(),
    approved_scope: options.approvedScope,
    enforcement_mode: options.enforcement,
    session_tool_calls: call.sessionToolCalls,
    metadata: {
      sdk_language: 'mcp-proxy',
      sdk_version: PROXY_VERSION,
      environment: options.environment,
      enforcement_trace_id: call.traceId,
      ...metadata,
    },
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return '"[unserializable]"';
  }
}

function truncate(text: string): string {
  return text.length <= CONTENT_LIMIT ? text : `${text.slice(0, CONTENT_LIMIT - 1)}…`;
}
