import { type QuantileSketch, quantile } from './quantile-sketch.ts';

/**
 * The detectors: pure functions of a baseline and what was observed, each returning a Detection (score 0-100
 * and one sentence naming the observed value and the baseline) or nothing. docs/baselines.md lists each
 * score formula. They never see the clock or the store; `analyzeCall` feeds them the agent's profile as it
 * stood before the call.
 */

export type DetectorName =
  | 'first_seen_tool'
  | 'rare_tool'
  | 'rate_spike'
  | 'numeric_outlier'
  | 'novel_arg_key'
  | 'novel_arg_value'
  | 'unusual_transition'
  | 'off_hours'
  | 'blocked_burst';

export interface Detection {
  detector: DetectorName;
  /** What the detector is about (a tool, an argument, an hour): one finding per subject per cooldown. */
  subject: string;
  score: number;
  explanation: string;
  observed: unknown;
  baseline: unknown;
}

/** Share of calls below which a tool, transition or hour counts as rare. */
export const RARE_SHARE = 0.01;
export const OFF_HOURS_SHARE = 0.005;
export const RATE_MIN_WINDOWS = 5;
export const RATE_MIN_RATIO = 3;
export const RATE_MIN_Z = 4;
export const OUTLIER_MIN_RATIO = 3;
/** A text argument with more distinct values than this is free text, not a category. */
export const MAX_CATEGORIES = 20;
export const BLOCKED_BURST_COUNT = 5;
export const BLOCKED_BURST_WINDOW_MS = 60_000;

const pct = (share: number) => `${(share * 100).toFixed(share < 0.01 ? 2 : 1)}%`;
const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

/** A tool the agent never called before. Score 25. */
export function firstSeenTool(
  toolName: string,
  toolCalls: number,
  agentCalls: number,
  minSamples: number,
): Detection | undefined {
  if (toolCalls > 0 || agentCalls < minSamples) return undefined;
  return {
    detector: 'first_seen_tool',
    subject: toolName,
    score: 25,
    explanation: `tool '${toolName}' was never called before by this agent (${agentCalls} earlier calls)`,
    observed: { tool: toolName },
    baseline: { agent_calls: agentCalls, tool_calls: 0 },
  };
}

/** A known tool that makes under 1% of the agent's calls. Score 10. */
export function rareTool(
  toolName: string,
  toolCalls: number,
  agentCalls: number,
  minSamples: number,
): Detection | undefined {
  if (toolCalls === 0 || agentCalls < minSamples) return undefined;
  const share = toolCalls / agentCalls;
  if (share >= RARE_SHARE) return undefined;
  return {
    detector: 'rare_tool',
    subject: toolName,
    score: 10,
    explanation: `tool '${toolName}' makes ${pct(share)} of this agent's calls (${toolCalls} of ${agentCalls})`,
    observed: { tool: toolName },
    baseline: { tool_calls: toolCalls, agent_calls: agentCalls, share },
  };
}

/**
 * Calls in the current rate window against the agent's usual calls per (active) window, an EWMA mean and
 * variance. Fires when the count is ≥ 3× the mean and ≥ 4 deviations above it (the deviation is at least
 * √mean, the Poisson noise, and at least 1). Score min(60, 15·log2(count/mean)): 24 at 3×, 50 at 10×.
 */
export function rateSpike(
  windowCount: number,
  usual: { mean: number; variance: number; windows: number },
  windowSeconds: number,
): Detection | undefined {
  if (usual.windows < RATE_MIN_WINDOWS || usual.mean <= 0) return undefined;
  const ratio = windowCount / usual.mean;
  const deviation = Math.max(Math.sqrt(usual.variance), Math.sqrt(usual.mean), 1);
  const z = (windowCount - usual.mean) / deviation;
  if (ratio < RATE_MIN_RATIO || z < RATE_MIN_Z) return undefined;
  return {
    detector: 'rate_spike',
    subject: 'calls',
    score: Math.min(60, Math.round(15 * Math.log2(ratio))),
    explanation: `${windowCount} calls in ${fmt(windowSeconds)} s, ${fmt(ratio)}× the usual ${fmt(usual.mean)} (z ${fmt(z)})`,
    observed: { calls_in_window: windowCount, window_seconds: windowSeconds },
    baseline: { mean: usual.mean, stddev: Math.sqrt(usual.variance), windows: usual.windows, ratio, z },
  };
}

/**
 * A numeric argument ≥ 3× the p99 of the values this tool's argument had. Score
 * min(70, 20 + 15·log10(value/p99)): 27 at 3×, 50 at 100×.
 */
