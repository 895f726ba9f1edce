import { randomUUID } from 'node:crypto';
import { type EnforceAnswer, modifiedArguments, readEnforceAnswer, readHoldState } from './enforce-answer.ts';
import type { GovernanceOptions } from './proxy-options.ts';
import type { Refusal } from './refusal-result.ts';
import { type ApiOutcome, describeOutcome, type ThothApiClient } from './thoth-api-client.ts';
import { type ToolCallContext, wireToolArgs } from './tool-call-events.ts';

/** What to do with one `tools/call`. */
export type ToolVerdict =
  | { run: true; arguments: Record<string, unknown>; decision: string; failOpen: boolean }
  | { run: false; refusal: Refusal }
  /** The client cancelled the call while it was being decided: neither forward nor answer it. */
  | { run: false; refusal: undefined };

export interface ToolCallHooks {
  /** Called at each poll of a held call, so a client that gave a progress token does not time out. */
  onHoldPoll?: (pollCount: number) => void;
  cancelled: () => boolean;
}

export interface GovernorDeps {
  options: GovernanceOptions;
  api: Pick<ThothApiClient, 'enforce' | 'pollHold'>;
  warn(message: string): void;
}

/** Holds expire server-side (15 min by default); the proxy waits that long plus a grace period at most. */
const DEFAULT_HOLD_SECONDS = 15 * 60;

/**
 * Asks Thoth about one tool call and turns the answer into a verdict: run (with the arguments to run with)
 * or refuse (with why). The MCP framing lives elsewhere; this knows only tool calls.
 */
export class ToolCallGovernor {
  private outageSince: number | undefined;
  private callsDuringOutage = 0;

  constructor(private readonly deps: GovernorDeps) {}

  async decide(call: ToolCallContext, hooks: ToolCallHooks): Promise<ToolVerdict> {
    const { options } = this.deps;
    const outcome = await this.deps.api.enforce(this.enforceBody(call), options.timeoutMs);
    if (outcome.kind !== 'response' || outcome.status !== 200) return this.onFailure(call, outcome);
    this.noteRecovered();
    return this.act(call, readEnforceAnswer(outcome.body), hooks);
  }

  private async act(
    call: ToolCallContext,
    answer: EnforceAnswer,
    hooks: ToolCallHooks,
  ): Promise<ToolVerdict> {
    const refuse = (
      decision: Refusal['decision'],
      reason: string,
      reasonCode = answer.reasonCode,
    ): ToolVerdict => ({
      run: false,
      refusal: {
        decision,
        toolName: call.toolName,
        reason,
        reasonCode,
        violationId: answer.violationId,
        retryAfterSeconds: decision === 'DEFER' ? answer.deferTimeoutSeconds : undefined,
      },
    });
    switch (answer.decision) {
      case 'ALLOW':
        return { run: true, arguments: call.arguments, decision: 'ALLOW', failOpen: false };
      case 'BLOCK':
        return refuse('BLOCK', answer.reason);
      case 'DEFER':
        return refuse('DEFER', answer.reason);
      case 'MODIFY': {
        // Running the original arguments would bypass the policy, so a MODIFY that cannot be applied blocks.
        const rewritten = answer.modifiedToolArgs
          ? modifiedArguments(answer.modifiedToolArgs.value)
          : undefined;
        if (!rewritten)
          return refuse(
            'BLOCK',
            `${answer.reason}; the rewritten arguments cannot be applied`,
            'modification_unappliable',
          );
        return { run: true, arguments: rewritten, decision: 'MODIFY', failOpen: false };
      }
      case 'STEP_UP': {
        const held = await this.waitForApproval(call, answer, hooks);
        if (held === 'cancelled') return { run: false, refusal: undefined };
        if (held.approved)
          return { run: true, arguments: call.arguments, decision: 'STEP_UP', failOpen: false };
        return refuse('STEP_UP', `${answer.reason}: ${held.reason}`, held.reasonCode);
      }
    }
  }

