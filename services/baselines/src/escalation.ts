import type { DirectiveRecord, FindingSeverity } from '@thoth/contracts';
import type { DetectorName } from './detectors.ts';

/**
 * Progressive escalation of one agent: every escalating finding adds its score to the agent's anomaly score,
 * which halves every `halfLifeMs`; the score's level (warn / step_up / block) becomes the agent's directive.
 * A stronger finding of the same detector and subject within the cooldown replaces the weaker one instead
 * of adding to it, so one ongoing anomaly is counted once, at its strongest.
 */

export interface EscalationEntry {
  finding_id: string;
  detector: DetectorName;
  subject: string;
  points: number;
  at: number;
  explanation: string;
}

export interface EscalationSettings {
  warn: number;
  stepUp: number;
  block: number;
  halfLifeMs: number;
}

export type Level = DirectiveRecord['level'];

/** Entries below this many decayed points are forgotten. */
const FORGOTTEN_BELOW = 0.5;

export function decayedPoints(
  entry: Pick<EscalationEntry, 'points' | 'at'>,
  nowMs: number,
  halfLifeMs: number,
) {
  return entry.points * 0.5 ** (Math.max(0, nowMs - entry.at) / halfLifeMs);
}

/** The agent's anomaly score (0-100) at `nowMs`. */
export function anomalyScore(entries: readonly EscalationEntry[], nowMs: number, halfLifeMs: number): number {
  return Math.min(
    100,
    entries.reduce((sum, e) => sum + decayedPoints(e, nowMs, halfLifeMs), 0),
  );
}

export function levelOf(score: number, s: EscalationSettings): Level | undefined {
  if (score >= s.block) return 'block';
  if (score >= s.stepUp) return 'step_up';
  if (score >= s.warn) return 'warn';
  return undefined;
}

/** The entries with `entry` added (replacing a weaker one of the same detector and subject), stale ones gone. */
export function withEntry(
  entries: readonly EscalationEntry[],
  entry: EscalationEntry,
  cooldownMs: number,
  halfLifeMs: number,
): EscalationEntry[] {
  const kept = entries.filter(
    (e) =>
      decayedPoints(e, entry.at, halfLifeMs) >= FORGOTTEN_BELOW &&
      !(e.detector === entry.detector && e.subject === entry.subject && entry.at - e.at < cooldownMs),
  );
  return [...kept, entry];
}

export function liveEntries(entries: readonly EscalationEntry[], nowMs: number, halfLifeMs: number) {
  return entries.filter((e) => decayedPoints(e, nowMs, halfLifeMs) >= FORGOTTEN_BELOW);
}

export function severityOf(score: number): FindingSeverity {
  if (score >= 60) return 'critical';
  if (score >= 40) return 'high';
  if (score >= 20) return 'medium';
  if (score >= 10) return 'low';
  return 'info';
}

/**
 * The directive for the agent's escalation at `nowMs`, or undefined when the score is under the warn level
 * (the caller publishes a tombstone). It lasts until the score decays below its level's threshold, so the
 * enforce API drops it on time even if no newer directive arrives.
 *
 * `score` is the risk the enforce API adds to each call: a tenth of the anomaly score, so a sustained anomaly
 * keeps raising a session's risk while the level alone sets the decision floor. `contributions` are each
 * detector's decayed points of the anomaly score, so `top_contributors` names the detectors.
 */
export function directiveFor(
  tenantId: string,
  agentId: string,
  entries: readonly EscalationEntry[],
  nowMs: number,
  s: EscalationSettings,
): DirectiveRecord | undefined {
  const live = liveEntries(entries, nowMs, s.halfLifeMs);
  const score = anomalyScore(live, nowMs, s.halfLifeMs);
  const level = levelOf(score, s);
  if (!level) return undefined;
  const threshold = level === 'block' ? s.block : level === 'step_up' ? s.stepUp : s.warn;
  const byDetector = new Map<DetectorName, number>();
  for (const e of live)
    byDetector.set(e.detector, (byDetector.get(e.detector) ?? 0) + decayedPoints(e, nowMs, s.halfLifeMs));
  const ranked = [...byDetector].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const strongest = [...live].sort(
    (a, b) => decayedPoints(b, nowMs, s.halfLifeMs) - decayedPoints(a, nowMs, s.halfLifeMs),
  );
  const why = strongest
    .slice(0, 3)
    .map((e) => `${e.detector}: ${e.explanation}`)
    .join('; ');
  const rounded = Math.round(score);
  return {
    tenant_id: tenantId,
    agent_id: agentId,
    session_id: null,
    tool_name: null,
    level,
    score: Math.round(score / 10),
    reason: `behavioral anomaly score ${rounded} reached the ${level.replace('_', '-')} level ${threshold} (${why})`,
    reason_code: `baseline_${ranked[0]?.[0] ?? 'anomaly'}`,
    finding_ids: live.map((e) => e.finding_id),
    contributions: ranked.map(([detector, points]) => ({
      feature: `baseline:${detector}`,
      points: Math.round(points),
    })),
    signals: ranked.map(([detector]) => `anomaly:${detector}`),
    updated_at: nowMs,
    // score · 0.5^(t/halfLife) = threshold  ⇔  t = halfLife · log2(score / threshold)
    expires_at: nowMs + Math.ceil(s.halfLifeMs * Math.log2(score / threshold)) + 1,
  };
}
