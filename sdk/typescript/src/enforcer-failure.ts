import type { HttpOutcome } from './http-json.ts';
import { errorMessageOf } from './http-json.ts';

/** Why the enforcer gave no decision. `auth` is a wrong or under-privileged key, never an outage. */
export type EnforcerFailureKind =
  | 'unreachable'
  | 'timeout'
  | 'rate_limited'
  | 'server_error'
  | 'auth'
  | 'bad_request';

export interface EnforcerFailure {
  kind: EnforcerFailureKind;
  status: number | undefined;
  message: string;
}

/** Classifies an answer that is not a 200. Pure. */
export function classifyFailure(outcome: HttpOutcome): EnforcerFailure {
  if (outcome.kind !== 'response') return { kind: outcome.kind, status: undefined, message: outcome.message };
  const { status } = outcome;
  const message = errorMessageOf(outcome.body, status);
  if (status === 401 || status === 403) return { kind: 'auth', status, message };
  if (status === 429) return { kind: 'rate_limited', status, message };
  if (status >= 500) return { kind: 'server_error', status, message };
  return { kind: 'bad_request', status, message };
}

export type FailureAction = { action: 'run' } | { action: 'block'; reasonCode: string; reason: string };

/**
 * Fail-open is the product promise (governance never takes the agent down), but only for outages: a 401/403
 * means governance is misconfigured, and running the tool would silently disable it, so that always blocks.
 * A 4xx other than those is the SDK's own bug, not an outage — it blocks too rather than hide it.
 * `observe` never blocks: it only records.
 */
export function actionOnFailure(
  failure: EnforcerFailure,
  failOpen: boolean,
  observing: boolean,
): FailureAction {
  if (failure.kind === 'auth')
    return {
      action: 'block',
      reasonCode: 'enforcer_auth_failed',
      reason: `Thoth rejected the API key (HTTP ${failure.status}): ${failure.message}`,
    };
  if (observing) return { action: 'run' };
  if (failure.kind === 'bad_request')
    return {
      action: 'block',
      reasonCode: 'enforcer_rejected_request',
      reason: `Thoth rejected the enforce request (HTTP ${failure.status}): ${failure.message}`,
    };
  if (failOpen) return { action: 'run' };
  return {
    action: 'block',
    reasonCode: 'enforcer_unavailable',
    reason: `Thoth enforcer unavailable (fail-closed): ${describeFailure(failure)}`,
  };
}

export function describeFailure(failure: EnforcerFailure): string {
  return failure.status === undefined
    ? `${failure.kind}: ${failure.message}`
    : `HTTP ${failure.status}: ${failure.message}`;
}
