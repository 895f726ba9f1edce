import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DecisionEvent } from '@thoth/contracts';
import { agentKey, topicNames, topicSpecs } from '@thoth/contracts';
import { AvroCodec, MemoryBus, Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BaselinesConsumer } from '../services/baselines/src/baselines-consumer.ts';
import { callDecision, testBaselineSettings } from './fixtures.ts';
import { quietLog, uniquePrefix, waitFor } from './helpers.ts';

/**
 * The baselines consumer on chDB and the in-process bus, with a store whose inserts a test can fail or hold:
 * - a batch whose findings cannot be stored is redelivered, and must then produce its findings and directive
 *   again, not be skipped as "already applied" by the state the failed attempt left in memory;
 * - the agents' states are saved for several batches at once (one insert per `saveIntervalMs` under a steady
 *   stream, instead of one per batch), and a batch commits only once a save that includes it is stored: a
 *   failed save sends every batch it covered round again, learned exactly once.
 */
const TENANT = 'acme-corp';
const settings = testBaselineSettings();

let dataDir: string;
let store: Store;
let bus: MemoryBus;
let consumer: BaselinesConsumer;
const codec = new AvroCodec();
const topics = topicNames(uniquePrefix('baselines-failure'));
const group = `${topics.events}.baselines`;
/** Inserts into baseline_state, and what the next ones do: fail, or wait for `release`. */
let stateInserts = 0;
/** Inserts into baseline_state that held a row of each agent (other agents' saves, e.g. a decay, count apart). */
const stateInsertsOf = new Map<string, number>();
let failStateInserts = 0;
let gate: Promise<void> | undefined;
/** The same for inserts into findings. */
let failFindings = 0;
let findingsGate: Promise<void> | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'thoth-baselines-failure-'));
  store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
  bus = new MemoryBus({ defaultPartitions: 1 });
  await bus.ensureTopics(topicSpecs(topics, 1));
  consumer = new BaselinesConsumer({
    bus,
    codec,
    store: {
      select: (query, params) => store.select(query, params),
      insertRows: async (table, rows, insertSettings) => {
        if (table === 'baseline_state') {
          stateInserts++;
          for (const agent of new Set(rows.map((row) => (row as { agent_id: string }).agent_id)))
            stateInsertsOf.set(agent, (stateInsertsOf.get(agent) ?? 0) + 1);
          await gate;
          if (failStateInserts > 0) {
            failStateInserts--;
            throw new Error('injected: baseline_state insert failed');
          }
        }
        if (table === 'findings') {
          await findingsGate;
          if (failFindings > 0) {
            failFindings--;
            throw new Error('injected: findings insert failed');
          }
        }
        await store.insertRows(table, rows, insertSettings);
      },
    },
    eventsTopic: topics.events,
    directivesTopic: topics.directives,
    log: quietLog,
    settings,
    saveIntervalMs: 200,
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The number `sql` (with `{agent:String}`) answers for `agent`: 0 when it answers no row. */
const numberFor = async (sql: string, agent: string): Promise<number> =>
  Number((await store.select<{ n: number | string }>(sql, { agent }))[0]?.n ?? 0);
const savedCalls = (agent: string) =>
  numberFor('SELECT argMax(calls, version) AS n FROM baseline_state WHERE agent_id = {agent:String}', agent);
const outliers = (agent: string) =>
  numberFor(
    "SELECT count() AS n FROM findings WHERE agent_id = {agent:String} AND detector = 'numeric_outlier'",
    agent,
  );
const calls = (agent: string, from: number, count: number, t0: number) =>
  Array.from({ length: count }, (_, k) =>
    callDecision(TENANT, agent, from + k, t0 + (from + k) * 500, 'search_docs', 10),
  );

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
    await waitFor('the learned state saved', async () => (await savedCalls(agent)) >= 80, 30_000);
    // The outlier's batch fails on its findings insert, once.
    failFindings = 1;
    await publish([callDecision(TENANT, agent, 80, t0 + 80 * 500, 'submit_payment', 50_000)]);
    await waitFor(
      'the outlier finding stored after the redelivery',
      async () => (await outliers(agent)) >= 1,
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

describe('baselines consumer: state saves', () => {
  it('a steady stream of small batches is saved a few times, not once a batch', async () => {
    const agent = 'steady-bot';
    const t0 = Date.now() - 600_000;
    // 40 batches of one record, 10 ms apart, where a save a batch makes 40.
    const started = performance.now();
    for (let i = 0; i < 40; i++) {
      await publish(calls(agent, i, 1, t0));
      await sleep(10);
    }
    await waitFor('every call saved', async () => (await savedCalls(agent)) === 40, 10_000);
    const elapsed = performance.now() - started;
    expect(await bus.lag(group, topics.events)).toBe(0);
    const inserts = stateInsertsOf.get(agent) ?? 0;
    expect(inserts).toBeGreaterThanOrEqual(2);
    // A save when 200 ms passed since the last one, or when eight batches wait for it (the bus's in flight).
    expect(inserts).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 1 + 40 / 8);
    expect(inserts).toBeLessThan(20);
  });

  it('commits a batch only once its state is stored', async () => {
    const agent = 'gated-bot';
    const t0 = Date.now() - 600_000;
    let release!: () => void;
    gate = new Promise((r) => {
      release = r;
    });
    const before = stateInserts;
    await publish(calls(agent, 0, 5, t0));
    await waitFor('the save started', () => stateInserts > before, 5_000);
    await sleep(300);
    expect(await bus.lag(group, topics.events)).toBe(5);
    release();
    gate = undefined;
    await waitFor('committed', async () => (await bus.lag(group, topics.events)) === 0, 5_000);
    expect(await savedCalls(agent)).toBe(5);
  });

  it('a failed save sends its batches round again: each call learned once', async () => {
    const agent = 'flaky-save-bot';
    const t0 = Date.now() - 600_000;
    failStateInserts = 1;
    for (let i = 0; i < 20; i++) {
      await publish(calls(agent, i, 1, t0));
      await sleep(5);
    }
    await waitFor('committed', async () => (await bus.lag(group, topics.events)) === 0, 15_000);
    expect(failStateInserts).toBe(0); // the failure did happen
    expect(await savedCalls(agent)).toBe(20);
    expect(consumer.baselineOf(TENANT, agent)?.calls).toBe(20);
  });

  it('batches handed over behind one that fails wait for it: every call learned once, its finding stored', async () => {
    const agent = 'inflight-bot';
    const t0 = Date.now() - 3_600_000;
    const payment = (i: number, amount: number) =>
      callDecision(TENANT, agent, i, t0 + i * 500, 'submit_payment', amount);
    await publish(Array.from({ length: 80 }, (_, i) => payment(i, 10 + ((i * 37) % 190))));
    await waitFor('learned', async () => (await savedCalls(agent)) === 80, 10_000);
    // The outlier's findings insert waits, then fails once; two more batches are handed over meanwhile.
    let release!: () => void;
    findingsGate = new Promise((r) => {
      release = r;
    });
    failFindings = 1;
    await publish([payment(80, 50_000)]);
    await sleep(50);
    await publish([payment(81, 20)]);
    await sleep(20);
    await publish([payment(82, 30)]);
    await sleep(100);
    release();
    findingsGate = undefined;
    await waitFor('committed', async () => (await bus.lag(group, topics.events)) === 0, 15_000);
    expect(failFindings).toBe(0); // the failure did happen
    expect(consumer.baselineOf(TENANT, agent)?.calls).toBe(83);
    expect(await savedCalls(agent)).toBe(83);
    expect(await outliers(agent)).toBeGreaterThanOrEqual(1);
  });
});
