import { agentChainKey, type ChainHead, ChainVerifier, GENESIS_HASH } from '@thoth/contracts';
import { clickhouseTime, ownBytes } from '@thoth/platform';
import { describe, expect, it } from 'vitest';
import type { EventRow } from './event-rows.ts';
import { BodyBuffers, EVENTS_BODY_FORMAT, EventsBodyWriter, StoredTimes } from './events-body.ts';

const row = (n: number, agent = 'agent "quoted" \\ back'): EventRow => ({
  tenant_id: 'acme',
  agent_id: agent,
  occurred_at_ms: Date.UTC(2026, 10, 24, 9, 30, 1, 7) + n * 997,
  event_id: `e-${n}`,
  kind: 'behavioral',
  event_type: 'TOOL_CALL_PRE',
  session_id: 's-1',
  user_id: 'alice@example.com',
  tool_name: 'search_docs',
  decision: n % 2 ? 'ALLOW' : '',
  reason_code: '',
  risk_score: n % 101,
  enforcement_mode: 'progressive',
  violation_id: '',
  enforcement_trace_id: 'trace\n1',
  content: `line 1\nline 2\t"tab" \u2028 ünïcode \ud83d\ude00 lone \ud800 #${n}`,
  payload: JSON.stringify({ content: 'x "y"', nested: { a: [1, 2.5, null] }, n }),
  ingested_at_ms: Date.UTC(2026, 10, 24, 9, 30, 2, 0) + n,
});

/** The body's lines as objects keyed by the format's columns. */
function parseBody(body: Buffer): Array<Record<string, unknown>> {
  const { columns } = EVENTS_BODY_FORMAT as { columns: readonly string[] };
  const text = body.toString('utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => {
      const values = JSON.parse(line) as unknown[];
      expect(values).toHaveLength(columns.length);
      return Object.fromEntries(columns.map((c, i) => [c, values[i]]));
    });
}

describe('EventsBodyWriter', () => {
  it('writes each row as the positional JSON of its columns, linked into its agent chain', () => {
    const heads = new Map<string, ChainHead>();
    const rows = [row(0), row(1, 'b'), row(2), row(3, 'b'), row(4)];
    // Small, so the buffer must grow on the way.
    const writer = new EventsBodyWriter(Buffer.alloc(16));
    for (const r of rows) writer.append(r, heads);
    const stored = parseBody(writer.body());
    expect(stored).toHaveLength(rows.length);
    stored.forEach((s, i) => {
      const { occurred_at_ms, ingested_at_ms, ...columns } = rows[i]!;
      expect(s).toMatchObject({
        ...columns,
        occurred_at: clickhouseTime(occurred_at_ms),
        ingested_at: clickhouseTime(ingested_at_ms),
      });
    });
    // What verification recomputes from the stored columns holds: every link, per agent, in order.
    for (const agent of ['agent "quoted" \\ back', 'b']) {
      const verifier = new ChainVerifier(agent);
      const links = stored
        .map((s, i) => ({
          ...rows[i]!,
          ...(s as { chain_index: number; previous_hash: string; hash: string }),
        }))
        .filter((r) => r.agent_id === agent);
      for (const r of links) expect(verifier.check(r)).toBeUndefined();
      expect(links[0]!.previous_hash).toBe(GENESIS_HASH);
      expect(heads.get(agentChainKey('acme', agent))).toEqual(verifier.chainHead);
    }
  });

  it('grows past its first buffer without losing a byte', () => {
    const writer = new EventsBodyWriter(Buffer.alloc(1));
    const heads = new Map<string, ChainHead>();
    const big = { ...row(1), payload: JSON.stringify({ blob: 'é'.repeat(100_000) }) };
    for (let i = 0; i < 3; i++) writer.append({ ...big, event_id: `big-${i}` }, heads);
    const stored = parseBody(writer.body());
    expect(stored.map((s) => s.event_id)).toEqual(['big-0', 'big-1', 'big-2']);
    expect(stored.every((s) => s.payload === big.payload)).toBe(true);
  });
});

describe('BodyBuffers', () => {
  it('hands out shared memory, grown as shared memory too, and the same buffer again once given back', () => {
    const buffers = new BodyBuffers(64 * 1_024);
    const first = buffers.take();
    expect(first.buffer).toBeInstanceOf(SharedArrayBuffer);
    const writer = new EventsBodyWriter(first);
    const heads = new Map<string, ChainHead>();
    writer.append(row(0), heads);
    writer.append(row(1), heads);
    // A body is a view of the buffer: it crosses to the store's thread as it is (see BridgedStore and ownBytes).
    const body = writer.body();
    expect(body.buffer).toBe(first.buffer);
    expect(ownBytes(body)).toBe(body);
    expect(parseBody(body).map((s) => s.event_id)).toEqual(['e-0', 'e-1']);
    // Rows beyond a buffer grow it into shared memory of its own.
    const small = new EventsBodyWriter(new BodyBuffers(16).take());
    small.append(row(0), heads);
    expect(small.buffer.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(small.buffer.length).toBeGreaterThan(16);
    expect(parseBody(small.body())).toHaveLength(1);
    buffers.give(writer.buffer);
    expect(buffers.take()).toBe(writer.buffer);
    expect(buffers.take()).not.toBe(writer.buffer);
  });
});

describe('StoredTimes', () => {
  it('formats exactly as clickhouseTime, whatever the order of the times', () => {
    const times = new StoredTimes();
    const base = Date.UTC(2026, 10, 24, 23, 59, 58, 0);
    const samples = [0, 1, 9, 10, 99, 100, 999, 1_000, 1_001, 2_000, 1_999, -1, 61_000, 0.5, 999.9];
    for (const ms of [0, 1, 999, 1_000, 86_399_999, Date.UTC(9999, 11, 31, 23, 59, 59, 999)])
      expect(times.of(ms)).toBe(clickhouseTime(ms));
    for (const offset of [...samples, ...samples.reverse()])
      expect(times.of(base + offset)).toBe(clickhouseTime(base + offset));
  });
});
