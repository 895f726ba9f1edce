import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';
import {
  agentChainKey,
  type ChainFields,
  type ChainHead,
  type ChainLink,
  ChainVerifier,
  chainFieldsJson,
  EMPTY_HEAD,
  GENESIS_HASH,
  linkHash,
  linkText,
  nextLink,
} from './evidence-chain.ts';

/** The documented object a link hashes (schemas/evidence-chain.md), serialized by the generic canonicalJson. */
const documentedText = (f: ChainFields, chainIndex: number, previousHash: string): string =>
  canonicalJson({
    v: 1,
    chain_index: chainIndex,
    previous_hash: previousHash,
    tenant_id: f.tenant_id,
    agent_id: f.agent_id,
    event_id: f.event_id,
    kind: f.kind,
    event_type: f.event_type,
    session_id: f.session_id,
    user_id: f.user_id,
    tool_name: f.tool_name,
    decision: f.decision,
    reason_code: f.reason_code,
    risk_score: f.risk_score,
    enforcement_mode: f.enforcement_mode,
    violation_id: f.violation_id,
    enforcement_trace_id: f.enforcement_trace_id,
    content: f.content,
    payload: f.payload,
    occurred_at_ms: f.occurred_at_ms,
  });

const row = (n: number, agent = 'a'): ChainFields => ({
  tenant_id: 't',
  agent_id: agent,
  event_id: `e${n}`,
  kind: 'behavioral',
  event_type: 'TOOL_CALL_PRE',
  session_id: 's',
  user_id: 'u',
  tool_name: 'search_docs',
  decision: '',
  reason_code: '',
  risk_score: 0,
  enforcement_mode: 'progressive',
  violation_id: '',
  enforcement_trace_id: '',
  content: `call ${n}`,
  payload: '{}',
  occurred_at_ms: 1_764_000_000_000 + n,
});

/** Links rows in order as the audit writer does: each row's next link from the agent's head. */
function linkRows(rows: ChainFields[], heads: Map<string, ChainHead>): Array<ChainFields & ChainLink> {
  return rows.map((r) => ({
    ...r,
    ...nextLink(chainFieldsJson(r), agentChainKey(r.tenant_id, r.agent_id), heads),
  }));
}

