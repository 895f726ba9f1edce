import type { DecisionEvent } from '@thoth/common/records';
import {
  type CompiledPolicy,
  type Decision,
  decideToolCall,
  type EnforcementMode,
  type SessionRisk,
} from '../decision/index.ts';
import { SessionStore } from '../session-store.ts';

export interface DryRunSample {
  event_id: string;
  occurred_at: string;
  agent_id: string;
  session_id: string;
  tool_name: string;
  recorded_decision: string;
  dry_run_decision: Decision;
  matched_rule_ids: string[];
  reason: string;
}

export interface DryRunResult {
  policy_version: number;
  evaluated: number;
  /** What the rule set decides for the recorded calls, per decision. */
  decisions: Record<Decision, number>;
  would_block: number;
  would_step_up: number;
  /** Calls whose dry-run decision differs from the recorded one. */
  changed: number;
  /** How often each rule matched. */
  rule_matches: Record<string, number>;
  /** Conditions that failed to evaluate (counted as not matched), per rule. */
  rule_errors: Record<string, number>;
  /** Up to `samples` calls the rule set decides other than ALLOW, or differently than recorded. */
  samples: DryRunSample[];
}

const MODES = new Set(['observe', 'progressive', 'step_up', 'block']);

/**
 * Replays recorded decisions (oldest first) through the pure decision logic with another policy. Each session's
 * risk is carried from call to call as the live API would; directives are not replayed (they were the
 * baselines' verdict at that time) and the approved scope is not recorded, so the result measures the rule set
 * itself. Observe-mode calls count as what progressive mode would decide. Tool arguments are the stored ones,
 * i.e. after redaction. Pure.
 */
export function dryRunPolicy(
  policy: CompiledPolicy,
  recorded: readonly DecisionEvent[],
  maxSamples: number,
): DryRunResult {
  const result: DryRunResult = {
    policy_version: policy.version,
    evaluated: 0,
    decisions: { ALLOW: 0, BLOCK: 0, STEP_UP: 0, MODIFY: 0, DEFER: 0 },
    would_block: 0,
    would_step_up: 0,
    changed: 0,
    rule_matches: {},
    rule_errors: {},
    samples: [],
  };
  const sessions = new Map<string, SessionRisk>();
  for (const event of recorded) {
    const key = SessionStore.key(event.tenant_id, event.agent_id, event.session_id);
    const outcome = decideToolCall(
      {
        tenantId: event.tenant_id,
        agentId: event.agent_id,
        toolName: event.tool_name,
        sessionId: event.session_id,
        userId: event.user_id,
        sessionToolCalls: [],
        approvedScope: [],
        mode: (MODES.has(event.enforcement_mode) ? event.enforcement_mode : 'progressive') as EnforcementMode,
        environment: event.environment,
        toolArgs: parseArgs(event.tool_args_json),
        purpose: event.purpose ?? undefined,
        dataClassification: event.data_classification ?? undefined,
        nowMs: event.occurred_at,
      },
      policy,
      sessions.get(key),
      [],
    );
    sessions.set(key, outcome.session);
    const decision = outcome.wouldBe;
    result.evaluated++;
    result.decisions[decision]++;
    if (decision === 'BLOCK') result.would_block++;
    if (decision === 'STEP_UP') result.would_step_up++;
    const recordedDecision = event.would_be_decision || event.decision;
    if (decision !== recordedDecision) result.changed++;
    for (const id of outcome.matchedRuleIds) result.rule_matches[id] = (result.rule_matches[id] ?? 0) + 1;
    const errors = outcome.decisionEvidence.rule_errors;
    if (Array.isArray(errors))
      for (const e of errors as Array<{ rule_id?: unknown }>)
        if (typeof e.rule_id === 'string')
          result.rule_errors[e.rule_id] = (result.rule_errors[e.rule_id] ?? 0) + 1;
    if ((decision !== 'ALLOW' || decision !== recordedDecision) && result.samples.length < maxSamples)
      result.samples.push({
        event_id: event.event_id,
        occurred_at: new Date(event.occurred_at).toISOString(),
        agent_id: event.agent_id,
        session_id: event.session_id,
        tool_name: event.tool_name,
        recorded_decision: recordedDecision,
        dry_run_decision: decision,
        matched_rule_ids: outcome.matchedRuleIds,
        reason: outcome.reason,
      });
  }
  return result;
}

function parseArgs(json: string | null): unknown {
  if (json === null) return undefined;
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}
