import type { JsonObject } from './json-rpc.ts';

/**
 * The `tools/call` result a refused call gets instead of running: a tool error the model reads (why, and
 * what to do), with the decision in machine-readable form. Pure.
 */

export interface Refusal {
  /** BLOCK, DEFER, or STEP_UP when the approval was denied or never came. */
  decision: 'BLOCK' | 'DEFER' | 'STEP_UP';
  toolName: string;
  reason: string;
  reasonCode: string;
  violationId: string | undefined;
  retryAfterSeconds: number | undefined;
}

/** `_meta` key of the decision (MCP reserves unprefixed keys; vendors use a reverse-DNS prefix). */
export const DECISION_META_KEY = 'io.thoth/decision';

/**
 * `structuredContent` is left out for tools that declare an `outputSchema`: clients validate it against that
 * schema and would turn the refusal into a protocol error; `_meta` carries the same fields for them.
 */
export function refusalResult(refusal: Refusal, withStructuredContent: boolean): JsonObject {
  const decision: JsonObject = {
    decision: refusal.decision,
    reason_code: refusal.reasonCode,
    violation_id: refusal.violationId ?? null,
    reason: refusal.reason,
  };
  if (refusal.retryAfterSeconds !== undefined) decision.retry_after_seconds = refusal.retryAfterSeconds;
  return {
    content: [{ type: 'text', text: refusalText(refusal) }],
    ...(withStructuredContent ? { structuredContent: decision } : {}),
    isError: true,
    _meta: { [DECISION_META_KEY]: decision },
  };
}

export function refusalText(refusal: Refusal): string {
  const tool = JSON.stringify(refusal.toolName);
  const violation = refusal.violationId ? `, violation ${refusal.violationId}` : '';
  const why = `${refusal.reason} [${refusal.reasonCode}${violation}]`;
  switch (refusal.decision) {
    case 'DEFER': {
      const retry = refusal.retryAfterSeconds === undefined ? 'later' : `in ${refusal.retryAfterSeconds} s`;
      return `Thoth deferred the call to ${tool}: ${why}. The tool did not run; retry ${retry}.`;
    }
    case 'STEP_UP':
      return `Thoth held the call to ${tool} for a person's approval and it was not approved: ${why}. The tool did not run.`;
    case 'BLOCK':
      return `Thoth blocked the call to ${tool}: ${why}. The tool did not run; do not retry it unchanged.`;
  }
}