  /**
   * Polls the hold until a person decides. The call was explicitly held, so fail-open does not apply: if the
   * hold cannot be read until the deadline, the call does not run.
   */
  private async waitForApproval(
    call: ToolCallContext,
    answer: EnforceAnswer,
    hooks: ToolCallHooks,
  ): Promise<{ approved: true } | { approved: false; reason: string; reasonCode: string } | 'cancelled'> {
    const { options } = this.deps;
    const limitMs =
      (answer.stepUpTimeoutSeconds ?? DEFAULT_HOLD_SECONDS) * 1_000 + options.stepUpPollMs + 1_000;
    const deadline = Date.now() + limitMs;
    this.deps.warn(
      `[thoth] "${call.toolName}" is held for approval in Thoth (violation ${answer.violationId ?? '-'})`,
    );
    let warned = false;
    for (let poll = 1; ; poll++) {
      if (hooks.cancelled()) return 'cancelled';
      // Before each poll, the first one included: the client learns at once that the call waits for a person.
      hooks.onHoldPoll?.(poll);
      const outcome = await this.deps.api.pollHold(answer.holdToken ?? '', options.timeoutMs);
      if (hooks.cancelled()) return 'cancelled';
      if (outcome.kind === 'response' && outcome.status === 200) {
        const state = readHoldState(outcome.body);
        if (state.resolved)
          return state.approved
            ? { approved: true }
            : { approved: false, reason: state.reason, reasonCode: 'step_up_denied' };
      } else if (outcome.kind === 'response' && outcome.status === 404) {
        return {
          approved: false,
          reason: 'the approval request is unknown to Thoth',
          reasonCode: 'step_up_denied',
        };
      } else if (outcome.kind === 'response' && (outcome.status === 401 || outcome.status === 403)) {
        return { approved: false, reason: describeOutcome(outcome), reasonCode: 'enforcer_auth_failed' };
      } else if (!warned) {
        warned = true;
        this.deps.warn(
          `[thoth] cannot read the approval of "${call.toolName}" (${describeOutcome(outcome)}); still waiting`,
        );
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        return {
          approved: false,
          reason: `no approval within ${Math.round(limitMs / 1_000)} s`,
          reasonCode: 'step_up_timeout',
        };
      // Unref'd: a hold alone must not keep the process alive once its transport closed.
      await new Promise((resolve) => setTimeout(resolve, Math.min(options.stepUpPollMs, remaining)).unref());
    }
  }

  /**
   * Fail-open (the default) is for outages only: a 401/403 means governance is misconfigured and a 4xx the
   * proxy's own bug, so those block; `observe` never blocks.
   */
  private onFailure(call: ToolCallContext, outcome: ApiOutcome): ToolVerdict {
    const { options } = this.deps;
    const why = describeOutcome(outcome);
    const refuse = (reasonCode: string, reason: string): ToolVerdict => ({
      run: false,
      refusal: {
        decision: 'BLOCK',
        toolName: call.toolName,
        reason,
        reasonCode,
        violationId: undefined,
        retryAfterSeconds: undefined,
      },
    });
    const status = outcome.kind === 'response' ? outcome.status : 0;
    if (status === 401 || status === 403)
      return refuse('enforcer_auth_failed', `Thoth rejected the API key (${why})`);
    const outage = status === 0 || status === 429 || status >= 500;
    if (options.enforcement !== 'observe') {
      if (!outage) return refuse('enforcer_rejected_request', `Thoth rejected the enforce request (${why})`);
      if (options.failClosed)
        return refuse('enforcer_unavailable', `Thoth is unavailable (fail-closed): ${why}`);
    }
    this.callsDuringOutage++;
    if (this.outageSince === undefined) {
      this.outageSince = Date.now();
      this.deps.warn(
        `[thoth] Thoth unavailable (${why}); failing open: tool calls run ungoverned until it answers`,
      );
    }
    return { run: true, arguments: call.arguments, decision: 'ALLOW', failOpen: true };
  }

  private noteRecovered(): void {
    if (this.outageSince === undefined) return;
    const seconds = Math.round((Date.now() - this.outageSince) / 1_000);
    this.deps.warn(
      `[thoth] Thoth answering again after ${seconds} s; ${this.callsDuringOutage} call(s) ran ungoverned`,
    );
    this.outageSince = undefined;
    this.callsDuringOutage = 0;
  }

  private enforceBody(call: ToolCallContext): Record<string, unknown> {
    const { options } = this.deps;
    return {
      agent_id: options.agentId,
      tenant_id: options.tenantId,
      tool_name: call.toolName,
      session_id: call.sessionId,
      user_id: options.userId,
      session_tool_calls: call.sessionToolCalls,
      approved_scope: options.approvedScope,
      enforcement_mode: options.enforcement,
      environment: options.environment,
      tool_args: wireToolArgs(call.arguments),
      request_id: randomUUID(),
      occurred_at: new Date().toISOString(),
      enforcement_trace_id: call.traceId,
    };
  }
}
