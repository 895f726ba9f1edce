import { hash } from 'node:crypto';

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
  return hashOfLinkText(linkText(fields, chainIndex, previousHash));
}

/**
 * Each chain field as its JSON text (`JSON.stringify` of a string, canonical number form of a number). The
 * audit writer escapes a row's fields once and builds both the link text and the stored row from them.
 */
export type ChainFieldsJson = { readonly [K in keyof ChainFields]: string };

export function chainFieldsJson(f: ChainFields): ChainFieldsJson {
  const s = jsonString;
  return {
    tenant_id: s(f.tenant_id),
    agent_id: s(f.agent_id),
    event_id: s(f.event_id),
    kind: s(f.kind),
    event_type: s(f.event_type),
    session_id: s(f.session_id),
    user_id: s(f.user_id),
    tool_name: s(f.tool_name),
    decision: s(f.decision),
    reason_code: s(f.reason_code),
    risk_score: finite(f.risk_score),
    enforcement_mode: s(f.enforcement_mode),
    violation_id: s(f.violation_id),
    enforcement_trace_id: s(f.enforcement_trace_id),
    content: s(f.content),
    payload: s(f.payload),
    occurred_at_ms: finite(f.occurred_at_ms),
  };
}

/** What JSON.stringify escapes in a string: `"`, `\\`, control characters; surrogates (lone ones are escaped). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON escapes.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `JSON.stringify(text)`, quoting text that needs no escape without the serializer: most chain fields are short
 * ids and names, where a scan is cheaper than a call into JSON.stringify.
 */
function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * The text a link's hash covers: canonicalJson (canonical-json.ts) of the object below, written out in its
 * canonical member order by hand because the audit writer hashes every stored event and the generic
 * serializer (sorting keys, walking values) cost more than the hash itself. evidence-chain.test.ts checks the
 * two agree byte for byte, and the offline verifiers (scripts/verify-bundle.mjs) use the generic form.
 *
 *   { v, chain_index, previous_hash, tenant_id, agent_id, event_id, kind, event_type, session_id, user_id,
 *     tool_name, decision, reason_code, risk_score, enforcement_mode, violation_id, enforcement_trace_id,
 *     content, payload, occurred_at_ms }
 */
export function linkText(fields: ChainFields, chainIndex: number, previousHash: string): string {
  return linkTextOf(chainFieldsJson(fields), chainIndex, previousHash);
}

function linkTextOf(j: ChainFieldsJson, chainIndex: number, previousHash: string): string {
  return (
    `{"agent_id":${j.agent_id},"chain_index":${finite(chainIndex)},"content":${j.content}` +
    `,"decision":${j.decision},"enforcement_mode":${j.enforcement_mode}` +
    `,"enforcement_trace_id":${j.enforcement_trace_id},"event_id":${j.event_id}` +
    `,"event_type":${j.event_type},"kind":${j.kind}` +
    `,"occurred_at_ms":${j.occurred_at_ms},"payload":${j.payload}` +
    `,"previous_hash":${JSON.stringify(previousHash)},"reason_code":${j.reason_code}` +
    `,"risk_score":${j.risk_score},"session_id":${j.session_id}` +
    `,"tenant_id":${j.tenant_id},"tool_name":${j.tool_name},"user_id":${j.user_id}` +
    `,"v":${CHAIN_VERSION},"violation_id":${j.violation_id}}`
  );
}

function hashOfLinkText(text: string): string {
  return hash('sha256', text, 'hex');
}

/** A number as canonicalJson prints it (which refuses non-finite numbers rather than writing `null`). */
function finite(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`canonicalJson: non-finite number ${n}`);
  return JSON.stringify(n);
}

/**
 * The next link of an agent's chain for a row whose fields are already JSON text (`chainFieldsJson`),
 * continuing from `heads` (which it advances).
 */
export function nextLink(j: ChainFieldsJson, key: string, heads: Map<string, ChainHead>): ChainLink {
  const head = heads.get(key) ?? EMPTY_HEAD;
  const chain_index = head.chainIndex + 1;
  const digest = hashOfLinkText(linkTextOf(j, chain_index, head.hash));
  heads.set(key, { chainIndex: chain_index, hash: digest });
  return { chain_index, previous_hash: head.hash, hash: digest };
}

export const agentChainKey = (tenantId: string, agentId: string): string => `${tenantId}\u0000${agentId}`;

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
