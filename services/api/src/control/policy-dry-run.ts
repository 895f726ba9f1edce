import type { DecisionEvent } from '@thoth/contracts';
import { compileCondition } from '../decision/cel-condition.ts';
import {
  type CompiledPolicy,
  type CompiledRule,
  type Decision,
  decideToolCall,
  type EnforcementMode,
  type SessionRisk,
} from '../decision/index.ts';
import { parseDecisionReplay } from '../enforce/decision-replay.ts';
import { SessionStore } from '../session-store.ts';

// Pure: this module and what it imports run on the dry-run thread (dry-run-thread.ts), where no store or chDB
// module may be loaded.

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
  /**
   * Conditions that failed to evaluate, per rule — cost limits included: counted as not matched, except those the
   * call's cost budget stopped, which count as matched too (CallBudget).
   */
  rule_errors: Record<string, number>;
  /** Up to `samples` calls the rule set decides other than ALLOW, or differently than recorded. */
  samples: DryRunSample[];
  /**
   * What the replay could not reproduce, said plainly: decisions recorded before events carried their replay
   * inputs (`without_replay_inputs`: no approved scope, mode or session state; decided as if unrestricted, so an
   * out-of-scope BLOCK may come out ALLOW), and how many of the `changed` ones those are. Tool arguments are the
   * stored ones, after redaction: a rule on a redacted value cannot match in a dry run.
   */
  not_replayable: { without_replay_inputs: number; changed_without_replay_inputs: number; note: string };
}

const MODES = new Set(['observe', 'progressive', 'step_up', 'block']);

/**
 * Replays recorded decisions (oldest first) through the pure decision logic with another policy, one event at
 * a time, so a caller can stop between events (the dry-run thread does, at its deadline). A decision event
 * records its replay inputs (`replay_json`: approved scope, session tool calls, mode, the session's risk before
 * the call, the directives in force), so the active policy over its own traffic decides every call as it was
 * decided. A session's risk starts from what was recorded before its first replayed call (the window may begin
 * mid-session) and is then carried from call to call, so another rule set's risk points accumulate as they
 * would have. Older events without those inputs are replayed as before (no scope, progressive unless recorded
 * otherwise, no directives) and counted in `not_replayable`. Tool arguments are the stored ones, after redaction.
 */
export class DryRunReplay {
  private readonly sessions = new Map<string, SessionRisk>();
  private readonly result: DryRunResult;

  constructor(
    private readonly policy: CompiledPolicy,
    private readonly maxSamples: number,
  ) {
    this.result = {
      policy_version: policy.version,
      evaluated: 0,
      decisions: { ALLOW: 0, BLOCK: 0, STEP_UP: 0, MODIFY: 0, DEFER: 0 },
      would_block: 0,
      would_step_up: 0,
      changed: 0,
      rule_matches: {},
      rule_errors: {},
      samples: [],
      not_replayable: {
        without_replay_inputs: 0,
        changed_without_replay_inputs: 0,
        note: 'tool arguments are replayed as stored, after redaction',
      },
    };
  }

  add(event: DecisionEvent): void {
    const result = this.result;
    const key = SessionStore.key(event.tenant_id, event.agent_id, event.session_id);
    const replay = parseDecisionReplay(event.replay_json);
    if (replay === undefined) result.not_replayable.without_replay_inputs++;
    // The first call of a session seen here starts from the risk recorded before it.
    const sessionBefore = this.sessions.has(key)
      ? this.sessions.get(key)
      : (replay?.session_before ?? undefined);
    const recordedMode = MODES.has(event.enforcement_mode) ? event.enforcement_mode : 'progressive';
    const outcome = decideToolCall(
      {
        tenantId: event.tenant_id,
        agentId: event.agent_id,
        toolName: event.tool_name,
        sessionId: event.session_id,
        userId: event.user_id,
        sessionToolCalls: replay?.session_tool_calls ?? [],
        approvedScope: replay?.approved_scope ?? [],
        mode: replay?.mode ?? (recordedMode as EnforcementMode),
        environment: replay?.environment ?? event.environment,
        toolArgs: parseArgs(event.tool_args_json),
        purpose: event.purpose ?? undefined,
        dataClassification: event.data_classification ?? undefined,
        nowMs: event.occurred_at,
      },
      this.policy,
      sessionBefore,
      replay?.directives ?? [],
    );
    this.sessions.set(key, outcome.session);
    const decision = outcome.wouldBe;
    result.evaluated++;
    result.decisions[decision]++;
    if (decision === 'BLOCK') result.would_block++;
    if (decision === 'STEP_UP') result.would_step_up++;
    const recordedDecision = event.would_be_decision || event.decision;
    if (decision !== recordedDecision) {
      result.changed++;
      if (replay === undefined) result.not_replayable.changed_without_replay_inputs++;
    }
    for (const id of outcome.matchedRuleIds) result.rule_matches[id] = (result.rule_matches[id] ?? 0) + 1;
    const errors = outcome.decisionEvidence.rule_errors;
    if (Array.isArray(errors))
      for (const e of errors as Array<{ rule_id?: unknown }>)
        if (typeof e.rule_id === 'string')
          result.rule_errors[e.rule_id] = (result.rule_errors[e.rule_id] ?? 0) + 1;
    if ((decision !== 'ALLOW' || decision !== recordedDecision) && result.samples.length < this.maxSamples)
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

  finish(): DryRunResult {
    return this.result;
  }
}

/** Replays `recorded` in one go (see DryRunReplay). Pure. */
export function dryRunPolicy(
  policy: CompiledPolicy,
  recorded: readonly DecisionEvent[],
  maxSamples: number,
): DryRunResult {
  const replay = new DryRunReplay(policy, maxSamples);
  for (const event of recorded) replay.add(event);
  return replay.finish();
}

function parseArgs(json: string | null): unknown {
  if (json === null) return undefined;
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

/**
 * A compiled policy as data, to hand to another thread (a compiled condition is a closure, which cannot be
 * copied there): everything the rules hold, with each condition as its CEL text.
 */
export interface PortablePolicy extends Omit<CompiledPolicy, 'rules'> {
  rules: Array<Omit<CompiledRule, 'condition'> & { condition: string }>;
}

export function portablePolicy(policy: CompiledPolicy): PortablePolicy {
  return { ...policy, rules: policy.rules.map((rule) => ({ ...rule, condition: rule.condition.source })) };
}

/**
 * Compiles a portable policy's conditions again. It was validated where it came from, and may be a version in
 * force from before the cost limit: the compile-time check is off, every evaluation is still metered.
 */
export function compilePortablePolicy(policy: PortablePolicy): CompiledPolicy {
  return {
    ...policy,
    rules: policy.rules.map((rule) => ({
      ...rule,
      condition: compileCondition(rule.condition, { checkCost: false }),
    })),
  };
}
