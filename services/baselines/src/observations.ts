import { argsView, isPlainObject } from '@thoth/contracts';
import type { DecodedRecord } from '@thoth/platform';

/** An argument leaf as the baselines see it: `path` is dotted (`payee.iban`), values are numbers or text. */
export interface ArgLeaf {
  path: string;
  value: number | string;
}

/** One tool call an agent made, whatever record told us about it. */
export interface CallObservation {
  eventId: string;
  tenantId: string;
  agentId: string;
  sessionId: string;
  toolName: string;
  atMs: number;
  /** Top-level argument names (the key set). */
  argKeys: string[];
  args: ArgLeaf[];
  /** The call was answered BLOCK by policy, scope or session risk — not by a baseline directive. */
  blockedByPolicy: boolean;
  /** A decision record (the agent enforces); false for an SDK's TOOL_CALL_PRE. */
  fromDecision: boolean;
}

const MAX_DEPTH = 3;
const MAX_LEAVES = 64;
const MAX_TEXT = 200;

/**
 * What a record of the events topic tells the baselines. Which records count as calls, so that no call is
 * counted twice (docs/baselines.md):
 * - every DecisionEvent is one call (the enforce API publishes one per call, at once, with the arguments);
 * - a TOOL_CALL_PRE BehavioralEvent is a call only for an agent never seen enforcing (SDKs that do not call the
 *   enforce API); an enforcing agent's PRE events describe calls its decisions already counted;
 * - everything else (POST events, holds, findings — ours come back on this topic) is not a call.
 */
export function callObservation(record: DecodedRecord, agentEnforces: boolean): CallObservation | undefined {
  if (record.schema === 'thoth.v1.DecisionEvent') {
    const d = record.value;
    const args = parseJson(d.tool_args_json);
    return {
      eventId: d.event_id,
      tenantId: d.tenant_id,
      agentId: d.agent_id,
      sessionId: d.session_id,
      toolName: d.tool_name,
      atMs: d.occurred_at,
      argKeys: Object.keys(argsView(args)),
      args: flattenArgs(args),
      blockedByPolicy: d.decision === 'BLOCK' && !decidedWithDirectives(d.decision_evidence_json),
      fromDecision: true,
    };
  }
  if (record.schema === 'thoth.v1.BehavioralEvent') {
    const e = record.value;
    if (e.event_type !== 'TOOL_CALL_PRE' || agentEnforces || !e.tool_name) return undefined;
    return {
      eventId: e.event_id,
      tenantId: e.tenant_id,
      agentId: e.agent_id,
      sessionId: e.session_id,
      toolName: e.tool_name,
      atMs: e.occurred_at,
      argKeys: [],
      args: [],
      blockedByPolicy: false,
      fromDecision: false,
    };
  }
  return undefined;
}

/**
 * A decision in which a baseline directive took part (it carries finding ids, or a directive decided it).
 * Such a BLOCK is our own escalation coming back: counting it as a blocked call would let escalation feed
 * itself.
 */
export function decidedWithDirectives(decisionEvidenceJson: string): boolean {
  const evidence = parseJson(decisionEvidenceJson);
  if (!isPlainObject(evidence)) return false;
  const ids = evidence.finding_ids;
  return evidence.decided_by === 'directive' || (Array.isArray(ids) && ids.length > 0);
}

/** The arguments' leaves in the flat view policies use (`argsView`), nested objects as dotted paths. */
export function flattenArgs(toolArgs: unknown): ArgLeaf[] {
  const leaves: ArgLeaf[] = [];
  const walk = (value: unknown, path: string, depth: number) => {
    if (leaves.length >= MAX_LEAVES) return;
    if (typeof value === 'number' && Number.isFinite(value)) leaves.push({ path, value });
    else if (typeof value === 'string') leaves.push({ path, value: value.slice(0, MAX_TEXT) });
    else if (typeof value === 'boolean') leaves.push({ path, value: String(value) });
    else if (isPlainObject(value) && depth < MAX_DEPTH)
      for (const [key, inner] of Object.entries(value)) walk(inner, `${path}.${key}`, depth + 1);
    // Arrays and deeper objects are left out: their key still counts in the key set.
  };
  for (const [key, value] of Object.entries(argsView(toolArgs))) walk(value, key, 1);
  return leaves;
}

function parseJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
