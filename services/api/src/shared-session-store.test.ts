import { AvroCodec, createLogger, MemoryBus } from '@thoth/platform';
import { describe, expect, it } from 'vitest';
import { BackgroundPublisher } from './background-publisher.ts';
import { decideToolCall } from './decision/decide.ts';
import { compilePolicy } from './decision/policy.ts';
import { sumSessionRisk } from './decision/session-risk.ts';
import type { SessionRisk, ToolCall } from './decision/types.ts';
import { SessionStore } from './session-store.ts';
import { SharedSessionStore } from './shared-session-store.ts';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
const HALF_LIFE_MS = 600_000;
// 35 points per export: warn at 30, step up at 60, block at 85 (the default thresholds).
const policy = compilePolicy({
  rules: [
    {
      id: 'bulk-export',
      condition: 'true',
      effect: 'FLAG',
      reason: 'bulk export',
      reason_code: 'bulk_export',
      risk_points: 35,
      tools: ['export'],
    },
  ],
});

const call = (toolName: string, nowMs: number, sessionId = 's1'): ToolCall => ({
  tenantId: 't1',
  agentId: 'agent-1',
  toolName,
  sessionId,
  userId: 'alice',
  sessionToolCalls: [],
  approvedScope: ['search', 'export'],
  mode: 'progressive',
  environment: 'prod',
  toolArgs: {},
  nowMs,
});

const state = (risk: number, atS: number, calls = 1, blocked = 0): SessionRisk => ({
  risk,
  blocked,
  calls,
  updatedAtMs: T0 + atS * 1000,
});

describe('sumSessionRisk', () => {
  it('is the decayed sum of the contributions, capped, with the counts added', () => {
    const summed = sumSessionRisk([state(40, 0, 2), state(30, 600, 1, 1)], HALF_LIFE_MS);
    expect(summed?.risk).toBeCloseTo(40 * 0.5 + 30, 9);
    expect(summed).toMatchObject({ calls: 3, blocked: 1, updatedAtMs: T0 + 600_000 });
    expect(sumSessionRisk([state(80, 0), state(70, 0)], HALF_LIFE_MS)?.risk).toBe(100);
    expect(sumSessionRisk([], HALF_LIFE_MS)).toBeUndefined();
  });
});

