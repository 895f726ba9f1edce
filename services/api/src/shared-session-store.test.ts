import { AvroCodec } from '@thoth/common/bus/avro-codec';
import { MemoryBus } from '@thoth/common/bus/memory-bus';
import { createLogger } from '@thoth/common/logger';
import { describe, expect, it } from 'vitest';
import { BackgroundPublisher } from './background-publisher.ts';
import { decideToolCall } from './decision/decide.ts';
import { compilePolicy } from './decision/policy.ts';
import { joinSessionRisk } from './decision/session-risk.ts';
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

describe('joinSessionRisk', () => {
  it("is the newer state when one replica's decision followed the other's", () => {
    const first = decideToolCall(call('export', T0), policy, undefined, []).session;
    const second = decideToolCall(call('search', T0 + 30_000), policy, first, []).session;
    expect(joinSessionRisk(first, second, HALF_LIFE_MS)).toEqual(second);
    expect(joinSessionRisk(second, first, HALF_LIFE_MS)).toEqual(second);
  });

  it('keeps the riskier view of two decided at the same moment: a clean call does not erase a violation', () => {
    const violation = state(70, 10, 3, 1);
    const clean = state(0, 11, 2);
    const joined = joinSessionRisk(clean, violation, HALF_LIFE_MS);
    expect(joined.risk).toBeCloseTo(70 * 0.5 ** (1 / 600), 9);
    expect(joined).toMatchObject({ blocked: 1, calls: 3, updatedAtMs: T0 + 11_000 });
  });

  it('is commutative, associative and idempotent, so replicas converge whatever order updates arrive in', () => {
    const views = [state(35, 0, 1), state(80, 5, 4, 1), state(10, 100, 7), state(100, 50, 2, 2)];
    for (const a of views) {
      expect(joinSessionRisk(a, a, HALF_LIFE_MS)).toEqual(a);
      for (const b of views) {
        const ab = joinSessionRisk(a, b, HALF_LIFE_MS);
        const ba = joinSessionRisk(b, a, HALF_LIFE_MS);
        expect(ab.risk).toBeCloseTo(ba.risk, 9);
        expect({ ...ab, risk: 0 }).toEqual({ ...ba, risk: 0 });
        for (const c of views) {
          const left = joinSessionRisk(joinSessionRisk(a, b, HALF_LIFE_MS), c, HALF_LIFE_MS);
          const right = joinSessionRisk(a, joinSessionRisk(b, c, HALF_LIFE_MS), HALF_LIFE_MS);
          expect(left.risk).toBeCloseTo(right.risk, 9);
          expect({ ...left, risk: 0 }).toEqual({ ...right, risk: 0 });
        }
      }
    }
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
    for (const r of replicas) expect(r.store.get(key)).toEqual(single.get(key));
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
    await Promise.all([first.store.stop(), late.store.stop()]);
  });

  it("a replica does not publish again what it joined from another's update", async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    await bus.ensureTopics([{ name: 'test.sessions', partitions: 1, compacted: true }]);
    const [a, b] = [await replica(bus), await replica(bus)];
    a.store.set(SessionStore.key('t1', 'agent-1', 'x'), state(10, 0));
    await a.publisher.settle();
    await until(() => b.store.get(SessionStore.key('t1', 'agent-1', 'x')) !== undefined);
    await new Promise((r) => setTimeout(r, 20));
    expect(b.publisher.published).toBe(0);
    expect(a.publisher.published).toBe(1);
    await Promise.all([a.store.stop(), b.store.stop()]);
  });
});
