import { applyArgsTransform } from '@thoth/contracts';
import { classifyAction } from './action-classification.ts';
import { decisionStrength, effectDecision } from './decision-strength.ts';
import { clampScore, type DirectiveSummary, summarizeDirectives } from './directives.ts';
import { type CompiledPolicy, DEFAULT_DEFER_TIMEOUT_SECONDS, stepUpRules } from './policy.ts';
import { evaluateRules, type RuleEvaluation } from './rule-evaluation.ts';
import { isInScope } from './scope.ts';
import { decayedSessionRisk, MAX_SESSION_RISK } from './session-risk.ts';
import type {
  Decision,
  DecisionOutcome,
  Directive,
  EnforcementMode,
  SessionRisk,
  ToolCall,
} from './types.ts';

/** Risk points an out-of-scope call adds (enough to reach the warn threshold on its own). */
export const SCOPE_VIOLATION_POINTS = 40;
const TOP_CONTRIBUTORS_LIMIT = 5;
const SCOPE_NAMES_IN_REASON = 20;

/**
 * Where a candidate decision comes from; on equal strength the earlier source explains the decision.
 * `default` is the plain ALLOW when no source objects.
 */
type VerdictSource = 'scope' | 'rule' | 'directive' | 'escalation' | 'default';

interface Verdict {
  decision: Decision;
  reason: string;
  reasonCode: string;
  source: VerdictSource;
  /** An ALLOW that must carry a warning. */
  warns?: boolean;
}

/** The modes that decide; observe mode decides like progressive and only changes the answer. */
type DecidingMode = Exclude<EnforcementMode, 'observe'>;

interface RiskPicture {
  inScope: boolean;
  scopeRisk: number;
  rules: RuleEvaluation;
  directives: DirectiveSummary;
  /** Risk points this call adds. */
  callRisk: number;
  /** Stored session risk after decay, before this call. */
  carried: number;
  /** Session risk after this call (capped at MAX_SESSION_RISK). */
  accumulated: number;
}

/**
 * Decides one tool call. Pure: the clock is `call.nowMs`, the session state comes in and the next state goes
 * out in `outcome.session`; CEL conditions were compiled with the policy. Never throws for a compiled policy.
 *
 * Candidate decisions come from four sources and the strongest wins (BLOCK > DEFER > STEP_UP > MODIFY > ALLOW):
 * - scope: an out-of-scope tool → BLOCK (STEP_UP in step_up mode);
 * - rules: the strongest matching rule's effect (FLAG only adds risk);
 * - directives: the behavioral floor (block → BLOCK, STEP_UP in step_up mode; step_up → STEP_UP;
 *   warn → ALLOW with warning);
 * - escalation of a risky call (one that adds risk): progressive compares the session's accumulated risk
 *   with the thresholds (warn → ALLOW with warning, step_up → STEP_UP, block → BLOCK); step_up mode →
 *   STEP_UP; block mode → BLOCK.
 * Observe mode computes all of this as progressive mode would (`wouldBe`) and answers ALLOW.
 */
export function decideToolCall(
  call: ToolCall,
  policy: CompiledPolicy,
  session: SessionRisk | undefined,
  directives: Directive[],
): DecisionOutcome {
  const deciding: DecidingMode = call.mode === 'observe' ? 'progressive' : call.mode;
  const risk = assessRisk(call, policy, session, directives);
  const verdicts = candidateVerdicts(call, policy, risk, deciding);
  let final = strongest(verdicts) ?? allowVerdict(call, risk.rules);

  const details = effectDetails(call, final, risk.rules);
  if ('failure' in details) final = details.failure;
  const wouldBe = final.decision;
  const decision: Decision = call.mode === 'observe' ? 'ALLOW' : wouldBe;
  const warningVerdict = verdicts.find((verdict) => verdict.warns);

  const outcome: DecisionOutcome = {
    decision,
    wouldBe,
    reason:
      call.mode === 'observe' && wouldBe !== 'ALLOW'
        ? `observe mode, would ${wouldBe}: ${final.reason}`
        : final.reason,
    reasonCode: final.reasonCode,
    actionClassification: classifyAction(call.toolName),
    // The session's accumulated risk after this call, which already includes this call's own risk.
    riskScore: Math.min(100, Math.max(0, Math.round(Math.max(risk.callRisk, risk.accumulated)))),
    matchedRuleIds: risk.rules.matched.map((rule) => rule.id),
    modelSignals: [...new Set(risk.directives.active.flatMap((directive) => directive.signals))],
    scoreComponents: {
      scope: roundPoints(risk.scopeRisk),
      rules: roundPoints(risk.rules.risk),
      directives: roundPoints(risk.directives.risk),
      session_carry: roundPoints(risk.carried),
    },
    topContributors: topContributors(risk),
    decisionEvidence: decisionEvidence(call, policy, session, risk, final),
    session: {
      risk: risk.accumulated,
      blocked: (session?.blocked ?? 0) + (decision === 'BLOCK' ? 1 : 0),
      calls: (session?.calls ?? 0) + 1,
      updatedAtMs: call.nowMs,
    },
  };
  if ('modifiedToolArgs' in details) {
    outcome.modifiedToolArgs = details.modifiedToolArgs;
    outcome.modificationReason = details.modificationReason;
  }
  if (wouldBe === 'DEFER' && risk.rules.winner) {
    outcome.deferReason = risk.rules.winner.reason;
    outcome.deferTimeoutSeconds = Math.round(
      risk.rules.winner.deferTimeoutSeconds ?? DEFAULT_DEFER_TIMEOUT_SECONDS,
    );
  }
  if (wouldBe === 'STEP_UP') {
    const rules = stepUpRules(policy, risk.rules.winner);
    outcome.stepUpTimeoutSeconds = rules.timeoutSeconds;
    outcome.stepUpApprovers = rules.approvers;
    outcome.stepUpApprovalsRequired = rules.approvalsRequired;
  }
  if (warningVerdict && (wouldBe === 'ALLOW' || wouldBe === 'MODIFY'))
    outcome.warning = warningVerdict.reason;
  return outcome;
}

