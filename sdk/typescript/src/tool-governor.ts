import { randomUUID } from 'node:crypto';
import { deferReason, type EnforceDecision } from './decision.ts';
import { type EnforceClient, type EnforceRequest, enforceClientFor } from './enforce-client.ts';
import { actionOnFailure, describeFailure } from './enforcer-failure.ts';
import { EventClock } from './event-clock.ts';
import type { ThothConfig } from './options.ts';
import { type BlockingDecision, ThothPolicyViolation } from './policy-violation.ts';
import { waitForStepUp } from './step-up.ts';
import {
  type CallContext,
  toolCallBlockEvent,
  toolCallPostEvent,
  toolCallPreEvent,
} from './telemetry/events.ts';
import { telemetrySenderFor } from './telemetry/telemetry-registry.ts';
import type { TelemetrySender } from './telemetry/telemetry-sender.ts';
import { applyModifiedArgs, toWireToolArgs } from './tool-args.ts';

/** Go SDKs cap the reported session history at 128; so do we (the request stays small). */
const SESSION_HISTORY_LIMIT = 128;

/** What the governor decided to do with one call. */
type Verdict =
  | { run: true; args: unknown[]; decision: string; failOpen: boolean }
  | { run: false; violation: ThothPolicyViolation };

export type GovernedFunction<Args extends unknown[], R> = (...args: Args) => Promise<Awaited<R>>;

/**
 * Governs the tools of one agent session: asks the enforcer before each call, acts on the decision, and
 * reports PRE / POST / BLOCK events. Shared session state (the tools already run) lives here.
 */
export class ToolGovernor {
  private readonly client: EnforceClient;
  private readonly telemetry: TelemetrySender | undefined;
  private readonly clock = new EventClock();
  private readonly executed: string[] = [];

  constructor(readonly config: ThothConfig) {
    this.client = enforceClientFor(config.apiUrl, config.apiKey);
    this.telemetry = telemetrySenderFor(config);
  }

  govern<Args extends unknown[], R>(
    toolName: string,
    fn: (...args: Args) => R,
    thisArg?: unknown,
  ): GovernedFunction<Args, R> {
    const governed = (...args: Args) => this.call(toolName, fn, thisArg, args);
    Object.defineProperty(governed, 'name', { value: fn.name || toolName });
    return governed;
  }

  async call<Args extends unknown[], R>(
    toolName: string,
    fn: (...args: Args) => R,
    thisArg: unknown,
    args: Args,
  ): Promise<Awaited<R>> {
    const wire = toWireToolArgs(args);
    const context: CallContext = {
      agentId: this.config.agentId,
      tenantId: this.config.tenantId,
      sessionId: this.config.sessionId,
      userId: this.config.userId,
      approvedScope: this.config.approvedScope,
      enforcementMode: this.config.enforcement,
      environment: this.config.environment,
      purpose: this.config.purpose,
      dataClassification: this.config.dataClassification,
      toolName,
      toolArgs: wire.toolArgs,
      sessionToolCalls: [...this.executed, toolName].slice(-SESSION_HISTORY_LIMIT),
      traceId: randomUUID(),
    };
    this.telemetry?.enqueue(toolCallPreEvent(context, this.clock.next()));

    const verdict = await this.decide(context, args, wire.shape);
    if (!verdict.run) {
      const { violation } = verdict;
      this.telemetry?.enqueue(toolCallBlockEvent(context, this.clock.next(), violation));
      throw violation;
    }

    this.executed.push(toolName);
    if (this.executed.length > SESSION_HISTORY_LIMIT) this.executed.shift();
    const started = performance.now();
    const report = (outcome: { result?: unknown; error?: unknown }) =>
      this.telemetry?.enqueue(
        toolCallPostEvent(context, this.clock.next(), {
          decision: verdict.decision,
          failOpen: verdict.failOpen,
          durationMs: Math.round((performance.now() - started) * 1_000) / 1_000,
          ...outcome,
        }),
      );
    try {
      const result = await fn.apply(thisArg, verdict.args as Args);
      report({ result });
      return result;
    } catch (error) {
      report({ error });
      throw error;
    }
  }

  private async decide(context: CallContext, args: unknown[], shape: 'dict' | 'call'): Promise<Verdict> {
    const { config } = this;
    const request = this.enforceRequest(context);
    const outcome = await this.client.enforce(request, config.timeoutMs);
    if (!outcome.ok) {
      const action = actionOnFailure(outcome.failure, config.failOpen, config.enforcement === 'observe');
      if (action.action === 'block')
        return this.refuse(context.toolName, 'BLOCK', action.reason, action.reasonCode, undefined);
      if (this.client.outage.failed(Date.now()))
        config.logger.warn(
          `[thoth] enforcer unavailable (${describeFailure(outcome.failure)}); failing open: tools run ungoverned until it answers again`,
        );
      return { run: true, args, decision: 'ALLOW', failOpen: true };
    }
    const ended = this.client.outage.recovered(Date.now());
    if (ended)
      config.logger.warn(
        `[thoth] enforcer answering again after ${Math.round(ended.durationMs / 1_000)} s; ${ended.failedCalls} call(s) ran ungoverned`,
      );
    if (config.verifyReceipts !== 'off') {
      const refusal = await this.checkReceipt(context.toolName, request, outcome.body, outcome.decision);
      if (refusal) return refusal;
    }
    return this.act(context, args, shape, outcome.decision);
  }

