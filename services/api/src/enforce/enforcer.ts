import { createHash } from 'node:crypto';
import type { DecisionEvent, EnforceRequest, EnforceResponse } from '@thoth/contracts';
import {
  agentKey,
  canonicalJson,
  type Receipt,
  type SignedDecision,
  sha256Hex,
  ulid,
} from '@thoth/contracts';
import type { ReceiptMaker, Redactor } from '@thoth/platform';
import { decisionTally } from '@thoth/platform';
import type { BackgroundPublisher } from '../background-publisher.ts';
import { type DecisionOutcome, decideToolCall } from '../decision/index.ts';
import type { DirectiveIndex } from '../directive-index.ts';
import { redactedPreview } from '../holds/args-preview.ts';
import type { HoldRegistry } from '../holds/hold-registry.ts';
import type { PolicySet } from '../policy-source.ts';
import { type SessionRiskStore, SessionStore } from '../session-store.ts';
import { decisionReplayJson } from './decision-replay.ts';
import { toToolCall } from './enforce-request.ts';

export const DECISION_ENVELOPE_VERSION = '1';

/** Decisions that carry a violation id (docs/protocol.md §Enforce response: always on BLOCK and DEFER; on STEP_UP too). */
const VIOLATIONS = new Set(['BLOCK', 'DEFER', 'STEP_UP']);

export interface EnforcerDeps {
  policies: PolicySet;
  /** Applied to the arguments the decision event carries (the decision itself sees them unredacted). */
  redactor: Redactor;
  sessions: SessionRiskStore;
  directives: Pick<DirectiveIndex, 'forAgent'>;
  holds: Pick<HoldRegistry, 'create'>;
  receipts: Pick<ReceiptMaker, 'receipt'>;
  publisher: Pick<BackgroundPublisher, 'enqueueRecord'>;
  eventsTopic: string;
  now?: () => number;
  /** A decision event that could not be built (a bug: the answer was given, its event is lost). */
  onPublishError?: (error: Error) => void;
}

/**
 * The enforce hot path: everything from memory (policy, session risk, directives), a decision from the pure
 * logic, a hold when the answer is STEP_UP, a signed receipt, and the decision event queued for the bus —
 * never awaited. No network, no disk.
 */
export class Enforcer {
  private readonly unpublished: Array<() => void> = [];

  constructor(private readonly deps: EnforcerDeps) {}

  /**
   * Decides one call. `detail`: answer a plain ALLOW with its explanation too (`score_components`,
   * `top_contributors`, `decision_evidence`), which the SDKs do not read and the decision event keeps anyway.
   */
  async enforce(body: EnforceRequest, detail = false): Promise<EnforceResponse> {
    const started = process.hrtime.bigint();
    const now = this.deps.now?.() ?? Date.now();
    const call = toToolCall(body, now);
    const policy = this.deps.policies.forTenant(call.tenantId);
    const sessionKey = SessionStore.key(call.tenantId, call.agentId, call.sessionId);
    const sessionBefore = this.deps.sessions.get(sessionKey);
    const directives = this.deps.directives.forAgent(call.tenantId, call.agentId);
    const outcome = decideToolCall(call, policy, sessionBefore, directives);
    this.deps.sessions.set(sessionKey, outcome.session);

    const decisionId = ulid(now);
    const traceId = body.enforcement_trace_id || call.sessionId;
    const hold =
      outcome.decision === 'STEP_UP'
        ? this.deps.holds.create(
            {
              approval_id: `apr_${decisionId}`,
              tenant_id: call.tenantId,
              agent_id: call.agentId,
              session_id: call.sessionId,
              user_id: call.userId,
              tool_name: call.toolName,
              args_digest: argsDigest(call.toolArgs),
              // The approver's view, then the configured patterns: the hold is stored in the audit trail too.
              args_preview_json: this.deps.redactor.json(redactedPreview(call.toolArgs ?? null)) ?? 'null',
              reason: outcome.reason,
              reason_code: outcome.reasonCode,
              risk_score: outcome.riskScore,
              violation_id: decisionId,
              enforcement_trace_id: traceId,
              finding_ids: findingIds(outcome),
              approvers: outcome.stepUpApprovers ?? [],
              approvals_required: outcome.stepUpApprovalsRequired ?? 1,
              policy_version: policy.version,
            },
            outcome.stepUpTimeoutSeconds,
          )
        : undefined;

    const signed: SignedDecision = {
      decision: outcome.decision,
      decision_reason_code: outcome.reasonCode,
      decision_id: decisionId,
      enforcement_trace_id: traceId,
      tenant_id: call.tenantId,
      agent_id: call.agentId,
      session_id: call.sessionId,
      tool_name: call.toolName,
      risk_score: outcome.riskScore,
      issued_at: new Date(now).toISOString(),
      hold_token: hold?.token,
      modified_tool_args: outcome.decision === 'MODIFY' ? outcome.modifiedToolArgs : undefined,
      policy_version: policy.version,
    };
    // Evaluation time excludes the receipt, which is signed once per batch at the end of the turn (ReceiptMaker).
    const latencyUs = Number(process.hrtime.bigint() - started) / 1_000;
    decisionTally.record(outcome.decision, outcome.reasonCode, latencyUs / 1_000_000);
    const receipt = await this.deps.receipts.receipt(signed);

    const response = envelope(outcome, {
      decisionId,
      traceId,
      holdToken: hold?.token,
      receipt,
      latencyMs: Math.round(latencyUs) / 1_000,
      policyVersion: policy.version,
      detail,
    });
    this.unpublished.push(() =>
      this.publishDecision(body, outcome, {
        decisionId,
        traceId,
        holdToken: hold?.token,
        receipt,
        latencyUs,
        now,
        policyVersion: policy.version,
        replayJson: decisionReplayJson(call, sessionBefore, directives),
      }),
    );
    if (this.unpublished.length === 1) setImmediate(() => this.publishPending());
    return response;
  }

