import { buildCelActivation, type CelActivation } from './cel-activation.ts';
import { CallBudget } from './cel-condition.ts';
import { decisionStrength, effectDecision } from './decision-strength.ts';
import { appliesTo, type CompiledPolicy, type CompiledRule } from './policy.ts';
import type { SessionRisk, ToolCall } from './types.ts';

export interface RuleError {
  rule_id: string;
  error: string;
}

export interface RuleEvaluation {
  /** Every matching rule, in policy order. */
  matched: CompiledRule[];
  /** The matching rule with the strongest effect (BLOCK > DEFER > STEP_UP > MODIFY > FLAG), first on ties. */
  winner: CompiledRule | undefined;
  /** Sum of the matching rules' risk points. */
  risk: number;
  /**
   * Conditions that failed to evaluate for this call: counted as "not matched". That includes a condition that
   * exceeded its own cost limit (CEL_COST_LIMIT, cel-cost.ts): its evaluation stops there, so an input can make
   * a rule cost at most that much, never stall the decision. A condition stopped by the call's budget
   * (DECISION_COST_LIMIT, shared by all: see CallBudget) is listed here too, and counted as matched.
   */
  errors: RuleError[];
}

/** Runs every rule that applies to the tool. Never throws. */
export function evaluateRules(
  call: ToolCall,
  policy: CompiledPolicy,
  session: SessionRisk | undefined,
): RuleEvaluation {
  const evaluation: RuleEvaluation = { matched: [], winner: undefined, risk: 0, errors: [] };
  // Built on first need: a call no rule applies to pays nothing for it.
  let activation: CelActivation | undefined;
  // Shared by the conditions in policy order: however many rules there are, a call costs at most this much.
  const budget = new CallBudget();
  for (const rule of policy.rules)
    if (appliesTo(rule, call.toolName)) budget.reserve(rule.condition.estimatedCost);
  for (const rule of policy.rules) {
    if (!appliesTo(rule, call.toolName)) continue;
    activation ??= buildCelActivation(call, session);
    const result = rule.condition.evaluate(activation, budget);
    if (typeof result === 'object') {
      evaluation.errors.push({ rule_id: rule.id, error: result.error });
      if (result.overBudget) match(evaluation, overBudgetMatch(rule));
      continue;
    }
    if (result) match(evaluation, rule);
  }
  return evaluation;
}

function match(evaluation: RuleEvaluation, rule: CompiledRule): void {
  evaluation.matched.push(rule);
  evaluation.risk += rule.riskPoints;
  if (evaluation.winner === undefined || isStrongerEffect(rule, evaluation.winner)) evaluation.winner = rule;
}

/**
 * A rule whose condition the call's budget stopped counts as matched (CallBudget says why), and its answer says
 * so: the condition was not found true, the call could not be shown to pass it. Its reason code stays the rule's,
 * so what filters and alerts on it still see the call; `rule_errors` of the evidence lists the stop.
 */
function overBudgetMatch(rule: CompiledRule): CompiledRule {
  return {
    ...rule,
    reason: `${rule.reason} (counted as matched: the call's conditions ran out of their cost budget before this one was decided)`,
  };
}

function isStrongerEffect(rule: CompiledRule, than: CompiledRule): boolean {
  // FLAG and a non-matching effect both map to ALLOW; a FLAG rule never displaces an earlier FLAG winner.
  return decisionStrength(effectDecision(rule.effect)) > decisionStrength(effectDecision(than.effect));
}