  /**
   * `verifyReceipts`: a refusal when the answer must not be acted on, else undefined.
   * - The receipt does not verify (the answer is not what Thoth signed: altered on the way, a wrong key, no
   *   receipt): `warn` logs and acts on the answer; `enforce` blocks (`receipt_invalid`) whatever `failOpen`
   *   says — fail-open is for outages, and running the tool on an answer that fails verification would let
   *   whoever altered it switch governance off (a BLOCK turned into an ALLOW).
   * - The keys cannot be fetched (an outage of GET /v1/keys/receipt): `enforce` with `failOpen: false` blocks
   *   (`receipt_keys_unavailable`); otherwise the answer is acted on unverified (a BLOCK still blocks), with
   *   one warning per outage.
   */
  private async checkReceipt(
    toolName: string,
    request: EnforceRequest,
    body: unknown,
    answer: EnforceDecision,
  ): Promise<Verdict | undefined> {
    const { config } = this;
    const keys = this.client.receiptKeys;
    const check = await keys.check(request, body, config.timeoutMs);
    const what = `the receipt of the ${answer.decision} answer for "${toolName}"`;
    if (check.status === 'valid') {
      if (keys.outage.recovered(Date.now())) config.logger.warn('[thoth] receipt keys readable again');
      return undefined;
    }
    if (check.status === 'invalid') {
      if (config.verifyReceipts === 'warn') {
        config.logger.warn(
          `[thoth] ${what} does not verify (${check.reason}); acting on the answer anyway (verifyReceipts: 'warn')`,
        );
        return undefined;
      }
      return this.refuse(
        toolName,
        'BLOCK',
        `Thoth's answer failed receipt verification: ${check.reason} (verifyReceipts: 'enforce')`,
        'receipt_invalid',
        undefined,
      );
    }
    const strict =
      config.verifyReceipts === 'enforce' && !config.failOpen && config.enforcement !== 'observe';
    if (strict)
      return this.refuse(
        toolName,
        'BLOCK',
        `cannot verify Thoth's answer: the receipt keys are unavailable (${check.reason}; fail-closed)`,
        'receipt_keys_unavailable',
        undefined,
      );
    if (keys.outage.failed(Date.now()))
      config.logger.warn(
        `[thoth] cannot fetch the receipt keys (${check.reason}); acting on unverified answers until they can be read`,
      );
    return undefined;
  }

  private async act(
    context: CallContext,
    args: unknown[],
    shape: 'dict' | 'call',
    answer: EnforceDecision,
  ): Promise<Verdict> {
    const refuse = (decision: BlockingDecision, reason: string, code = answer.decisionReasonCode) =>
      this.refuse(context.toolName, decision, reason, code, answer.violationId, answer.deferTimeoutSeconds);
    switch (answer.decision) {
      case 'ALLOW':
        return { run: true, args, decision: 'ALLOW', failOpen: false };
      case 'BLOCK':
        return refuse('BLOCK', answer.reason);
      case 'DEFER':
        return refuse('DEFER', deferReason(answer.reason, answer.deferTimeoutSeconds));
      case 'MODIFY': {
        // Running the original arguments would bypass the policy, so an unappliable MODIFY blocks.
        const applied = answer.modifiedToolArgs
          ? applyModifiedArgs(args, shape, answer.modifiedToolArgs.value)
          : { ok: false as const, message: 'MODIFY without modified_tool_args' };
        if (!applied.ok)
          return refuse('BLOCK', `${answer.reason}; ${applied.message}`, 'modification_unappliable');
        return { run: true, args: applied.args, decision: 'MODIFY', failOpen: false };
      }
      case 'STEP_UP': {
        const result = await waitForStepUp({
          client: this.client,
          holdToken: answer.holdToken ?? '',
          toolName: context.toolName,
          timeoutMs: this.config.stepUpTimeoutMs,
          holdTimeoutSeconds: answer.stepUpTimeoutSeconds,
          pollIntervalMs: this.config.stepUpPollIntervalMs,
          requestTimeoutMs: this.config.timeoutMs,
          logger: this.config.logger,
        });
        if (result.approved) return { run: true, args, decision: 'STEP_UP', failOpen: false };
        return refuse('STEP_UP', `${answer.reason}: ${result.reason}`, result.reasonCode);
      }
    }
  }

  private refuse(
    toolName: string,
    decision: BlockingDecision,
    reason: string,
    decisionReasonCode: string,
    violationId: string | undefined,
    retryAfterSeconds?: number,
  ): Verdict {
    return {
      run: false,
      violation: new ThothPolicyViolation({
        toolName,
        decision,
        reason,
        decisionReasonCode,
        violationId,
        retryAfterSeconds: decision === 'DEFER' ? retryAfterSeconds : undefined,
      }),
    };
  }

  private enforceRequest(context: CallContext): EnforceRequest {
    const { config } = this;
    const request: EnforceRequest = {
      agent_id: config.agentId,
      tenant_id: config.tenantId,
      tool_name: context.toolName,
      session_id: config.sessionId,
      user_id: config.userId,
      session_tool_calls: context.sessionToolCalls,
      approved_scope: config.approvedScope,
      enforcement_mode: config.enforcement,
      environment: config.environment,
      tool_args: context.toolArgs,
      request_id: randomUUID(),
      occurred_at: new Date().toISOString(),
      enforcement_trace_id: context.traceId,
    };
    if (config.purpose) request.purpose = config.purpose;
    if (config.dataClassification) request.data_classification = config.dataClassification;
    if (config.modelProvider) request.model_provider = config.modelProvider;
    return request;
  }
}
