import { agentChainKey, type ChainHead } from '@thoth/contracts';
import type { Store } from '@thoth/platform';

export type AuditStore = Pick<Store, 'select' | 'insertRows' | 'insertBody'>;

export interface AgentSpan {
  tenantId: string;
  agentId: string;
  /** The batch's occurred_at range for this agent, epoch ms. */
  fromMs: number;
  toMs: number;
}

/**
 * A flush whose events occurred within this span asks for its agents' stored events in it, not for its ids.
 * Short: what comes back grows with the span (at 20,000 events/s, 2 s hold at most 40,000 rows).
 */
const NARROW_SPAN_MS = 2_000;
/**
 * URL bytes of event ids per stored-state query: bound parameters travel in the URL, which a ClickHouse server
 * bounds (http_max_uri_size, 1 MiB by default); ids may be up to 512 characters each.
 */
const MAX_ID_BYTES_PER_QUERY = 256 * 1024;

interface StateRow {
  what: 'event' | 'head';
  tenant: string;
  agent: string;
  event_id: string;
  head_index: number | string;
  head_hash: string;
}

/** An event as the trail identifies it: by tenant and event id. */
export interface EventIdentity {
  tenant_id: string;
  event_id: string;
}

/**
 * A set of events by tenant and event id. Event ids come from the SDKs (and from any producer on the events
 * topic), so two tenants may send the same one: an event is the same event only within its tenant. Nested, not
 * one composite string key: a flush looks its 20,000 rows up several times, and building a composite key for
 * each lookup costs the event loop three times what the lookups cost.
 */
export class TenantEventIds {
  private readonly byTenant = new Map<string, Set<string>>();

  has(tenantId: string, eventId: string): boolean {
    return this.byTenant.get(tenantId)?.has(eventId) ?? false;
  }

  /** Adds the event; false when it was there already. */
  add(tenantId: string, eventId: string): boolean {
    const ids = this.byTenant.get(tenantId);
    if (!ids) {
      this.byTenant.set(tenantId, new Set([eventId]));
      return true;
    }
    const size = ids.size;
    return ids.add(eventId).size > size;
  }

  delete(tenantId: string, eventId: string): void {
    const ids = this.byTenant.get(tenantId);
    if (ids?.delete(eventId) && ids.size === 0) this.byTenant.delete(tenantId);
  }

  clear(): void {
    this.byTenant.clear();
  }

  /** Every event of the set. */
  identities(): EventIdentity[] {
    const out: EventIdentity[] = [];
    for (const [tenant_id, ids] of this.byTenant)
      for (const event_id of ids) out.push({ tenant_id, event_id });
    return out;
  }

  get empty(): boolean {
    return this.byTenant.size === 0;
  }
}

/**
 * The flush that holds each event not stored yet, by tenant and event id (nested, as TenantEventIds): one probe
 * tells an arriving event's copy apart, however many flushes are open.
 */
export class EventOwners<F> {
  private readonly byTenant = new Map<string, Map<string, F>>();

  get(tenantId: string, eventId: string): F | undefined {
    return this.byTenant.get(tenantId)?.get(eventId);
  }

  set(tenantId: string, eventId: string, owner: F): void {
    const owners = this.byTenant.get(tenantId);
    if (owners) owners.set(eventId, owner);
    else this.byTenant.set(tenantId, new Map([[eventId, owner]]));
  }

  /** Forgets the event if `owner` holds it. */
  release(tenantId: string, eventId: string, owner: F): void {
    const owners = this.byTenant.get(tenantId);
    if (owners?.get(eventId) !== owner) return;
    owners.delete(eventId);
    if (owners.size === 0) this.byTenant.delete(tenantId);
  }

  clear(): void {
    this.byTenant.clear();
  }
}

/** What the trail already holds for a flush: which of its events, and each agent's chain head. */
export interface StoredState {
  events: TenantEventIds;
  heads: Map<string, ChainHead>;
}

