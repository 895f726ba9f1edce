import type { Directive, ToolCall } from './types.ts';

const LEVEL_STRENGTH: Record<Directive['level'], number> = { warn: 0, step_up: 1, block: 2 };

export interface DirectiveSummary {
  /** Directives that apply to this call, in the order received. */
  active: Directive[];
  /** Sum of their scores (each clamped to 0-100). */
  risk: number;
  /** The directive that sets the decision floor: highest level, then most specific, then highest score. */
  floor: Directive | undefined;
}

/**
 * Directives that apply to the call: same tenant and agent, same session and tool when the directive is
 * scoped to one, and not expired at the call's time.
 */
export function summarizeDirectives(call: ToolCall, directives: readonly Directive[]): DirectiveSummary {
  const summary: DirectiveSummary = { active: [], risk: 0, floor: undefined };
  for (const directive of directives) {
    if (!appliesTo(directive, call)) continue;
    summary.active.push(directive);
    summary.risk += clampScore(directive.score);
    if (summary.floor === undefined || outranks(directive, summary.floor)) summary.floor = directive;
  }
  return summary;
}

function appliesTo(directive: Directive, call: ToolCall): boolean {
  return (
    directive.tenantId === call.tenantId &&
    directive.agentId === call.agentId &&
    (directive.sessionId === undefined || directive.sessionId === call.sessionId) &&
    (directive.toolName === undefined || directive.toolName === call.toolName) &&
    directive.expiresAtMs > call.nowMs
  );
}

function outranks(a: Directive, b: Directive): boolean {
  const level = LEVEL_STRENGTH[a.level] - LEVEL_STRENGTH[b.level];
  if (level !== 0) return level > 0;
  const specificity = specificityOf(a) - specificityOf(b);
  if (specificity !== 0) return specificity > 0;
  return clampScore(a.score) > clampScore(b.score);
}

function specificityOf(directive: Directive): number {
  return (directive.sessionId === undefined ? 0 : 2) + (directive.toolName === undefined ? 0 : 1);
}

export function clampScore(score: number): number {
  return Number.isFinite(score) ? Math.min(100, Math.max(0, score)) : 0;
}
