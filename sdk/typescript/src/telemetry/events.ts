import { randomUUID } from 'node:crypto';

/** One behavioral event in the TypeScript ingest dialect of POST /v1/events/batch (camelCase keys). */
export interface WireEvent {
  eventId: string;
  eventType: 'TOOL_CALL_PRE' | 'TOOL_CALL_POST' | 'TOOL_CALL_BLOCK';
  agentId: string;
  tenantId: string;
  sessionId: string;
  toolName: string;
  occurredAt: string;
  content: string;
  sourceType: 'agent_tool_call';
  userId: string;
  approvedScope: string[];
  enforcementMode: string;
  sessionToolCalls: string[];
  metadata: Record<string, unknown>;
  violationId?: string;
  purpose?: string;
  dataClassification?: string;
}

export interface CallContext {
  agentId: string;
  tenantId: string;
  sessionId: string;
  userId: string;
  approvedScope: string[];
  enforcementMode: string;
  environment: string;
  purpose: string | undefined;
  dataClassification: string | undefined;
  toolName: string;
  toolArgs: Record<string, unknown>;
  sessionToolCalls: string[];
  traceId: string;
}

export const SDK_VERSION = '0.1.0';

/** Content is a preview for people reading the feed; full arguments stay in metadata.tool_args. */
const CONTENT_LIMIT = 2_000;

export function toolCallPreEvent(call: CallContext, occurredAt: Date): WireEvent {
  const args = safeJson(call.toolArgs);
  return baseEvent(call, 'TOOL_CALL_PRE', occurredAt, truncate(`${call.toolName}(${args})`), {
    event_phase: 'pre',
    tool_call: { name: call.toolName, arguments: call.toolArgs },
    tool_args: call.toolArgs,
  });
}

export interface CallResult {
  decision: string;
  durationMs: number;
  /** The enforcer could not be asked and the call ran anyway (fail-open). */
  failOpen?: boolean;
  result?: unknown;
  error?: unknown;
}

export function toolCallPostEvent(call: CallContext, occurredAt: Date, outcome: CallResult): WireEvent {
  const failed = outcome.error !== undefined;
  const serialized = failed ? undefined : safeJson(outcome.result);
  return baseEvent(
    call,
    'TOOL_CALL_POST',
    occurredAt,
    failed ? `${call.toolName} failed: ${errorText(outcome.error)}` : `${call.toolName} completed`,
    {
      event_phase: 'post',
      authorization_decision: outcome.decision,
      duration_ms: outcome.durationMs,
      ...(outcome.failOpen ? { fail_open: true } : {}),
      result_type: failed ? 'error' : resultType(outcome.result),
      ...(serialized === undefined ? {} : { result_size_bytes: Buffer.byteLength(serialized) }),
      ...(failed ? { error: truncate(errorText(outcome.error)) } : {}),
    },
  );
}

export interface BlockDetails {
  decision: string;
  reason: string;
  decisionReasonCode: string;
  violationId: string | undefined;
}

export function toolCallBlockEvent(call: CallContext, occurredAt: Date, block: BlockDetails): WireEvent {
  const event = baseEvent(
    call,
    'TOOL_CALL_BLOCK',
    occurredAt,
    truncate(`${call.toolName} blocked: ${block.reason}`),
    {
      event_phase: 'block',
      authorization_decision: block.decision,
      decision_reason_code: block.decisionReasonCode,
      reason: block.reason,
    },
  );
  if (block.violationId) event.violationId = block.violationId;
  return event;
}

function baseEvent(
  call: CallContext,
  eventType: WireEvent['eventType'],
  occurredAt: Date,
  content: string,
  metadata: Record<string, unknown>,
): WireEvent {
  const event: WireEvent = {
    eventId: `${call.tenantId}:${randomUUID()}`,
    eventType,
    agentId: call.agentId,
    tenantId: call.tenantId,
    sessionId: call.sessionId,
    toolName: call.toolName,
    occurredAt: occurredAt.toISOString(),
    content,
    sourceType: 'agent_tool_call',
    userId: call.userId,
    approvedScope: call.approvedScope,
    enforcementMode: call.enforcementMode,
    sessionToolCalls: call.sessionToolCalls,
    metadata: {
      sdk_language: 'typescript',
      sdk_version: SDK_VERSION,
      environment: call.environment,
      enforcement_trace_id: call.traceId,
      ...metadata,
    },
  };
  if (call.purpose) event.purpose = call.purpose;
  if (call.dataClassification) event.dataClassification = call.dataClassification;
  return event;
}

function resultType(result: unknown): string {
  if (result === null) return 'null';
  if (Array.isArray(result)) return 'array';
  return typeof result;
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Tool values are arbitrary (cycles, BigInt, functions); telemetry must never throw because of them. */
function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value, (_key, member: unknown) =>
      typeof member === 'bigint' ? member.toString() : member,
    );
  } catch {
    return '"[unserializable]"';
  }
}

function truncate(text: string): string {
  return text.length <= CONTENT_LIMIT ? text : `${text.slice(0, CONTENT_LIMIT - 1)}…`;
}
