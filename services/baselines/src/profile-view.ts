import type { AgentBaseline } from './agent-baseline.ts';
import { anomalyScore, decayedPoints, liveEntries } from './escalation.ts';
import { type QuantileSketch, quantile } from './quantile-sketch.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const round2 = (n: number) => Math.round(n * 100) / 100;

function quantiles(sketch: QuantileSketch) {
  if (sketch.count === 0) return { samples: 0 };
  return {
    samples: sketch.count,
    min: sketch.min,
    p50: round2(quantile(sketch, 0.5)),
    p90: round2(quantile(sketch, 0.9)),
    p99: round2(quantile(sketch, 0.99)),
    max: sketch.max,
  };
}

/** An agent's baseline state: `learning` until its learning period ends, `active` after (it never reopens). */
export function baselineState(b: Pick<AgentBaseline, 'learning_ended_at'>): 'learning' | 'active' {
  return b.learning_ended_at === null ? 'learning' : 'active';
}

/** An agent's baseline as the API shows it (GET /{tenant}/thoth/agents/{id}/baseline), at `nowMs`. */
export function baselineView(b: AgentBaseline, nowMs: number, halfLifeMs: number): Record<string, unknown> {
  const live = liveEntries(b.escalation, nowMs, halfLifeMs);
  return {
    agent_id: b.agent_id,
    calls: b.calls,
    first_seen_at: iso(b.first_seen_at),
    last_seen_at: iso(b.last_seen_at),
    learning: baselineState(b) === 'learning',
    learning_ended_at: iso(b.learning_ended_at),
    learns_from: b.enforces ? 'decisions' : 'tool_call_pre_events',
    tools: Object.entries(b.tools)
      .sort((x, y) => y[1].calls - x[1].calls)
      .map(([name, t]) => ({
        tool_name: name,
        calls: t.calls,
        share: round2(t.calls / Math.max(1, b.calls)),
        argument_keys: t.keys,
        numeric_arguments: Object.fromEntries(Object.entries(t.numeric).map(([k, s]) => [k, quantiles(s)])),
        categorical_arguments: Object.fromEntries(
          Object.entries(t.categorical).map(([k, c]) => [
            k,
            c.overflow ? { free_text: true } : { values: c.values },
          ]),
        ),
        next_tools: t.next,
      })),
    // Calls per rate window (THOTH_BASELINE_RATE_WINDOW_SECONDS) while the agent is active.
    calls_per_window: {
      mean: round2(b.rate.mean),
      stddev: round2(Math.sqrt(b.rate.variance)),
      windows: b.rate.windows,
    },
    hour_of_day: b.hours,
    session_length: quantiles(b.session_length),
    open_sessions: Object.keys(b.sessions).length,
    escalation: {
      anomaly_score: round2(anomalyScore(live, nowMs, halfLifeMs)),
      published_level: b.published_level,
      findings: live.map((e) => ({
        finding_id: e.finding_id,
        detector: e.detector,
        subject: e.subject,
        points: e.points,
        points_now: round2(decayedPoints(e, nowMs, halfLifeMs)),
        at: iso(e.at),
      })),
    },
  };
}
