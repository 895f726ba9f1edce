import type { EnforceClient } from './enforce-client.ts';
import { describeFailure } from './enforcer-failure.ts';
import type { ThothLogger } from './options.ts';

export type StepUpResult = { approved: true } | { approved: false; reasonCode: string; reason: string };

export interface StepUpWait {
  client: EnforceClient;
  holdToken: string;
  toolName: string;
  /** The SDK's own limit; undefined → the hold's timeout plus a grace period, so the server's expiry wins. */
  timeoutMs: number | undefined;
  holdTimeoutSeconds: number | undefined;
  pollIntervalMs: number;
  requestTimeoutMs: number;
  logger: ThothLogger;
}

const DEFAULT_HOLD_SECONDS = 15 * 60;

/**
 * Waits for a person to approve or deny a held call by polling GET /v1/enforce/hold/{token}. The call was
 * explicitly held by the enforcer, so fail-open does not apply here: if the hold cannot be read until the
 * deadline, the call does not run.
 */
export async function waitForStepUp(wait: StepUpWait): Promise<StepUpResult> {
  const limitMs =
    wait.timeoutMs ?? (wait.holdTimeoutSeconds ?? DEFAULT_HOLD_SECONDS) * 1_000 + wait.pollIntervalMs + 1_000;
  const deadline = Date.now() + limitMs;
  let warned = false;
  for (;;) {
    const polled = await wait.client.pollHold(wait.holdToken, Math.min(wait.requestTimeoutMs, limitMs));
    if (polled.ok && polled.state.resolved) {
      return polled.state.approved
        ? { approved: true }
        : { approved: false, reasonCode: 'step_up_denied', reason: polled.state.reason };
    }
    if (!polled.ok) {
      if (polled.failure.kind === 'auth')
        return {
          approved: false,
          reasonCode: 'enforcer_auth_failed',
          reason: `Thoth rejected the API key while waiting for approval: ${polled.failure.message}`,
        };
      if (!warned) {
        warned = true;
        wait.logger.warn(
          `[thoth] cannot read the approval of "${wait.toolName}" (${describeFailure(polled.failure)}); still waiting`,
        );
      }
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0)
      return {
        approved: false,
        reasonCode: 'step_up_timeout',
        reason: `no approval for "${wait.toolName}" within ${Math.round(limitMs / 1_000)} s`,
      };
    await sleep(Math.min(wait.pollIntervalMs, remaining));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
