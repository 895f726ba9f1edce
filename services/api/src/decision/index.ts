export { type ArgsTransform, applyArgsTransform, argsView, REDACTED } from '@thoth/contracts';
export { type ActionClassification, classifyAction } from './action-classification.ts';
export { CEL_VARIABLES, type CelActivation } from './cel-activation.ts';
export { decideToolCall, SCOPE_VIOLATION_POINTS } from './decide.ts';
export {
  type CompiledPolicy,
  type CompiledRule,
  compilePolicy,
  DEFAULT_DEFER_TIMEOUT_SECONDS,
  DEFAULT_POLICY,
  DEFAULT_STEP_UP_TIMEOUT_SECONDS,
  type PolicyDocument,
  PolicyError,
  parsePolicyText,
  policyDocumentSchema,
} from './policy.ts';
export { isInScope, normalizeScope } from './scope.ts';
export { decayedSessionRisk, MAX_SESSION_RISK, sumSessionRisk } from './session-risk.ts';
export type {
  Decision,
  DecisionOutcome,
  Directive,
  EnforcementMode,
  RuleEffect,
  SessionRisk,
  ToolCall,
} from './types.ts';