describe('evidence chain', () => {
  it('links each agent from the genesis, continuing from known heads', () => {
    const heads = new Map();
    const linked = linkRows([row(1), row(2, 'b'), row(3)], heads);
    expect(linked.map((r) => [r.agent_id, r.chain_index])).toEqual([
      ['a', 1],
      ['b', 1],
      ['a', 2],
    ]);
    expect(linked[0]!.previous_hash).toBe(GENESIS_HASH);
    expect(linked[2]!.previous_hash).toBe(linked[0]!.hash);
    const more = linkRows([row(4)], heads);
    expect(more[0]!.chain_index).toBe(3);
    expect(more[0]!.previous_hash).toBe(linked[2]!.hash);
  });

  it('is deterministic and covers every stored column', () => {
    const base = linkHash(row(1), 1, GENESIS_HASH);
    expect(linkHash(row(1), 1, GENESIS_HASH)).toBe(base);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    for (const [field, value] of Object.entries({
      content: 'x',
      decision: 'BLOCK',
      risk_score: 1,
      payload: '{"a":1}',
      occurred_at_ms: 1,
    }))
      expect(linkHash({ ...row(1), [field]: value }, 1, GENESIS_HASH)).not.toBe(base);
    expect(linkHash(row(1), 2, GENESIS_HASH)).not.toBe(base);
  });

  it('writes exactly the canonical JSON of the documented object (the fast path is byte-identical)', () => {
    const awkward = [
      '',
      'plain',
      'quote " backslash \\ newline \n tab \t',
      'ünïcødé 🚀 \u2028',
      '\u0000\u001f\ud800',
      '{"a":[1,2]}',
    ];
    let n = 0;
    for (const text of awkward)
      for (const field of Object.keys(row(0)) as Array<keyof ChainFields>) {
        const fields = {
          ...row(n++),
          [field]: typeof row(0)[field] === 'number' ? n * 1.5 : text,
        } as ChainFields;
        expect(linkText(fields, n, GENESIS_HASH)).toBe(documentedText(fields, n, GENESIS_HASH));
      }
    // Pinned: a change of the serialization breaks every stored chain, so it must never happen by accident.
    expect(linkHash(row(1), 1, GENESIS_HASH)).toBe(
      createHash('sha256')
        .update(documentedText(row(1), 1, GENESIS_HASH))
        .digest('hex'),
    );
    expect(linkHash(row(1), 1, GENESIS_HASH)).toBe(
      '802257910a67625e52f5f87ac76fdf8f17c5425f1db2a9662e55c9b0d523aa5d',
    );
    expect(() => linkText({ ...row(1), risk_score: Number.NaN }, 1, GENESIS_HASH)).toThrow(/non-finite/);
  });

  it('escapes every field exactly as JSON.stringify, and links varied events exactly as the canonical form', () => {
    // Deterministic variety: ids, unicode (BMP, astral, lone surrogates, U+2028), escapes, control and DEL
    // characters, JSON payloads with nulls and nested numbers, numbers of every shape.
    const pieces = [
      'agent-007',
      'bench-corp',
      'ünïcødé',
      '日本語',
      '🚀',
      '\ud83d',
      '\ude00',
      '\u2028\u2029',
      '"',
      '\\',
      '\n\r\t\b\f',
      '\u0000\u0001\u001f',
      '\u007f',
      ' ',
      '{"a":null,"b":[1,2.5,-0,1e21],"c":"x\\"y"}',
      'null',
      '',
    ];
    const numbers = [0, -0, 1, 42, 100, 0.1, 1.5, -3, 1e21, 2 ** 53, 1_764_000_000_123, 5e-7];
    let seed = 7;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    const text = () =>
      Array.from({ length: next() % 4 }, () => pieces[next() % pieces.length]!).join(next() % 2 ? '' : '-');
    for (let n = 0; n < 2_000; n++) {
      const fields: ChainFields = {
        tenant_id: text(),
        agent_id: text(),
        event_id: text(),
        kind: text(),
        event_type: text(),
        session_id: text(),
        user_id: text(),
        tool_name: text(),
        decision: text(),
        reason_code: text(),
        risk_score: numbers[next() % numbers.length]!,
        enforcement_mode: text(),
        violation_id: text(),
        enforcement_trace_id: text(),
        content: text(),
        payload: JSON.stringify({ n, text: text(), none: null, list: [numbers[next() % numbers.length]] }),
        occurred_at_ms: numbers[next() % numbers.length]!,
      };
      const json = chainFieldsJson(fields);
      for (const key of Object.keys(fields) as Array<keyof ChainFields>)
        expect(json[key]).toBe(JSON.stringify(fields[key]));
      const previous = n % 3 === 0 ? GENESIS_HASH : linkHash(fields, n, GENESIS_HASH);
      expect(linkText(fields, n + 1, previous)).toBe(documentedText(fields, n + 1, previous));
      const heads = new Map<string, ChainHead>([['k', { chainIndex: n, hash: previous }]]);
      expect(nextLink(json, 'k', heads).hash).toBe(
        createHash('sha256')
          .update(documentedText(fields, n + 1, previous))
          .digest('hex'),
      );
    }
  });

  it('verifies an intact chain and reports exactly the first broken link', () => {
    const linked = linkRows(
      [1, 2, 3, 4, 5].map((n) => row(n)),
      new Map(),
    );
    const intact = new ChainVerifier('a');
    for (const r of linked) expect(intact.check(r)).toBeUndefined();
    expect(intact.checked).toBe(5);
    expect(intact.chainHead).toEqual({ chainIndex: 5, hash: linked[4]!.hash });

    const tampered = linked.map((r) => (r.chain_index === 3 ? { ...r, content: 'edited' } : r));
    const v = new ChainVerifier('a');
    const breaches = tampered.map((r) => v.check(r)).filter(Boolean);
    expect(breaches[0]).toMatchObject({ chain_index: 3, event_id: 'e3', reason: 'hash_mismatch' });

    const gap = new ChainVerifier('a', EMPTY_HEAD);
    for (const r of [linked[0]!, linked[2]!]) gap.check(r);
    expect(gap.breach).toMatchObject({ chain_index: 3, reason: 'index_gap' });

    const dup = new ChainVerifier('a');
    for (const r of [linked[0]!, linked[0]!]) dup.check(r);
    expect(dup.breach).toMatchObject({ reason: 'duplicate_index' });
  });
});
