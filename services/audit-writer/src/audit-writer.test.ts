import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BehavioralEvent, type ChainFields, type ChainLink, ChainVerifier } from '@thoth/contracts';
import {
  AvroCodec,
  type Batch,
  type Bus,
  clickhouseTime,
  createLogger,
  type IncomingMessage,
  Store,
  type SubscribeOptions,
} from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { behavioralEvent } from '../../../test/fixtures.ts';
import type { AuditStore } from './audit-store.ts';
import { AuditWriter } from './audit-writer.ts';

/**
 * The writer links and encodes rows as they arrive and only checks the flush against the store before inserting
 * it (audit-writer.ts). These tests run it on a real store (chDB) with a bus that hands batches over by hand, and
 * go through each way a flush's arrival-time links can be wrong: agents whose head is not known yet, events the
 * trail holds already, a chain another writer moved, a failed insert. Whatever happened, every event is stored
 * once and every agent's chain verifies.
 */

const codec = new AvroCodec();
const TENANT = 'acme';
let store: Store;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'thoth-audit-writer-'));
  store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
});

afterAll(async () => {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

let nextOffset = 0;

function event(agent: string, id: string, at: number): BehavioralEvent {
  return behavioralEvent({
    event_id: id,
    tenant_id: TENANT,
    agent_id: agent,
    session_id: 's-1',
    user_id: 'alice',
    // Quotes and a JSON object: both are escaped in the link text and the stored row.
    content: `find "${id}"`,
    metadata_json: JSON.stringify({ authorization_decision: 'ALLOW', n: id }),
    session_tool_calls: [],
    occurred_at: at,
    ingested_at: at,
  });
}

const T0 = Date.UTC(2026, 10, 24, 9, 0, 0);

/** An event's time, from its id: a delivered copy of an event is the same event, at the same time. */
const timeOf = (id: string) => T0 + (Number(id.split('-').pop()) || 0);

/** A bus batch of one partition: one batch message (as ingest publishes them) per agent. */
function batch(agents: string[], ids: (agent: string) => string[], at?: number): Batch {
  const messages: IncomingMessage[] = agents.flatMap((agent) =>
    codec
      .encodeBatch(
        'thoth.v1.BehavioralEvent',
        `${TENANT}/${agent}`,
        ids(agent).map((id) => event(agent, id, at ?? timeOf(id))),
        { 'thoth-redacted': '1' },
      )
      .map((m) => ({
        topic: 'events',
        partition: 0,
        offset: String(nextOffset++),
        key: m.key,
        value: m.value,
        headers: m.headers ?? {},
        timestamp: T0,
      })),
  );
  return { topic: 'events', partition: 0, messages };
}

const ids = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${prefix}-${from + i}`);

/** A bus that hands batches to the writer's subscription when the test says so. */
class HandBus {
  private handler: SubscribeOptions['handler'] | undefined;

  readonly bus = {
    subscribe: async (options: SubscribeOptions) => {
      this.handler = options.handler;
      return { stop: async () => {} };
    },
    publish: async () => {},
  } as unknown as Bus;

  deliver(b: Batch): Promise<void> {
    return this.handler!(b);
  }
}

/** The store, with a way to fail the next insert. */
function flakyStore(): AuditStore & { failNextInsert(): void } {
  let fail = false;
  return {
    select: (query, params) => store.select(query, params),
    insertRows: (table, rows, settings) => store.insertRows(table, rows, settings),
    insertBody: async (table, chunks, settings, format) => {
      if (fail) {
        fail = false;
        throw new Error('insert failed (test)');
      }
      await store.insertBody(table, chunks, settings, format);
    },
    failNextInsert: () => {
      fail = true;
    },
  };
}

async function startWriter(auditStore: AuditStore = store) {
  const hand = new HandBus();
  const writer = new AuditWriter({
    bus: hand.bus,
    codec,
    store: auditStore,
    eventsTopic: 'events',
    log: createLogger('silent'),
    flushRows: 300,
    flushMs: 5,
  });
  await writer.start();
  return { hand, writer };
}

type StoredLink = ChainFields & ChainLink;

/** Every stored row of these agents, per agent in chain order, each chain verified from its genesis. */
async function chainsOf(agents: string[]): Promise<Map<string, string[]>> {
  const rows = await store.select<
    Omit<StoredLink, 'chain_index' | 'risk_score' | 'occurred_at_ms'> & {
      chain_index: string;
      risk_score: number;
      occurred_at_ms: string;
    }
  >(
    `SELECT tenant_id, agent_id, event_id, kind, event_type, session_id, user_id, tool_name, decision, reason_code,
            risk_score, enforcement_mode, violation_id, enforcement_trace_id, content, payload,
            toUnixTimestamp64Milli(occurred_at) AS occurred_at_ms, chain_index, previous_hash, hash
     FROM events WHERE tenant_id = {tenant:String} AND agent_id IN {agents:Array(String)}
     ORDER BY agent_id, chain_index`,
    { tenant: TENANT, agents },
  );
  const chains = new Map<string, string[]>();
  const verifiers = new Map<string, ChainVerifier>();
  for (const r of rows) {
    const row: StoredLink = {
      ...r,
      chain_index: Number(r.chain_index),
      occurred_at_ms: Number(r.occurred_at_ms),
    };
    const verifier = verifiers.get(row.agent_id) ?? new ChainVerifier(row.agent_id);
    verifiers.set(row.agent_id, verifier);
    expect(verifier.check(row)).toBeUndefined();
    chains.set(row.agent_id, [...(chains.get(row.agent_id) ?? []), row.event_id]);
  }
  return chains;
}

describe('AuditWriter on a real store', () => {
  it('links rows on arrival once it knows their agents, pipelining flushes, each event once', async () => {
    const { hand, writer } = await startWriter();
    const agents = ['steady-a', 'steady-b', 'steady-c'];
    // Many batches in flight at once, as the bus's lanes deliver them: flushes gather while others are stored.
    const deliveries: Promise<void>[] = [];
    for (let n = 0; n < 12; n++)
      deliveries.push(hand.deliver(batch(agents, (a) => ids(a, n * 100, n * 100 + 100))));
    await Promise.all(deliveries);
    await writer.stop();
    const chains = await chainsOf(agents);
    for (const agent of agents) expect(chains.get(agent)).toEqual(ids(agent, 0, 1_200));
  });

  it('a restarted writer skips what the trail holds and continues every chain from the store', async () => {
    const agents = ['restart-a', 'restart-b'];
    const first = await startWriter();
    await first.hand.deliver(batch(agents, (a) => ids(a, 0, 250)));
    await first.writer.stop();
    // The batch came again (its commit was lost), with more behind it.
    const second = await startWriter();
    await Promise.all([
      second.hand.deliver(batch(agents, (a) => ids(a, 0, 250))),
      second.hand.deliver(batch(agents, (a) => ids(a, 250, 500))),
      second.hand.deliver(batch(agents, (a) => ids(a, 500, 800))),
    ]);
    await second.writer.stop();
    const chains = await chainsOf(agents);
    for (const agent of agents) expect(chains.get(agent)).toEqual(ids(agent, 0, 800));
  });

  it('an event delivered again while its first copy is not stored yet is skipped', async () => {
    const { hand, writer } = await startWriter();
    const agents = ['copy-a'];
    const first = batch(agents, (a) => ids(a, 0, 200));
    await Promise.all([
      hand.deliver(first),
      hand.deliver(batch(agents, (a) => [...ids(a, 100, 200), ...ids(a, 200, 300)])),
      hand.deliver(first),
    ]);
    await writer.stop();
    expect((await chainsOf(agents)).get('copy-a')).toEqual(ids('copy-a', 0, 300));
  });

  it('a flush linked on arrival over events the trail holds is built again; the flushes behind it too', async () => {
    const { hand, writer } = await startWriter();
    const agents = ['rebuild-a', 'rebuild-b'];
    await hand.deliver(batch(agents, (a) => ids(a, 0, 100)));
    // Known heads now: the next rows link on arrival. Events 50…99 are stored already (a redelivered range).
    await Promise.all([
      hand.deliver(batch(agents, (a) => ids(a, 50, 400))),
      hand.deliver(batch(agents, (a) => ids(a, 400, 700))),
      hand.deliver(batch(agents, (a) => ids(a, 700, 1_000))),
    ]);
    await writer.stop();
    const chains = await chainsOf(agents);
    for (const agent of agents) expect(chains.get(agent)).toEqual(ids(agent, 0, 1_000));
  });

  it('a chain another writer moved is continued from the store', async () => {
    const { hand, writer } = await startWriter();
    const agents = ['moved-a'];
    await hand.deliver(batch(agents, (a) => ids(a, 0, 100)));
    // Another writer (a rebalance) linked two rows onto the chain meanwhile.
    const [head] = await store.select<{ chain_index: string; hash: string }>(
      `SELECT chain_index, hash FROM events WHERE tenant_id = {tenant:String} AND agent_id = 'moved-a'
       ORDER BY chain_index DESC LIMIT 1`,
      { tenant: TENANT },
    );
    expect(Number(head!.chain_index)).toBe(100);
    const otherHand = new HandBus();
    const otherWriter = new AuditWriter({
      bus: otherHand.bus,
      codec,
      store,
      eventsTopic: 'events',
      log: createLogger('silent'),
      flushMs: 5,
    });
    await otherWriter.start();
    await otherHand.deliver(batch(agents, () => ['moved-a-other-1', 'moved-a-other-2']));
    await otherWriter.stop();
    await hand.deliver(batch(agents, (a) => ids(a, 100, 300)));
    await writer.stop();
    expect((await chainsOf(agents)).get('moved-a')).toEqual([
      ...ids('moved-a', 0, 100),
      'moved-a-other-1',
      'moved-a-other-2',
      ...ids('moved-a', 100, 300),
    ]);
  });

  it('a failed insert fails its flush and those gathered behind it; delivered again, all are stored once', async () => {
    const flaky = flakyStore();
    const { hand, writer } = await startWriter(flaky);
    const agents = ['failed-a', 'failed-b'];
    await hand.deliver(batch(agents, (a) => ids(a, 0, 200)));
    flaky.failNextInsert();
    const batches = [300, 600, 900].map((from) => batch(agents, (a) => ids(a, from - 100, from + 200)));
    const outcomes = await Promise.allSettled(batches.map((b) => hand.deliver(b)));
    expect(outcomes.some((o) => o.status === 'rejected')).toBe(true);
    // The bus delivers again from the first failed batch on.
    const firstFailed = outcomes.findIndex((o) => o.status === 'rejected');
    for (const b of batches.slice(firstFailed)) await hand.deliver(b);
    await writer.stop();
    const chains = await chainsOf(agents);
    for (const agent of agents) expect(chains.get(agent)).toEqual(ids(agent, 0, 1_100));
  });

  it('stores the times as the trail reads them', async () => {
    const { hand, writer } = await startWriter();
    const at = Date.UTC(2026, 10, 24, 9, 30, 1, 7);
    await hand.deliver(batch(['times-a'], () => ['times-1'], at));
    await writer.stop();
    const [row] = await store.select<{ occurred_at: string }>(
      "SELECT toString(occurred_at) AS occurred_at FROM events WHERE event_id = 'times-1'",
    );
    expect(row!.occurred_at).toBe(clickhouseTime(at));
  });
});
