/** The Agents list and the overview's "agents by current escalation". Pure: tested without a browser. */
export const ESCALATION_LEVELS = ['block', 'step_up', 'warn'] as const;
export type EscalationLevel = (typeof ESCALATION_LEVELS)[number];

/** One agent of `GET /{tenant}/thoth/agents`. */
export interface AgentSummary {
  agent_id: string;
  baseline_state: 'learning' | 'active';
  calls: number;
  escalation_level: EscalationLevel | null;
  escalation_score: number | null;
  last_seen_at: string | null;
  findings_24h: number;
  last_finding_at: string | null;
}

export interface AgentList {
  data: AgentSummary[];
  total: number;
  limit: number;
}

/** The query string of the list: an agent-scoped session names its agent (the API refuses it otherwise). */
export const agentListPath = (tenant: string, agentId: string | null) =>
  `/${encodeURIComponent(tenant)}/thoth/agents${agentId === null ? '' : `?agent_id=${encodeURIComponent(agentId)}`}`;

export interface AgentRow {
  agentId: string;
  /** null: seen in the trail, no baseline yet. */
  baselineState: 'learning' | 'active' | null;
  escalationLevel: EscalationLevel | null;
  escalationScore: number | null;
  /** Epoch ms; null when unknown. */
  lastSeen: number | null;
  findings24h: number;
}

const time = (iso: string | null) => {
  const ms = iso === null ? Number.NaN : Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
};

/** The tenant's control-plane changes form an evidence chain of this pseudo-agent: no agent to list. */
const ADMIN_CHAIN = '_admin';

/**
 * The Agents table: every agent of the list, plus agents seen in the recent trail (`seen`: agent → last
 * activity, epoch ms) that have no baseline yet; most recently seen first, then by id.
 */
export function agentRows(list: readonly AgentSummary[], seen: ReadonlyMap<string, number>): AgentRow[] {
  const rows = new Map<string, AgentRow>();
  for (const a of list) {
    const fromTrail = seen.get(a.agent_id);
    const fromBaseline = time(a.last_seen_at);
    rows.set(a.agent_id, {
      agentId: a.agent_id,
      baselineState: a.baseline_state,
      escalationLevel: a.escalation_level,
      escalationScore: a.escalation_score,
      lastSeen:
        fromTrail === undefined
          ? fromBaseline
          : fromBaseline === null
            ? fromTrail
            : Math.max(fromTrail, fromBaseline),
      findings24h: a.findings_24h,
    });
  }
  for (const [agentId, at] of seen)
    if (!rows.has(agentId) && agentId !== ADMIN_CHAIN)
      rows.set(agentId, {
        agentId,
        baselineState: null,
        escalationLevel: null,
        escalationScore: null,
        lastSeen: at,
        findings24h: 0,
      });
  return [...rows.values()].sort(
    (a, b) => (b.lastSeen ?? -1) - (a.lastSeen ?? -1) || (a.agentId < b.agentId ? -1 : 1),
  );
}

export interface EscalationGroup {
  level: EscalationLevel | 'none';
  /** Strongest score first, then by id. */
  agents: AgentSummary[];
}

/** Agents grouped by current escalation: block, step_up, warn, then none; empty groups left out. */
export function agentsByEscalation(list: readonly AgentSummary[]): EscalationGroup[] {
  return [...ESCALATION_LEVELS, 'none' as const]
    .map((level) => ({
      level,
      agents: list
        .filter((a) => (a.escalation_level ?? 'none') === level)
        .sort(
          (a, b) =>
            (b.escalation_score ?? 0) - (a.escalation_score ?? 0) || (a.agent_id < b.agent_id ? -1 : 1),
        ),
    }))
    .filter((g) => g.agents.length > 0);
}

export const LEVEL_LABELS: Record<EscalationLevel | 'none', string> = {
  block: 'Block',
  step_up: 'Step-up',
  warn: 'Warn',
  none: 'No escalation',
};