  /**
   * Builds and queues the decision events of the answers given so far. They are built after the answers are
   * written (the next check phase of the event loop), so no answer of a batch waits for the events of the
   * others; the publisher's queue keeps their order. `stop` calls it before the publisher drains.
   */
  publishPending(): void {
    this.deps.sessions.publishPending();
    const due = this.unpublished.splice(0);
    for (const publish of due) {
      try {
        publish();
      } catch (error) {
        this.deps.onPublishError?.(error as Error);
      }
    }
  }

  private publishDecision(
    body: EnforceRequest,
    outcome: DecisionOutcome,
    ctx: {
      decisionId: string;
      traceId: string;
      holdToken: string | undefined;
      receipt: Receipt;
      latencyUs: number;
      now: number;
      policyVersion: number;
      replayJson: string;
    },
  ): void {
    const event: DecisionEvent = {
      event_id: `${body.tenant_id}:${ctx.decisionId}`,
      tenant_id: body.tenant_id,
      agent_id: body.agent_id,
      session_id: body.session_id,
      user_id: body.user_id || 'system',
      tool_name: body.tool_name,
      decision: outcome.decision,
      would_be_decision: outcome.wouldBe,
      enforcement_mode: body.enforcement_mode ?? 'progressive',
      environment: body.environment || 'prod',
      reason: outcome.reason,
      reason_code: outcome.reasonCode,
      action_classification: outcome.actionClassification,
      violation_id: ctx.decisionId,
      enforcement_trace_id: ctx.traceId,
      risk_score: outcome.riskScore,
      matched_rule_ids: outcome.matchedRuleIds,
      model_signals: outcome.modelSignals,
      top_contributors_json: JSON.stringify(outcome.topContributors),
      decision_evidence_json: JSON.stringify(outcome.decisionEvidence),
      tool_args_json: this.deps.redactor.json(body.tool_args),
      modified_tool_args_json: this.deps.redactor.json(outcome.modifiedToolArgs),
      hold_token: ctx.holdToken ?? null,
      policy_version: ctx.policyVersion,
      latency_us: Math.round(ctx.latencyUs),
      receipt_signature: ctx.receipt.signature,
      receipt_key_id: ctx.receipt.key_id,
      receipt_json: merkleReceiptJson(
        ctx.receipt,
        outcome.decision === 'MODIFY' ? outcome.modifiedToolArgs : undefined,
      ),
      // Free text from the caller: redacted like the arguments before it reaches the bus.
      request_id: body.request_id == null ? null : this.deps.redactor.text(body.request_id),
      purpose: body.purpose == null ? null : this.deps.redactor.text(body.purpose),
      data_classification: body.data_classification ?? null,
      occurred_at: ctx.now,
      replay_json: ctx.replayJson,
    };
    this.deps.publisher.enqueueRecord(
      this.deps.eventsTopic,
      'thoth.v1.DecisionEvent',
      agentKey(event.tenant_id, event.agent_id),
      event,
    );
  }
}

