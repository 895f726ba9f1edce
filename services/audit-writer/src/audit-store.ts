import { agentChainKey, type ChainHead } from '@thoth/common/evidence-chain';
import type { Store } from '@thoth/common/store/store';

export type AuditStore = Pick<Store, 'select' | 'insertRows' | 'insertBody'>;

export interface AgentSpan {
  tenantId: string;
  agentId: string;
  /** The batch's occurred_at range for this agent, epoch ms. */
  fromMs: number;
  toMs: number;
}

/**
 * Which of these event ids the trail already holds. A redelivered event has the same tenant, agent and
 * occurred_at, so the lookup stays inside the sort-key range of the batch and does not grow with history.
 */
export async function storedEventIds(
  store: AuditStore,
  spans: AgentSpan[],
  eventIds: string[],
): Promise<Set<string>> {
  if (eventIds.length === 0 || spans.length === 0) return new Set();
  const fromMs = Math.min(...spans.map((s) => s.fromMs));
  const toMs = Math.max(...spans.map((s) => s.toMs));
  const rows = await store.select<{ event_id: string }>(
    `SELECT event_id FROM events
     WHERE tenant_id IN {tenants:Array(String)} AND agent_id IN {agents:Array(String)}
       AND occurred_at BETWEEN fromUnixTimestamp64Milli({from:Int64}) AND fromUnixTimestamp64Milli({to:Int64})
       AND event_id IN {ids:Array(String)}`,
    {
      tenants: [...new Set(spans.map((s) => s.tenantId))],
      agents: [...new Set(spans.map((s) => s.agentId))],
      from: fromMs,
      to: toMs,
      ids: eventIds,
    },
  );
  return new Set(rows.map((r) => r.event_id));
}

/**
 * The stored chain head of each agent: the trail itself is the source of truth, so a writer that restarts or
 * takes over a partition after a rebalance continues exactly where the stored chain ends. `known` heads (this
 * writer's own, from earlier batches) are only checked for anything stored past them — which the minmax index
 * on chain_index answers without reading the agent's history; unknown agents are read in full once.
 */
export async function storedChainHeads(
  store: AuditStore,
  agents: Array<{ tenantId: string; agentId: string }>,
  known: ReadonlyMap<string, ChainHead> = new Map(),
): Promise<Map<string, ChainHead>> {
  const heads = new Map<string, ChainHead>();
  const unique = [...new Map(agents.map((a) => [agentChainKey(a.tenantId, a.agentId), a])).entries()];
  const cached = unique.filter(([key]) => known.has(key));
  const fresh = unique.filter(([key]) => !known.has(key));
  for (const [key] of cached) heads.set(key, known.get(key)!);
  const lookups: Array<{ group: typeof unique; after: number }> = [];
  if (fresh.length > 0) lookups.push({ group: fresh, after: 0 });
  if (cached.length > 0)
    lookups.push({ group: cached, after: Math.min(...cached.map(([key]) => known.get(key)!.chainIndex)) });
  await Promise.all(
    lookups.map(async ({ group, after }) => {
      const rows = await store.select<{
        tenant_id: string;
        agent_id: string;
        head_index: number | string;
        head_hash: string;
      }>(
        `SELECT tenant_id, agent_id, max(chain_index) AS head_index, argMax(hash, chain_index) AS head_hash
         FROM events
         WHERE tenant_id IN {tenants:Array(String)} AND agent_id IN {agents:Array(String)} AND chain_index > {after:UInt64}
         GROUP BY tenant_id, agent_id`,
        {
          tenants: [...new Set(group.map(([, a]) => a.tenantId))],
          agents: [...new Set(group.map(([, a]) => a.agentId))],
          after,
        },
      );
      for (const r of rows) {
        const key = agentChainKey(r.tenant_id, r.agent_id);
        const index = Number(r.head_index);
        if (index > (heads.get(key)?.chainIndex ?? 0))
          heads.set(key, { chainIndex: index, hash: r.head_hash });
      }
    }),
  );
  return heads;
}
