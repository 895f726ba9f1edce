/** The decisions that stop a tool call (a STEP_UP only stops it once it is denied or times out). */
export type BlockingDecision = 'BLOCK' | 'DEFER' | 'STEP_UP';

export interface PolicyViolationDetails {
  reason: string;
  toolName: string;
  decision: BlockingDecision;
  /** Stable machine code: the server's `decision_reason_code`, or an SDK code such as `enforcer_unavailable`. */
  decisionReasonCode: string;
  /** The server's violation id; absent when the SDK blocked on its own (e.g. enforcer unreachable, fail-closed). */
  violationId?: string | undefined;
  /** DEFER: seconds after which the call may be retried. */
  retryAfterSeconds?: number | undefined;
}

/** Thrown instead of running a governed tool whose call Thoth did not allow. */
export class ThothPolicyViolation extends Error {
  override readonly name = 'ThothPolicyViolation';
  readonly reason: string;
  readonly toolName: string;
  readonly decision: BlockingDecision;
  readonly decisionReasonCode: string;
  readonly violationId: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(details: PolicyViolationDetails) {
    super(`Thoth ${details.decision} on tool "${details.toolName}": ${details.reason}`);
    this.reason = details.reason;
    this.toolName = details.toolName;
    this.decision = details.decision;
    this.decisionReasonCode = details.decisionReasonCode;
    this.violationId = details.violationId;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}
