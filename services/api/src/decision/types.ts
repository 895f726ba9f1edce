import type { ActionClassification } from './action-classification.ts';

export type Decision = 'ALLOW' | 'BLOCK' | 'STEP_UP' | 'MODIFY' | 'DEFER';
export type EnforcementMode = 'observe' | 'progressive' | 'step_up' | 'block';
/** What a policy rule does when it matches. FLAG only adds risk points (which may escalate the call). */
export type RuleEffect = 'FLAG' | 'STEP_UP' | 'BLOCK' | 'MODIFY' | 'DEFER';

/** A normalized enforce request (the HTTP layer maps the wire body into this). */
export interface ToolCall {
  tenantId: string;
  agentId: string;
  toolName: string;
  sessionId: string;
  userId: string;
  /** Prior executed tools, as the SDK reports them (may include the current one). */
  sessionToolCalls: string[];
  /** Already stripped of `tool_call:` prefixes (see `normalizeScope`). Empty = no scope restriction. */
  approvedScope: string[];
  mode: EnforcementMode;
  environment: string;
  /** Raw `tool_args` as received (a shape of docs/protocol.md §Tool argument shapes, or undefined). */
  toolArgs: unknown;
  purpose?: string;
  dataClassification?: string;
  taskContext?: Record<string, unknown>;
  /** Injected clock (epoch ms): the decision logic never reads a clock itself. */
  nowMs: number;
}

/** What the API remembers about a session between calls (in memory). */
export interface SessionRisk {
  /** Accumulated risk points (0-100) as of `updatedAtMs`; decays with the policy's half-life. */
  risk: number;
  /** Calls of this session answered BLOCK. */
  blocked: number;
  /** Calls of this session decided so far. */
  calls: number;
  updatedAtMs: number;
}

/** A behavioral verdict from the baselines consumer (compacted topic `thoth.directives`). */
export interface Directive {
  tenantId: string;
  agentId: string;
  /** Scope: unset = every session / every tool of the agent. The narrower, the more specific. */
  sessionId?: string;
  toolName?: string;
  level: 'warn' | 'step_up' | 'block';
  /** Risk points 0-100 this directive adds to every call it applies to. */
  score: number;
  reason: string;
  /** e.g. `behavioral_anomaly`, `rate_anomaly`. */
  reasonCode: string;
  findingIds: string[];
  contributions: { feature: string; points: number }[];
  /** e.g. `anomaly:rate_spike`. */
  signals: string[];
  expiresAtMs: number;
}

export interface DecisionOutcome {
  /** What the caller must do (always ALLOW in observe mode). */
  decision: Decision;
  /** The decision the mode's semantics produce; equals `decision` except in observe mode, where it is the
   * decision progressive mode would have made (what observe mode records). */
  wouldBe: Decision;
  reason: string;
  reasonCode: string;
  /** From tool-name heuristics. */
  actionClassification: ActionClassification;
  /** Integer 0..100: the session's accumulated risk after this call (never below this call's own risk). */
  riskScore: number;
  matchedRuleIds: string[];
  modelSignals: string[];
  scoreComponents: Record<string, number>;
  topContributors: { feature: string; contribution_points: number }[];
  /** e.g. { finding_ids, directive_levels, session_risk_before, session_risk_after, in_scope, thresholds }. */
  decisionEvidence: Record<string, unknown>;
  // The effect details below are set whenever `wouldBe` has that value, so observe-mode records show what
  // would have happened; the wire layer sends them only alongside the matching `decision`.
  /** Same shape as the received `tool_args`. */
  modifiedToolArgs?: unknown;
  modificationReason?: string;
  deferReason?: string;
  /** Integer seconds. */
  deferTimeoutSeconds?: number;
  /** Integer seconds, set when `wouldBe` is STEP_UP. */
  stepUpTimeoutSeconds?: number;
  /** Set with `stepUpTimeoutSeconds`: who may approve the hold (IdP groups; empty: any approver) and how many. */
  stepUpApprovers?: string[];
  stepUpApprovalsRequired?: number;
  /** Progressive "ALLOW with warning" (also set on a MODIFY that carries a warning). */
  warning?: string;
  /** The session state AFTER this call (the caller stores it). */
  session: SessionRisk;
}
