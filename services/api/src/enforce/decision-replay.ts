import type { Directive, EnforcementMode, SessionRisk, ToolCall } from '../decision/index.ts';

// Pure: the dry-run thread imports this module too (no store, no chDB).

/**
 * What a decision event records so that a policy dry run can decide the call again as the API did: the inputs
 * of `decideToolCall` the event's other fields do not carry. Without it a replay guesses (no approved scope,
 * fresh sessions, no directives) and every out-of-scope BLOCK replays as ALLOW.
 */
export interface DecisionReplay {
  approved_scope: string[];
  session_tool_calls: string[];
  mode: EnforcementMode;
  environment: string;
  /** The session's risk state before the call; null for the session's first call (or after a restart). */
  session_before: SessionRisk | null;
  /** The baselines' directives in force for the agent: the verdict of that time, replayed as it was. */
  directives: Directive[];
}

export function decisionReplayJson(
  call: ToolCall,
  sessionBefore: SessionRisk | undefined,
  directives: readonly Directive[],
): string {
  const replay: DecisionReplay = {
    approved_scope: call.approvedScope,
    session_tool_calls: call.sessionToolCalls,
    mode: call.mode,
    environment: call.environment,
    session_before: sessionBefore ?? null,
    directives: [...directives],
  };
  return JSON.stringify(replay);
}

/** The replay inputs of a recorded decision, or undefined when it has none (recorded before they existed). */
export function parseDecisionReplay(json: string | null | undefined): DecisionReplay | undefined {
  if (typeof json !== 'string') return undefined;
  try {
    const value = JSON.parse(json) as Partial<DecisionReplay> | null;
    if (value === null || typeof value !== 'object' || !Array.isArray(value.approved_scope)) return undefined;
    return {
      approved_scope: value.approved_scope,
      session_tool_calls: Array.isArray(value.session_tool_calls) ? value.session_tool_calls : [],
      mode: value.mode ?? 'progressive',
      environment: value.environment ?? 'prod',
      session_before: value.session_before ?? null,
      directives: Array.isArray(value.directives) ? value.directives : [],
    };
  } catch {
    return undefined;
  }
}