function assessRisk(
  call: ToolCall,
  policy: CompiledPolicy,
  session: SessionRisk | undefined,
  directiveList: Directive[],
): RiskPicture {
  const inScope = isInScope(call.toolName, call.approvedScope);
  const scopeRisk = inScope ? 0 : SCOPE_VIOLATION_POINTS;
  const rules = evaluateRules(call, policy, session);
  const directives = summarizeDirectives(call, directiveList);
  const callRisk = scopeRisk + rules.risk + directives.risk;
  const carried = decayedSessionRisk(session, call.nowMs, policy.halfLifeMs);
  const accumulated = Math.min(MAX_SESSION_RISK, carried + callRisk);
  return { inScope, scopeRisk, rules, directives, callRisk, carried, accumulated };
}

/** In tie-break order: scope, rules, directives, escalation. */
function candidateVerdicts(
  call: ToolCall,
  policy: CompiledPolicy,
  risk: RiskPicture,
  mode: DecidingMode,
): Verdict[] {
  const verdicts: Verdict[] = [];
  if (!risk.inScope) {
    verdicts.push({
      decision: mode === 'step_up' ? 'STEP_UP' : 'BLOCK',
      reason: `tool '${call.toolName}' is not in the approved scope [${describeScope(call.approvedScope)}]`,
      reasonCode: 'policy_scope_violation',
      source: 'scope',
    });
  }
  const rule = risk.rules.winner;
  if (rule && rule.effect !== 'FLAG') {
    verdicts.push({
      decision: effectDecision(rule.effect),
      reason: rule.reason,
      reasonCode: rule.reasonCode,
      source: 'rule',
    });
  }
  const floor = risk.directives.floor;
  if (floor) verdicts.push(directiveVerdict(floor, mode));
  const escalation = escalationVerdict(policy, risk, mode);
  if (escalation) verdicts.push(escalation);
  return verdicts;
}

function directiveVerdict(directive: Directive, mode: DecidingMode): Verdict {
  const base = { reason: directive.reason, reasonCode: directive.reasonCode, source: 'directive' } as const;
  switch (directive.level) {
    case 'block':
      // The mode table: in step_up mode anomalies go to a human instead of being blocked outright.
      return { ...base, decision: mode === 'step_up' ? 'STEP_UP' : 'BLOCK' };
    case 'step_up':
      return { ...base, decision: 'STEP_UP' };
    case 'warn':
      return { ...base, decision: 'ALLOW', warns: true };
  }
}

function escalationVerdict(
  policy: CompiledPolicy,
  risk: RiskPicture,
  mode: DecidingMode,
): Verdict | undefined {
  if (risk.callRisk <= 0) return undefined;
  const added = `this call +${Math.round(risk.callRisk)}`;
  const session = `session risk ${Math.round(risk.accumulated)}`;
  const { warn, stepUp, block } = policy.thresholds;
  const source = 'escalation';
  switch (mode) {
    case 'block':
      return {
        decision: 'BLOCK',
        reason: `enforcement mode 'block' blocks risky calls (${added}, ${session})`,
        reasonCode: dominantReasonCode(risk) ?? 'risk_threshold_block',
        source,
      };
    case 'step_up':
      return {
        decision: 'STEP_UP',
        reason: `enforcement mode 'step_up' needs human approval for risky calls (${added}, ${session})`,
        reasonCode: 'step_up_high_risk',
        source,
      };
    case 'progressive':
      if (risk.accumulated >= block)
        return {
          decision: 'BLOCK',
          reason: `${session} reached the block threshold ${block} (${added})`,
          reasonCode: dominantReasonCode(risk) ?? 'risk_threshold_block',
          source,
        };
      if (risk.accumulated >= stepUp)
        return {
          decision: 'STEP_UP',
          reason: `${session} reached the step-up threshold ${stepUp} (${added}): human approval required`,
          reasonCode: 'step_up_high_risk',
          source,
        };
      if (risk.accumulated >= warn)
        return {
          decision: 'ALLOW',
          reason: `${session} reached the warn threshold ${warn} (${added})`,
          reasonCode: 'risk_warning',
          source,
          warns: true,
        };
      return undefined;
  }
}