describe('SharedSessionStore: two replicas on one bus', () => {
  const codec = new AvroCodec();
  const log = createLogger('silent');

  async function replica(
    bus: MemoryBus,
  ): Promise<{ store: SharedSessionStore; publisher: BackgroundPublisher }> {
    const publisher = new BackgroundPublisher({ bus, codec, log, intervalMs: 1 });
    const store = new SharedSessionStore({
      bus,
      codec,
      publisher,
      topic: 'test.sessions',
      halfLifeMs: () => HALF_LIFE_MS,
      log,
    });
    await store.start();
    return { store, publisher };
  }

  async function until(check: () => boolean): Promise<void> {
    for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 2));
    expect(check()).toBe(true);
  }

  it('a session whose calls alternate between replicas escalates exactly as on one process', async () => {
    const bus = new MemoryBus({ defaultPartitions: 2 });
    await bus.ensureTopics([{ name: 'test.sessions', partitions: 2, compacted: true }]);
    const replicas = [await replica(bus), await replica(bus)];
    const single = new SessionStore();
    const key = SessionStore.key('t1', 'agent-1', 's1');
    const calls = ['export', 'search', 'export', 'search', 'export', 'export'];

    const spread: string[] = [];
    const alone: string[] = [];
    for (const [i, tool] of calls.entries()) {
      const now = T0 + i * 1_000;
      const target = replicas[i % 2]!;
      const decided = decideToolCall(call(tool, now), policy, target.store.get(key), []);
      target.store.set(key, decided.session);
      target.store.publishPending();
      spread.push(`${decided.decision}/${decided.reasonCode}/${decided.riskScore}`);
      // The next call comes after this one's update reached the other replica.
      const other = replicas[(i + 1) % 2]!;
      await until(() => other.store.get(key)?.calls === i + 1);

      const reference = decideToolCall(call(tool, now), policy, single.get(key), []);
      single.set(key, reference.session);
      alone.push(`${reference.decision}/${reference.reasonCode}/${reference.riskScore}`);
    }
    expect(spread).toEqual(alone);
    expect(alone).toContain('STEP_UP/step_up_high_risk/70');
    expect(alone.at(-1)).toMatch(/^BLOCK\//);
    for (const r of replicas) {
      const shared = r.store.get(key)!;
      const reference = single.get(key)!;
      expect(shared.risk).toBeCloseTo(reference.risk, 9);
      expect({ ...shared, risk: 0 }).toEqual({ ...reference, risk: 0 });
    }
    await Promise.all(replicas.map((r) => r.store.stop()));
  });

  it('a replica started later reads the sessions decided before it', async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    await bus.ensureTopics([{ name: 'test.sessions', partitions: 1, compacted: true }]);
    const first = await replica(bus);
    const key = SessionStore.key('t1', 'agent-1', 'early');
    first.store.set(key, state(42, 0, 3, 1));
    first.store.publishPending();
    await first.publisher.settle();
    const late = await replica(bus);
    expect(late.store.get(key)).toEqual(state(42, 0, 3, 1));
    // A restarted process is a new replica: what it decided before counts as another's.
    expect(first.store.replicaId).not.toBe(late.store.replicaId);
    await Promise.all([first.store.stop(), late.store.stop()]);
  });

  it('calls decided at the same moment on two replicas both count: parallel calls escalate as on one process', async () => {
    const bus = new MemoryBus({ defaultPartitions: 2 });
    await bus.ensureTopics([{ name: 'test.sessions', partitions: 2, compacted: true }]);
    const replicas = [await replica(bus), await replica(bus)];
    const single = new SessionStore();
    const key = SessionStore.key('t1', 'agent-1', 'parallel');
    for (let round = 0; round < 3; round++) {
      const now = T0 + round * 1_000;
      // One export on each replica at once: each decides from what it knew before the round.
      for (const r of replicas) {
        r.store.set(
          key,
          decideToolCall(call('export', now, 'parallel'), policy, r.store.get(key), []).session,
        );
        r.store.publishPending();
      }
      for (let i = 0; i < 2; i++)
        single.set(key, decideToolCall(call('export', now, 'parallel'), policy, single.get(key), []).session);
      await until(() => replicas.every((r) => r.store.get(key)?.calls === 2 * (round + 1)));
      for (const r of replicas) expect(r.store.get(key)!.risk).toBeCloseTo(single.get(key)!.risk, 9);
    }
    expect(replicas[0]!.store.get(key)).toMatchObject({ calls: 6, risk: 100 });
    await Promise.all(replicas.map((r) => r.store.stop()));
  });

  it('a replica whose clock runs ahead never makes a contribution older: time only moves forward per replica', async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    await bus.ensureTopics([{ name: 'test.sessions', partitions: 1, compacted: true }]);
    const { store } = await replica(bus);
    const key = SessionStore.key('t1', 'agent-1', 'skew');
    store.set(key, state(35, 3_600, 1));
    store.set(key, { ...state(70, 0, 2) }); // a decision stamped an hour earlier (the clock was corrected)
    expect(store.get(key)).toMatchObject({ calls: 2, updatedAtMs: T0 + 3_600_000 });
    expect(store.get(key)!.risk).toBeCloseTo(70, 9);
    await store.stop();
  });

  it("a replica does not publish again what it learned from another's update", async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    await bus.ensureTopics([{ name: 'test.sessions', partitions: 1, compacted: true }]);
    const [a, b] = [await replica(bus), await replica(bus)];
    a.store.set(SessionStore.key('t1', 'agent-1', 'x'), state(10, 0));
    a.store.publishPending();
    await a.publisher.settle();
    await until(() => b.store.get(SessionStore.key('t1', 'agent-1', 'x')) !== undefined);
    await new Promise((r) => setTimeout(r, 20));
    expect(b.publisher.published).toBe(0);
    expect(a.publisher.published).toBe(1);
    await Promise.all([a.store.stop(), b.store.stop()]);
  });
});