/** The response body of POST /v1/enforce (docs/protocol.md §Enforce response), snake_case, integers where SDKs decode ints. */
export function envelope(
  outcome: DecisionOutcome,
  ctx: {
    decisionId: string;
    traceId: string;
    holdToken: string | undefined;
    receipt: Receipt;
    latencyMs: number;
    policyVersion: number;
    /** Explain a plain ALLOW too (see `Enforcer.enforce`); every other answer always carries its explanation. */
    detail?: boolean;
  },
): EnforceResponse {
  const d = outcome.decision;
  const ruleErrors = outcome.decisionEvidence.rule_errors;
  const explained =
    ctx.detail !== false ||
    d !== 'ALLOW' ||
    outcome.wouldBe !== 'ALLOW' ||
    !!outcome.warning ||
    (Array.isArray(ruleErrors) && ruleErrors.length > 0);
  const body: EnforceResponse = {
    decision: d,
    authorization_decision: d,
    reason: outcome.reason,
    decision_reason_code: outcome.reasonCode,
    action_classification: outcome.actionClassification,
    decision_id: ctx.decisionId,
    risk_score: outcome.riskScore,
    latency_ms: ctx.latencyMs,
    enforcement_trace_id: ctx.traceId,
    matched_rule_ids: outcome.matchedRuleIds,
    model_signals: outcome.modelSignals,
    score_components: explained ? outcome.scoreComponents : undefined,
    top_contributors: explained ? outcome.topContributors : undefined,
    decision_evidence: explained ? outcome.decisionEvidence : undefined,
    policy_version: ctx.policyVersion,
    receipt: ctx.receipt,
    decision_envelope_version: DECISION_ENVELOPE_VERSION,
  };
  if (VIOLATIONS.has(d)) body.violation_id = ctx.decisionId;
  if (outcome.decision !== outcome.wouldBe) body.would_be_decision = outcome.wouldBe;
  if (outcome.warning) body.warning = outcome.warning;
  if (d === 'STEP_UP') {
    body.hold_token = ctx.holdToken;
    body.step_up_timeout_seconds = Math.trunc(outcome.stepUpTimeoutSeconds ?? 900);
  }
  if (d === 'MODIFY') {
    body.modified_tool_args = outcome.modifiedToolArgs;
    body.modification_reason = outcome.modificationReason ?? outcome.reason;
  }
  if (d === 'DEFER') {
    body.defer_reason = outcome.deferReason ?? outcome.reason;
    body.defer_timeout_seconds = Math.trunc(outcome.deferTimeoutSeconds ?? 60);
  }
  return body;
}

/**
 * What the audit trail keeps of a Merkle receipt besides its signature and key id: the batch head and the
 * decision's place in the tree, and the digest the leaf has for MODIFY's arguments (the event stores those
 * redacted; `modified`: MODIFY's arguments, undefined for any other decision). The decision event's chain link
 * covers it, so each signed batch root is anchored in the trail.
 */
export function merkleReceiptJson(receipt: Receipt, modified?: unknown): string | null {
  if (receipt.receipt_format === undefined) return null;
  return JSON.stringify({
    receipt_format: receipt.receipt_format,
    issued_at: receipt.issued_at,
    tree_size: receipt.tree_size,
    leaf_index: receipt.leaf_index,
    root: receipt.root,
    audit_path: receipt.audit_path,
    signed_at: receipt.signed_at,
    modified_tool_args_sha256: modified === undefined ? undefined : sha256Hex(canonicalJson(modified)),
  });
}

/** SHA-256 of the canonical JSON of the call's arguments: binds an approval to this one call. */
export function argsDigest(toolArgs: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(toolArgs ?? null))
    .digest('hex');
}

function findingIds(outcome: DecisionOutcome): string[] {
  const ids = outcome.decisionEvidence.finding_ids;
  return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
}
