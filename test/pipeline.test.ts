import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentKey, dlqTopic, topicNames, topicSpecs } from '@thoth/contracts';
import type { Bus, IncomingMessage } from '@thoth/platform';
import { AvroCodec, FINGERPRINT_HEADER, SCHEMA_HEADER, Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChains } from '../services/api/src/soc/evidence.ts';
import { AuditWriter } from '../services/audit-writer/src/audit-writer.ts';
import { behavioralEvent } from './fixtures.ts';
import { adapters, quietLog, uniquePrefix, waitFor } from './helpers.ts';

// One chDB per process: every adapter's run writes to the same embedded store, under its own tenant.
let store: Store;
let dataDir: string;
const codec = new AvroCodec();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'thoth-pipeline-'));
  store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
});
afterAll(async () => {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Order-independent checksum: the sum of the first 32 bits of SHA-256(event_id). */
const jsChecksum = (ids: string[]) =>
  ids.reduce(
    (sum, id) => sum + Number.parseInt(createHash('sha256').update(id).digest('hex').slice(0, 8), 16),
    0,
  );

async function storedStats(tenant: string) {
  const [row] = await store.select<{ n: number; uniq: number; checksum: number }>(
    `SELECT count() AS n, uniqExact(event_id) AS uniq,
            sum(toUInt64(reinterpretAsUInt32(reverse(substring(SHA256(event_id), 1, 4))))) AS checksum
     FROM events WHERE tenant_id = {tenant:String}`,
    { tenant },
  );
  return { n: Number(row!.n), uniq: Number(row!.uniq), checksum: Number(row!.checksum) };
}

describe.each(adapters)('pipeline on the $name adapter', (adapter) => {
  let bus: Bus;
  let topics: ReturnType<typeof topicNames>;
  const tenant = `tenant-${adapter.name}`;

  beforeAll(async () => {
    bus = adapter.create();
    topics = topicNames(uniquePrefix(`pipe-${adapter.name}`));
    await bus.ensureTopics(topicSpecs(topics, 3));
  });
  afterAll(async () => {
    await bus.close();
  });

  it('delivers 10,000 Avro events through a consumer group into ClickHouse exactly', async () => {
    const events = Array.from({ length: 10_000 }, (_, i) =>
      behavioralEvent({ tenant_id: tenant, agent_id: `agent-${i % 20}`, session_id: `s-${i % 100}` }),
    );
    for (let i = 0; i < events.length; i += 1_000) {
      await bus.publish(
        topics.events,
        events
          .slice(i, i + 1_000)
          .map((e) => codec.encode('thoth.v1.BehavioralEvent', agentKey(e.tenant_id, e.agent_id), e)),
      );
    }
    const writer = new AuditWriter({ bus, codec, store, eventsTopic: topics.events, log: quietLog });
    await writer.start();
    await waitFor('10,000 rows', async () => (await storedStats(tenant)).n >= 10_000, 90_000);
    await writer.stop();
    const stats = await storedStats(tenant);
    expect(stats.n).toBe(10_000);
    expect(stats.uniq).toBe(10_000);
    expect(stats.checksum).toBe(jsChecksum(events.map((e) => e.event_id)));
  });

  it('redelivers after a failure mid-stream without leaving a duplicate row', async () => {
    const redeliveryTenant = `${tenant}-redelivery`;
    const events = Array.from({ length: 3_000 }, (_, i) =>
      behavioralEvent({ tenant_id: redeliveryTenant, agent_id: `agent-${i % 5}` }),
    );
    let inserts = 0;
    let failed = false;
    // The failure comes after the rows were stored, so the redelivered batch writes the same rows again.
    const flakyStore: Pick<Store, 'select' | 'insertRows' | 'insertBody'> = {
      select: (q, p) => store.select(q, p),
      insertRows: (table, rows, settings) => store.insertRows(table, rows, settings),
      insertBody: async (table, chunks, settings, format) => {
        await store.insertBody(table, chunks, settings, format);
        if (++inserts === 2 && !failed) {
          // Slowly: the next flush is prepared meanwhile, linked on top of this one, and must be dropped with it.
          await new Promise((r) => setTimeout(r, 300));
          failed = true;
          throw new Error('injected failure after insert');
        }
      },
    };
    const writer = new AuditWriter({
      bus,
      codec,
      store: flakyStore,
      eventsTopic: topics.events,
      log: quietLog,
      group: `${topics.events}.audit-writer-redelivery`,
      maxBatchSize: 500,
    });
    await writer.start();
    for (let i = 0; i < events.length; i += 500) {
      await bus.publish(
        topics.events,
        events
          .slice(i, i + 500)
          .map((e) => codec.encode('thoth.v1.BehavioralEvent', agentKey(e.tenant_id, e.agent_id), e)),
      );
    }
    await waitFor('3,000 rows', async () => (await storedStats(redeliveryTenant)).uniq >= 3_000, 90_000);
    await new Promise((r) => setTimeout(r, 1_000));
    await writer.stop();
    expect(failed).toBe(true);
    const stats = await storedStats(redeliveryTenant);
    expect(stats.n).toBe(3_000);
    expect(stats.uniq).toBe(3_000);
    // The flush prepared on top of the failed one was dropped with it; the flush after the failure was first
    // built on the writer's cached heads, which the failed insert had not advanced; the lookups found its rows
    // stored and it was built again: every chain still links.
    const verified = await verifyChains(store, redeliveryTenant, []);
    expect(verified.breach_detail).toBeNull();
    expect(verified).toMatchObject({ verified: true, records_checked: 3_000, agents_checked: 5 });
  });

  it('sends poison messages to the DLQ with a reason and goes on with the rest', async () => {
    const poisonTenant = `${tenant}-poison`;
    const key = agentKey(poisonTenant, 'agent-p');
    const before = behavioralEvent({ tenant_id: poisonTenant, agent_id: 'agent-p' });
    const after = behavioralEvent({ tenant_id: poisonTenant, agent_id: 'agent-p' });
    const good = codec.encode('thoth.v1.BehavioralEvent', key, before);
    await bus.publish(topics.events, [
      good,
      {
        key,
        value: Buffer.from('not avro at all'),
        headers: { [SCHEMA_HEADER]: 'x', [FINGERPRINT_HEADER]: 'ffffffffffffffff' },
      },
      { key, value: Buffer.from([0xff, 0xff, 0xff]), headers: good.headers },
      { key, value: Buffer.from('no headers') },
      // A batch message of a record type the audit writer does not store: refused once, as one message.
      ...codec.encodeBatch('thoth.v1.Tenant', key, [
        {
          tenant_id: 'x',
          created_at: 1,
          created_by: 'a',
          display_name: null,
          rate_limit_per_second: null,
          disabled: false,
        },
        {
          tenant_id: 'y',
          created_at: 1,
          created_by: 'a',
          display_name: null,
          rate_limit_per_second: null,
          disabled: false,
        },
      ]),
      codec.encode('thoth.v1.BehavioralEvent', key, after),
      ...codec.encodeBatch(
        'thoth.v1.BehavioralEvent',
        key,
        [1, 2, 3].map(() => behavioralEvent({ tenant_id: poisonTenant, agent_id: 'agent-p' })),
      ),
    ]);
    const dlq: IncomingMessage[] = [];
    const dlqSub = await bus.subscribe({
      group: `${topics.events}.dlq-reader`,
      topics: [dlqTopic(topics.events)],
      handler: async (batch) => void dlq.push(...batch.messages),
    });
    const writer = new AuditWriter({
      bus,
      codec,
      store,
      eventsTopic: topics.events,
      log: quietLog,
      group: `${topics.events}.audit-writer-poison`,
    });
    await writer.start();
    await waitFor('the five good events', async () => (await storedStats(poisonTenant)).n >= 5);
    await waitFor('four dead letters', () => dlq.length >= 4);
    await writer.stop();
    await dlqSub.stop();
    expect((await storedStats(poisonTenant)).n).toBe(5);
    const reasons = dlq.map((m) => m.headers['thoth-dlq-reason']);
    expect(reasons).toEqual([
      expect.stringMatching(/unknown schema fingerprint ffffffffffffffff/),
      expect.stringMatching(/undecodable thoth.v1.BehavioralEvent/),
      expect.stringMatching(/missing thoth-schema-fingerprint header/),
      expect.stringMatching(/unexpected thoth.v1.Tenant on the events topic/),
    ]);
    expect(dlq[3]!.headers['thoth-record-count']).toBe('2');
    expect(dlq[0]!.headers['thoth-dlq-topic']).toBe(topics.events);
    expect(dlq[0]!.value!.toString()).toBe('not avro at all');
  });
});
