import { buildCelActivation, type CelActivation } from './cel-activation.ts';
import { decisionBudget } from './cel-condition.ts';
import { decisionStrength, effectDecision } from './decision-strength.ts';
import type { CompiledPolicy, CompiledRule } from './policy.ts';
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
   * exceeded its cost limit (CEL_COST_LIMIT, cel-cost.ts), or what the conditions before it left of the call's
   * (DECISION_COST_LIMIT): its evaluation stops there, so an input can make a rule cost at most that much, and
   * a policy of many rules no more than the call's limit, never stall the decision.
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
  const budget = decisionBudget();
  for (const rule of policy.rules) {
    if (rule.tools && !rule.tools.has(call.toolName)) continue;
    activation ??= buildCelActivation(call, session);
    const result = rule.condition.evaluate(activation, budget);
    if (typeof result === 'object') {
      evaluation.errors.push({ rule_id: rule.id, error: result.error });
      continue;
    }
    if (!result) continue;
    evaluation.matched.push(rule);
    evaluation.risk += rule.riskPoints;
    if (evaluation.winner === undefined || isStrongerEffect(rule, evaluation.winner))
      evaluation.winner = rule;
  }
  return evaluation;
}

function isStrongerEffect(rule: CompiledRule, than: CompiledRule): boolean {
  // FLAG and a non-matching effect both map to ALLOW; a FLAG rule never displaces an earlier FLAG winner.
  return decisionStrength(effectDecision(rule.effect)) > decisionStrength(effectDecision(than.effect));
}
