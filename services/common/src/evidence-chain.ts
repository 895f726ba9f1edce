import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';

/**
 * The tamper-evident evidence chain: per (tenant, agent), every stored event links to the previous one by
 * SHA-256. The exact serialization is documented in schemas/evidence-chain.md; verification recomputes it from
 * the stored columns, so changing any of them (or removing, reordering, inserting a row) breaks the chain at
 * that link. Pure functions: no I/O.
 */

export const CHAIN_VERSION = 1;
/** previous_hash of an agent's first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** The stored columns a link's hash covers (schemas/evidence-chain.md). */
export interface ChainFields {
  tenant_id: string;
  agent_id: string;
  event_id: string;
  kind: string;
  event_type: string;
  session_id: string;
  user_id: string;
  tool_name: string;
  decision: string;
  reason_code: string;
  risk_score: number;
  enforcement_mode: string;
  violation_id: string;
  enforcement_trace_id: string;
  content: string;
  payload: string;
  occurred_at_ms: number;
}

export interface ChainLink {
  chain_index: number;
  previous_hash: string;
  hash: string;
}

export interface ChainHead {
  chainIndex: number;
  hash: string;
}

export const EMPTY_HEAD: ChainHead = { chainIndex: 0, hash: GENESIS_HASH };

export function linkHash(fields: ChainFields, chainIndex: number, previousHash: string): string {
  const hashed = {
    v: CHAIN_VERSION,
    chain_index: chainIndex,
    previous_hash: previousHash,
    tenant_id: fields.tenant_id,
    agent_id: fields.agent_id,
    event_id: fields.event_id,
    kind: fields.kind,
    event_type: fields.event_type,
    session_id: fields.session_id,
    user_id: fields.user_id,
    tool_name: fields.tool_name,
    decision: fields.decision,
    reason_code: fields.reason_code,
    risk_score: fields.risk_score,
    enforcement_mode: fields.enforcement_mode,
    violation_id: fields.violation_id,
    enforcement_trace_id: fields.enforcement_trace_id,
    content: fields.content,
    payload: fields.payload,
    occurred_at_ms: fields.occurred_at_ms,
  };
  return createHash('sha256').update(canonicalJson(hashed)).digest('hex');
}

export const agentChainKey = (tenantId: string, agentId: string): string => `${tenantId}\u0000${agentId}`;

/** Links rows in the order given, continuing each agent's chain from `heads` (which it advances). */
export function linkRows<T extends ChainFields>(
  rows: T[],
  heads: Map<string, ChainHead>,
): Array<T & ChainLink> {
  return rows.map((row) => {
    const key = agentChainKey(row.tenant_id, row.agent_id);
    const head = heads.get(key) ?? EMPTY_HEAD;
    const chain_index = head.chainIndex + 1;
    const hash = linkHash(row, chain_index, head.hash);
    heads.set(key, { chainIndex: chain_index, hash });
    return { ...row, chain_index, previous_hash: head.hash, hash };
  });
}

export type BreachReason = 'hash_mismatch' | 'previous_hash_mismatch' | 'index_gap' | 'duplicate_index';

export interface Breach {
  agent_id: string;
  chain_index: number;
  event_id: string;
  reason: BreachReason;
  expected: string;
  found: string;
}

/**
 * Checks one agent's links in chain_index order, starting after `start` (the genesis by default). Stops at
 * the first broken link. Feed rows incrementally: `verifier.check(row)` returns the breach, if any.
 */
export class ChainVerifier {
  private head: ChainHead;
  checked = 0;
  breach: Breach | undefined;

  constructor(
    readonly agentId: string,
    start: ChainHead = EMPTY_HEAD,
  ) {
    this.head = start;
  }

  get chainHead(): ChainHead {
    return this.head;
  }

  check(row: ChainFields & ChainLink): Breach | undefined {
    if (this.breach) return this.breach;
    this.checked++;
    const expectedIndex = this.head.chainIndex + 1;
    const fail = (reason: BreachReason, expected: string, found: string): Breach => {
      this.breach = {
        agent_id: this.agentId,
        chain_index: row.chain_index,
        event_id: row.event_id,
        reason,
        expected,
        found,
      };
      return this.breach;
    };
    if (row.chain_index === this.head.chainIndex)
      return fail('duplicate_index', String(expectedIndex), String(row.chain_index));
    if (row.chain_index !== expectedIndex)
      return fail('index_gap', String(expectedIndex), String(row.chain_index));
    if (row.previous_hash !== this.head.hash)
      return fail('previous_hash_mismatch', this.head.hash, row.previous_hash);
    const recomputed = linkHash(row, row.chain_index, row.previous_hash);
    if (recomputed !== row.hash) return fail('hash_mismatch', recomputed, row.hash);
    this.head = { chainIndex: row.chain_index, hash: row.hash };
    return undefined;
  }
}