export function numericOutlier(
  toolName: string,
  path: string,
  value: number,
  sketch: QuantileSketch | undefined,
  minSamples: number,
): Detection | undefined {
  if (!sketch || sketch.count < minSamples) return undefined;
  // The p99 is never below the smallest value seen, so under 3× that there is no outlier: the usual call (most
  // arguments repeat their usual values) skips the quantile's sort.
  if (value < OUTLIER_MIN_RATIO * sketch.min) return undefined;
  const p99 = quantile(sketch, 0.99);
  if (!(p99 > 0) || value < OUTLIER_MIN_RATIO * p99) return undefined;
  const ratio = value / p99;
  return {
    detector: 'numeric_outlier',
    subject: `${toolName}.${path}`,
    score: Math.min(70, Math.round(20 + 15 * Math.log10(ratio))),
    explanation: `${toolName} ${path} = ${fmt(value)} is ${fmt(ratio)}× this agent's p99 of ${fmt(p99)} (max ${fmt(sketch.max)}, ${sketch.count} calls)`,
    observed: { tool: toolName, argument: path, value },
    baseline: {
      p50: quantile(sketch, 0.5),
      p99,
      max: sketch.max,
      samples: sketch.count,
      ratio,
    },
  };
}

/** An argument name this tool never had. Score 15. */
export function novelArgKey(
  toolName: string,
  key: string,
  knownKeys: Record<string, number>,
  toolCalls: number,
  minSamples: number,
): Detection | undefined {
  if (toolCalls < minSamples || key in knownKeys) return undefined;
  const known = Object.keys(knownKeys).sort();
  return {
    detector: 'novel_arg_key',
    subject: `${toolName}.${key}`,
    score: 15,
    explanation: `${toolName} was called with argument '${key}', never seen in ${toolCalls} calls (known: ${known.join(', ') || 'none'})`,
    observed: { tool: toolName, argument: key },
    baseline: { known_arguments: known, tool_calls: toolCalls },
  };
}

/** A text value a categorical argument (≤ 20 distinct values so far) never had. Score 15. */
export function novelArgValue(
  toolName: string,
  path: string,
  value: string,
  category: { values: Record<string, number>; overflow: boolean } | undefined,
  minSamples: number,
): Detection | undefined {
  if (!category || category.overflow) return undefined;
  const values = Object.keys(category.values);
  const samples = Object.values(category.values).reduce((a, b) => a + b, 0);
  if (samples < minSamples || values.length > MAX_CATEGORIES || value in category.values) return undefined;
  return {
    detector: 'novel_arg_value',
    subject: `${toolName}.${path}`,
    score: 15,
    explanation: `${toolName} ${path} = '${value}' is new: ${samples} earlier calls used only ${values.sort().join(', ')}`,
    observed: { tool: toolName, argument: path, value },
    baseline: { values: category.values, samples },
  };
}

/** A tool following another where that step makes under 1% of the previous tool's successors. Score 10. */
export function unusualTransition(
  fromTool: string,
  toTool: string,
  successors: Record<string, number>,
  minSamples: number,
): Detection | undefined {
  const total = Object.values(successors).reduce((a, b) => a + b, 0);
  if (total < minSamples) return undefined;
  const count = successors[toTool] ?? 0;
  const share = count / total;
  if (share >= RARE_SHARE) return undefined;
  return {
    detector: 'unusual_transition',
    subject: `${fromTool}->${toTool}`,
    score: 10,
    explanation: `'${toTool}' after '${fromTool}' happened in ${pct(share)} of ${total} calls that followed '${fromTool}'`,
    observed: { from: fromTool, to: toTool },
    baseline: { count, total, share },
  };
}

/**
 * A call in an hour of the day that, with the hours on either side, holds under 0.5% of the agent's calls.
 * The neighbours keep the edge of a working day (or a run that crosses an hour) from counting. Score 15.
 */
export function offHours(
  hour: number,
  hours: readonly number[],
  agentCalls: number,
  minSamples: number,
  timeZone: string,
): Detection | undefined {
  if (agentCalls < minSamples) return undefined;
  const around = [(hour + 23) % 24, hour, (hour + 1) % 24].reduce((sum, h) => sum + (hours[h] ?? 0), 0);
  const share = around / agentCalls;
  if (share >= OFF_HOURS_SHARE) return undefined;
  return {
    detector: 'off_hours',
    subject: `hour:${hour}`,
    score: 15,
    explanation: `call at ${String(hour).padStart(2, '0')}:00 ${timeZone}; this agent makes ${pct(share)} of its calls between ${(hour + 23) % 24}:00 and ${(hour + 2) % 24}:00`,
    observed: { hour, time_zone: timeZone },
    baseline: { calls_around_hour: around, agent_calls: agentCalls, hours },
  };
}

/** At least 5 calls blocked by policy (not by a baseline directive) within 60 s. Score 30. */
export function blockedBurst(blockedAtMs: readonly number[], nowMs: number): Detection | undefined {
  const recent = blockedAtMs.filter((at) => at > nowMs - BLOCKED_BURST_WINDOW_MS).length;
  if (recent < BLOCKED_BURST_COUNT) return undefined;
  return {
    detector: 'blocked_burst',
    subject: 'blocked',
    score: 30,
    explanation: `${recent} calls blocked by policy within ${BLOCKED_BURST_WINDOW_MS / 1000} s`,
    observed: { blocked_in_window: recent },
    baseline: { threshold: BLOCKED_BURST_COUNT, window_seconds: BLOCKED_BURST_WINDOW_MS / 1000 },
  };
}
