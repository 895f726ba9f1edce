import { isObject } from './json-rpc.ts';

/**
 * Thoth's answers to /v1/enforce and hold polls, read defensively (docs/protocol.md §Enforce response and
 * §Holds; as the SDKs read them). Pure.
 */

export type Decision = 'ALLOW' | 'BLOCK' | 'STEP_UP' | 'MODIFY' | 'DEFER';
const DECISIONS: readonly string[] = ['ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY', 'DEFER'];

export interface EnforceAnswer {
  decision: Decision;
  reason: string;
  reasonCode: string;
  violationId: string | undefined;
  holdToken: string | undefined;
  stepUpTimeoutSeconds: number | undefined;
  /** Present only when the answer carried `modified_tool_args`. */
  modifiedToolArgs: { value: unknown } | undefined;
  deferTimeoutSeconds: number | undefined;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

/**
 * An unknown decision is a BLOCK (a newer server must not turn a refusal into an ALLOW); so is a STEP_UP
 * without a hold token, which cannot be waited on.
 */
export function readEnforceAnswer(body: unknown): EnforceAnswer {
  const wire = isObject(body) ? body : {};
  const raw = (text(wire.decision) ?? text(wire.authorization_decision) ?? '').toUpperCase();
  let decision: Decision = DECISIONS.includes(raw) ? (raw as Decision) : 'BLOCK';
  let reason = text(wire.reason) ?? text(wire.defer_reason) ?? '';
  const holdToken = text(wire.hold_token);
  if (!DECISIONS.includes(raw))
    reason = `unrecognized decision ${JSON.stringify(wire.decision ?? null)} from Thoth`;
  else if (decision === 'STEP_UP' && !holdToken) {
    decision = 'BLOCK';
    reason = `step-up required but Thoth sent no hold token${reason ? ` (${reason})` : ''}`;
  }
  return {
    decision,
    reason: reason || (decision === 'ALLOW' ? 'allowed' : `Thoth answered ${decision}`),
    reasonCode: text(wire.decision_reason_code) ?? (decision === 'ALLOW' ? 'allowed' : 'policy_decision'),
    violationId: text(wire.violation_id),
    holdToken,
    stepUpTimeoutSeconds: num(wire.step_up_timeout_seconds),
    modifiedToolArgs: 'modified_tool_args' in wire ? { value: wire.modified_tool_args } : undefined,
    deferTimeoutSeconds: num(wire.defer_timeout_seconds),
  };
}

export type HoldState = { resolved: false } | { resolved: true; approved: boolean; reason: string };

/** Anything resolved that is not an explicit ALLOW is a refusal. */
export function readHoldState(body: unknown): HoldState {
  const wire = isObject(body) ? body : {};
  if (wire.resolved !== true) return { resolved: false };
  const decision = (text(wire.decision) ?? text(wire.resolution) ?? '').toUpperCase();
  const approved = decision === 'ALLOW';
  return {
    resolved: true,
    approved,
    reason: text(wire.reason) ?? (approved ? 'approved' : 'the step-up was denied'),
  };
}

/**
 * The MCP arguments after a MODIFY. The proxy sends them as keyword arguments (`{"args":[],"kwargs":{…}}`),
 * so the rewritten `kwargs` replace them; a bare object is taken whole. Anything else cannot be applied.
 */
export function modifiedArguments(modified: unknown): Record<string, unknown> | undefined {
  if (!isObject(modified)) return undefined;
  if ('kwargs' in modified || 'args' in modified) {
    const positionals = modified.args;
    if (Array.isArray(positionals) && positionals.length > 0) return undefined;
    return isObject(modified.kwargs) ? modified.kwargs : {};
  }
  return modified;
}
