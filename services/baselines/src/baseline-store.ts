import type { FindingRecord } from '@thoth/contracts';
import type { Store } from '@thoth/platform';
import { clickhouseTime } from '@thoth/platform';
import { type AgentBaseline, restoredBaseline } from './agent-baseline.ts';

/** The baselines' tables (schemas/clickhouse/0004_baselines.sql): agent state and findings. */
export type BaselineStore = Pick<Store, 'select' | 'insertRows'>;

export const agentId = (tenantId: string, agent: string) => `${tenantId}/${agent}`;

/** The newest saved state of each of these agents (`tenant/agent` keys); agents never saved are absent. */
export async function loadBaselines(store: BaselineStore, keys: string[]): Promise<AgentBaseline[]> {
  if (keys.length === 0) return [];
  const rows = await store.select<{ state: string }>(
    `SELECT argMax(state, version) AS state FROM baseline_state
     WHERE concat(tenant_id, '/', agent_id) IN {keys:Array(String)}
     GROUP BY tenant_id, agent_id`,
    { keys },
  );
  return rows.map((r) => restoredBaseline(JSON.parse(r.state) as AgentBaseline));
}

/** Agents whose newest state has a published directive: the decay timer must see them after a restart. */
export async function loadEscalatedBaselines(store: BaselineStore): Promise<AgentBaseline[]> {
  const rows = await store.select<{ state: string }>(
    `SELECT state FROM (
       SELECT argMax(state, version) AS state, argMax(escalation_level, version) AS level
       FROM baseline_state GROUP BY tenant_id, agent_id
     ) WHERE level != ''`,
  );
  return rows.map((r) => restoredBaseline(JSON.parse(r.state) as AgentBaseline));
}

/** Saves each state as a new version (the caller bumps `version`). */
export function saveBaselines(
  store: BaselineStore,
  baselines: AgentBaseline[],
  nowMs: number,
): Promise<void> {
  return store.insertRows(
    'baseline_state',
    baselines.map((b) => ({
      tenant_id: b.tenant_id,
      agent_id: b.agent_id,
      version: b.version,
      calls: b.calls,
      learning: b.learning_ended_at === null ? 1 : 0,
      escalation_level: b.published_level ?? '',
      updated_at: clickhouseTime(nowMs),
      state: JSON.stringify(b),
    })),
  );
}

export function insertFindings(store: BaselineStore, findings: FindingRecord[]): Promise<void> {
  return store.insertRows(
    'findings',
    findings.map((f) => ({
      tenant_id: f.tenant_id,
      agent_id: f.agent_id,
      occurred_at: clickhouseTime(f.occurred_at),
      finding_id: f.finding_id,
      session_id: f.session_id,
      tool_name: f.tool_name,
      detector: f.detector,
      score: f.score,
      severity: f.severity,
      explanation: f.explanation,
      observed: f.observed_json,
      baseline: f.baseline_json,
      event_ids: f.event_ids,
      learning: f.learning ? 1 : 0,
    })),
  );
}
