import type { Decision, RuleEffect } from './types.ts';

/** BLOCK > DEFER > STEP_UP > MODIFY > ALLOW: when several sources disagree, the strongest decision wins. */
const DECISION_STRENGTH: Record<Decision, number> = { ALLOW: 0, MODIFY: 1, STEP_UP: 2, DEFER: 3, BLOCK: 4 };

export function decisionStrength(decision: Decision): number {
  return DECISION_STRENGTH[decision];
}

/** The decision a rule effect asks for; FLAG asks for none (it only adds risk points). */
export function effectDecision(effect: RuleEffect): Decision {
  return effect === 'FLAG' ? 'ALLOW' : effect;
}
