import { agentChainKey, type ChainHead } from '@thoth/common/evidence-chain';
import type { Store } from '@thoth/common/store/store';

export type AuditStore = Pick<Store, 'select' | 'insertRows'>;

/** Which of these event ids the trail already holds (for idempotent writes). */
export async function storedEventIds(
  store: AuditStore,
  tenantIds: string[],
  eventIds: string[],
): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const rows = await store.select<{ event_id: string }>(
    'SELECT event_id FROM events WHERE tenant_id IN {tenants:Array(String)} AND event_id IN {ids:Array(String)}',
    { tenants: tenantIds, ids: eventIds },
  );
  return new Set(rows.map((r) => r.event_id));
}

/**
 * The stored chain head of each agent: the trail itself is the source of truth, so a writer that restarts or
 * takes over a partition after a rebalance continues exactly where the stored chain ends.
 */
export async function storedChainHeads(
  store: AuditStore,
  agents: Array<{ tenantId: string; agentId: string }>,
): Promise<Map<string, ChainHead>> {
  const heads = new Map<string, ChainHead>();
  if (agents.length === 0) return heads;
  const rows = await store.select<{
    tenant_id: string;
    agent_id: string;
    idx: number | string;
    hash: string;
  }>(
    `SELECT tenant_id, agent_id, max(chain_index) AS idx, argMax(hash, chain_index) AS hash
     FROM events WHERE tenant_id IN {tenants:Array(String)} AND agent_id IN {agents:Array(String)}
     GROUP BY tenant_id, agent_id`,
    {
      tenants: [...new Set(agents.map((a) => a.tenantId))],
      agents: [...new Set(agents.map((a) => a.agentId))],
    },
  );
  for (const r of rows)
    heads.set(agentChainKey(r.tenant_id, r.agent_id), { chainIndex: Number(r.idx), hash: r.hash });
  return heads;
}