/**
 * One query for both things a flush must know before it links and inserts (one query, not two: chDB runs
 * parameterized queries one after the other, and the audit writer builds its insert while this one runs).
 *
 * - Which of these events the trail already holds, by tenant and event id. A redelivered event has the same
 *   tenant, agent and occurred_at, so the lookup stays inside the sort-key range of the batch and does not grow
 *   with history. Rows come back with their tenant: the filter below is a cross product of the flush's tenants
 *   and agents, so a row of another tenant with the same event id can match it and must not count.
 * - The stored chain head of each agent: the trail itself is the source of truth, so a writer that restarts or
 *   takes over a partition after a rebalance continues exactly where the stored chain ends. `known` heads (this
 *   writer's own, from earlier flushes) are only checked for anything stored past them, which the minmax index
 *   on chain_index answers without reading the agent's history; unknown agents are read in full once.
 */
export async function storedState(
  store: AuditStore,
  spans: AgentSpan[],
  events: readonly EventIdentity[],
  known: ReadonlyMap<string, ChainHead> = new Map(),
): Promise<StoredState> {
  const state: StoredState = { events: new TenantEventIds(), heads: new Map() };
  if (spans.length === 0) return state;
  const keyed = [...new Map(spans.map((s) => [agentChainKey(s.tenantId, s.agentId), s])).entries()];
  const cached = keyed.filter(([key]) => known.has(key));
  const fresh = keyed.filter(([key]) => !known.has(key));
  for (const [key] of cached) state.heads.set(key, known.get(key)!);

  const selects: string[] = [];
  const params: Record<string, unknown> = {};
  let eventSelect = '';
  const idChunks: string[][] = [];
  const names = (group: typeof keyed, prefix: string) => {
    params[`${prefix}_tenants`] = [...new Set(group.map(([, s]) => s.tenantId))];
    params[`${prefix}_agents`] = [...new Set(group.map(([, s]) => s.agentId))];
    return `tenant_id IN {${prefix}_tenants:Array(String)} AND agent_id IN {${prefix}_agents:Array(String)}`;
  };
  if (events.length > 0) {
    // Within narrow time spans, every stored event of these agents in its agent's span comes back and is matched
    // here: binding thousands of ids costs chDB more than reading the few rows the spans hold (usually none). Each
    // agent's own span, not one span over all of them: partitions consumed at different paces make a flush's span
    // wide (seconds) while each agent's is a batch or two. A wider span (SDK batches that cover longer, an SDK
    // that buffered offline) could hold many: the ids filter in the query.
    params.from = Math.min(...spans.map((s) => s.fromMs));
    params.to = Math.max(...spans.map((s) => s.toMs));
    // By agent id: an agent id two tenants share gets the span covering both (a few more rows to match, no fewer).
    const byAgent = new Map<string, { fromMs: number; toMs: number }>();
    for (const s of spans) {
      const span = byAgent.get(s.agentId);
      if (span) {
        span.fromMs = Math.min(span.fromMs, s.fromMs);
        span.toMs = Math.max(span.toMs, s.toMs);
      } else byAgent.set(s.agentId, { fromMs: s.fromMs, toMs: s.toMs });
    }
    const narrow = [...byAgent.values()].every((s) => s.toMs - s.fromMs <= NARROW_SPAN_MS);
    let filter: string;
    if (narrow) {
      params.span_agents = [...byAgent.keys()];
      params.span_from = [...byAgent.values()].map((s) => s.fromMs);
      params.span_to = [...byAgent.values()].map((s) => s.toMs);
      filter = `toUnixTimestamp64Milli(occurred_at)
          BETWEEN transform(agent_id, {span_agents:Array(String)}, {span_from:Array(Int64)}, toInt64(0))
          AND transform(agent_id, {span_agents:Array(String)}, {span_to:Array(Int64)}, toInt64(0))`;
    } else filter = 'event_id IN {ids:Array(String)}';
    // The span over all of them selects the granules (the sort key is tenant, agent, occurred_at).
    eventSelect = `SELECT 'event' AS what, toString(tenant_id) AS tenant, '' AS agent, event_id, toUInt64(0) AS head_index, '' AS head_hash
       FROM events WHERE ${names(keyed, 'all')}
         AND occurred_at BETWEEN fromUnixTimestamp64Milli({from:Int64}) AND fromUnixTimestamp64Milli({to:Int64})
         AND ${filter}`;
    if (!narrow) {
      const ids = [...new Set(events.map((e) => e.event_id))];
      idChunks.push(...chunksOfUrlBytes(ids, MAX_ID_BYTES_PER_QUERY));
      params.ids = idChunks[0];
    }
    selects.push(eventSelect);
  }
  const heads = (group: typeof keyed, prefix: string, after: number) => {
    params[`${prefix}_after`] = after;
    selects.push(
      `SELECT 'head' AS what, toString(tenant_id) AS tenant, agent_id AS agent, '' AS event_id,
              max(chain_index) AS head_index, argMax(hash, chain_index) AS head_hash
       FROM events WHERE ${names(group, prefix)} AND chain_index > {${prefix}_after:UInt64}
       GROUP BY tenant_id, agent_id`,
    );
  };
  if (fresh.length > 0) heads(fresh, 'fresh', 0);
  if (cached.length > 0)
    heads(cached, 'cached', Math.min(...cached.map(([key]) => known.get(key)!.chainIndex)));

  const rows = await store.select<StateRow>(selects.join('\nUNION ALL\n'), params);
  // Bound parameters travel in the URL, which a ClickHouse server bounds (http_max_uri_size, 1 MiB by default):
  // the ids of a large flush are asked a chunk per query.
  for (const ids of idChunks.slice(1))
    rows.push(
      ...(await store.select<StateRow>(eventSelect, {
        all_tenants: params.all_tenants,
        all_agents: params.all_agents,
        from: params.from,
        to: params.to,
        ids,
      })),
    );
  // Built only when an event came back (usually none): a flush's thousands of ids need not be set up for nothing.
  let asked: TenantEventIds | undefined;
  for (const r of rows) {
    if (r.what === 'event') {
      if (!asked) {
        asked = new TenantEventIds();
        for (const e of events) asked.add(e.tenant_id, e.event_id);
      }
      if (asked.has(r.tenant, r.event_id)) state.events.add(r.tenant, r.event_id);
      continue;
    }
    const key = agentChainKey(r.tenant, r.agent);
    const index = Number(r.head_index);
    if (index > (state.heads.get(key)?.chainIndex ?? 0))
      state.heads.set(key, { chainIndex: index, hash: r.head_hash });
  }
  return state;
}

/** Characters form encoding leaves as they are (and that the client's quoting does not escape). */
const URL_PLAIN = /^[A-Za-z0-9*._-]*$/;

/**
 * `values` in consecutive chunks whose size in a URL, as an Array(String) parameter (quoted, escaped, comma-separated,
 * percent-encoded), stays within `maxBytes`; a value larger than that alone is a chunk of its own.
 */
export function chunksOfUrlBytes(values: readonly string[], maxBytes: number): string[][] {
  const chunks: string[][] = [];
  let chunk: string[] = [];
  let bytes = 0;
  for (const value of values) {
    // As the client writes it: escaped, quoted, form-encoded (the quotes and the comma around it add 9). Most ids
    // need neither (UUIDs, ULIDs), and measuring them through URLSearchParams cost a wide flush milliseconds.
    const size = URL_PLAIN.test(value)
      ? value.length + 9
      : new URLSearchParams({ v: value.replaceAll('\\', '\\\\').replaceAll("'", "\\'") }).toString().length -
        2 +
        9;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(value);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