/** The reason code of the rule or directive that added the most risk to this call (first on ties). */
function dominantReasonCode(risk: RiskPicture): string | undefined {
  let best: { points: number; code: string } | undefined;
  const consider = (points: number, code: string) => {
    if (points > 0 && (best === undefined || points > best.points)) best = { points, code };
  };
  for (const rule of risk.rules.matched) consider(rule.riskPoints, rule.reasonCode);
  for (const directive of risk.directives.active) consider(clampScore(directive.score), directive.reasonCode);
  return best?.code;
}

function strongest(verdicts: readonly Verdict[]): Verdict | undefined {
  let winner: Verdict | undefined;
  for (const verdict of verdicts) {
    if (winner === undefined || decisionStrength(verdict.decision) > decisionStrength(winner.decision))
      winner = verdict;
  }
  return winner;
}

function allowVerdict(call: ToolCall, rules: RuleEvaluation): Verdict {
  const flagged = rules.matched.map((rule) => rule.id);
  return {
    decision: 'ALLOW',
    reason: `tool '${call.toolName}' allowed${flagged.length > 0 ? ` (flagged by ${flagged.join(', ')})` : ''}`,
    reasonCode: 'allowed',
    source: 'default',
  };
}

type EffectDetails =
  | Record<string, never>
  | { modifiedToolArgs: unknown; modificationReason: string }
  | { failure: Verdict };

/**
 * A winning MODIFY applies every matching MODIFY rule's transform, in policy order (two redaction rules
 * should both redact). If the arguments cannot be rewritten the call is blocked: running it unmodified
 * would skip a control the policy asked for.
 */
function effectDetails(call: ToolCall, final: Verdict, rules: RuleEvaluation): EffectDetails {
  if (final.decision !== 'MODIFY') return {};
  const modifying = rules.matched.filter((rule) => rule.effect === 'MODIFY' && rule.modify);
  try {
    let args = call.toolArgs;
    for (const rule of modifying) if (rule.modify) args = applyArgsTransform(args, rule.modify);
    return { modifiedToolArgs: args, modificationReason: modifying.map((rule) => rule.reason).join('; ') };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      failure: {
        decision: 'BLOCK',
        reason: `the arguments could not be modified as policy requires: ${message}`,
        reasonCode: 'modification_failed',
        source: 'rule',
      },
    };
  }
}

function topContributors(risk: RiskPicture): DecisionOutcome['topContributors'] {
  const points = new Map<string, number>();
  const add = (feature: string, value: number) => {
    if (value > 0) points.set(feature, (points.get(feature) ?? 0) + value);
  };
  add('scope_violation', risk.scopeRisk);
  for (const rule of risk.rules.matched) add(`rule:${rule.id}`, rule.riskPoints);
  for (const directive of risk.directives.active) {
    if (directive.contributions.length === 0)
      add(`directive:${directive.reasonCode}`, clampScore(directive.score));
    for (const contribution of directive.contributions) add(contribution.feature, contribution.points);
  }
  add('session_carry', risk.carried);
  return [...points]
    .sort(([aFeature, aPoints], [bFeature, bPoints]) => bPoints - aPoints || (aFeature < bFeature ? -1 : 1))
    .slice(0, TOP_CONTRIBUTORS_LIMIT)
    .map(([feature, value]) => ({ feature, contribution_points: roundPoints(value) }));
}

function decisionEvidence(
  call: ToolCall,
  policy: CompiledPolicy,
  session: SessionRisk | undefined,
  risk: RiskPicture,
  final: Verdict,
): Record<string, unknown> {
  return {
    mode: call.mode,
    decided_by: final.source,
    policy_version: policy.version,
    in_scope: risk.inScope,
    call_risk: roundPoints(risk.callRisk),
    session_risk_before: roundPoints(session?.risk ?? 0),
    session_risk_decayed: roundPoints(risk.carried),
    session_risk_after: roundPoints(risk.accumulated),
    thresholds: {
      warn: policy.thresholds.warn,
      step_up: policy.thresholds.stepUp,
      block: policy.thresholds.block,
    },
    finding_ids: [...new Set(risk.directives.active.flatMap((directive) => directive.findingIds))],
    directive_levels: risk.directives.active.map((directive) => directive.level),
    rule_errors: risk.rules.errors,
  };
}

function describeScope(scope: readonly string[]): string {
  const shown = scope.slice(0, SCOPE_NAMES_IN_REASON).join(', ');
  return scope.length > SCOPE_NAMES_IN_REASON
    ? `${shown}, … ${scope.length - SCOPE_NAMES_IN_REASON} more`
    : shown;
}

/** Two decimals: evidence and explanations stay readable and deterministic across platforms. */
function roundPoints(value: number): number {
  return Math.round(value * 100) / 100;
}
