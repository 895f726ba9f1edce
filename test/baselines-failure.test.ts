import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DecisionEvent } from '@thoth/contracts';
import { agentKey, topicNames, topicSpecs } from '@thoth/contracts';
import { AvroCodec, MemoryBus, Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BaselineSettings } from '../services/baselines/src/agent-baseline.ts';
import { BaselinesConsumer } from '../services/baselines/src/baselines-consumer.ts';
import { callDecision } from './fixtures.ts';
import { quietLog, uniquePrefix, waitFor } from './helpers.ts';

/**
 * A batch whose findings cannot be stored is redelivered — and must then produce its findings and directive
 * again, not be skipped as "already applied" by the state the failed attempt left in memory.
 */
const TENANT = 'acme-corp';
const settings: BaselineSettings = {
  learningCalls: 40,
  learningMs: 0,
  minSamples: 20,
  rateWindowMs: 1_000,
  cooldownMs: 60_000,
  timeZone: 'UTC',
  escalation: { warn: 20, stepUp: 50, block: 80, halfLifeMs: 600_000 },
};

let dataDir: string;
let store: Store;
let bus: MemoryBus;
let consumer: BaselinesConsumer;
let failFindings = 0;
const codec = new AvroCodec();
const topics = topicNames(uniquePrefix('baselines-failure'));

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'thoth-baselines-failure-'));
  store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
  bus = new MemoryBus({ defaultPartitions: 3 });
  await bus.ensureTopics(topicSpecs(topics, 3));
  consumer = new BaselinesConsumer({
    bus,
    codec,
    // Fails the next `failFindings` inserts into `findings`: the store is down for that batch.
    store: {
      select: (query, params) => store.select(query, params),
      insertRows: async (table, rows, settings) => {
        if (table === 'findings' && failFindings > 0) {
          failFindings--;
          throw new Error('injected: findings insert failed');
        }
        await store.insertRows(table, rows, settings);
      },
    },
    eventsTopic: topics.events,
    directivesTopic: topics.directives,
    log: quietLog,
    settings,
  });
  await consumer.start();
});

afterAll(async () => {
  await consumer?.stop();
  await bus?.close();
  await store?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const publish = (decisions: DecisionEvent[]) =>
  bus.publish(
    topics.events,
    decisions.map((d) => codec.encode('thoth.v1.DecisionEvent', agentKey(d.tenant_id, d.agent_id), d)),
  );

const stored = async (sql: string): Promise<number> =>
  Number((await store.select<{ n: number | string }>(sql))[0]?.n ?? 0);

describe('baselines consumer: a batch that failed half way', () => {
  it('is applied again in full on redelivery: its finding is stored and its directive published', async () => {
    const agent = 'flaky-store-bot';
    const t0 = Date.now() - 120_000;
    // Learning: payments of 10–200 at a steady pace.
    await publish(
      Array.from({ length: 80 }, (_, i) =>
        callDecision(TENANT, agent, i, t0 + i * 500, 'submit_payment', 10 + ((i * 37) % 190)),
      ),
    );
    await waitFor(
      'the learned state saved',
      async () =>
        (await stored(`SELECT max(calls) AS n FROM baseline_state WHERE agent_id = '${agent}'`)) >= 80,
      30_000,
    );
    // The outlier's batch fails on its findings insert, once.
    failFindings = 1;
    await publish([callDecision(TENANT, agent, 80, t0 + 80 * 500, 'submit_payment', 50_000)]);
    await waitFor(
      'the outlier finding stored after the redelivery',
      async () =>
        (await stored(
          `SELECT count() AS n FROM findings WHERE agent_id = '${agent}' AND detector = 'numeric_outlier'`,
        )) >= 1,
      30_000,
    );
    expect(failFindings).toBe(0); // the failure did happen
    const view = await bus.openView(topics.directives);
    await waitFor(
      'the directive on the directives topic',
      () => view.get(`${TENANT}/${agent}`) !== undefined,
    );
    await view.close();
  });
});
