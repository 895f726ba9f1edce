import { describe, expect, it } from 'vitest';
import {
  alreadyApplied,
  analyzeCall,
  type BaselineSettings,
  hourOfDay,
  markApplied,
  newBaseline,
  restoredBaseline,
  SESSION_IDLE_MS,
} from './agent-baseline.ts';
import type { CallObservation } from './observations.ts';

const T0 = Date.parse('2026-11-24T10:00:00Z');
const settings: BaselineSettings = {
  learningCalls: 100,
  learningMs: 0,
  minSamples: 30,
  rateWindowMs: 1_000,
  cooldownMs: 60_000,
  timeZone: 'UTC',
  escalation: { warn: 20, stepUp: 50, block: 80, halfLifeMs: 600_000 },
};

let seq = 0;
const call = (over: Partial<CallObservation> = {}): CallObservation => ({
  eventId: `e-${seq++}`,
  tenantId: 'acme',
  agentId: 'agent-1',
  sessionId: 's1',
  toolName: 'search_docs',
  atMs: T0,
  argKeys: ['query'],
  args: [{ path: 'query', value: 'report' }],
  blockedByPolicy: false,
  fromDecision: true,
  ...over,
});

/** 200 normal calls, 4 per second: searches, and payments of 10–200 EUR. */
function trained() {
  const b = newBaseline('acme', 'agent-1', T0);
  for (let i = 0; i < 200; i++) {
    const pay = i % 4 === 3;
    const analysis = analyzeCall(
      b,
      call({
        atMs: T0 + i * 250,
        toolName: pay ? 'submit_payment' : 'search_docs',
        argKeys: pay ? ['amount', 'currency'] : ['query'],
        args: pay
          ? [
              { path: 'amount', value: 10 + ((i * 37) % 191) },
              { path: 'currency', value: 'EUR' },
            ]
          : [{ path: 'query', value: `report ${i}` }],
      }),
      settings,
    );
    expect(analysis.escalated).toBe(false);
  }
  return b;
}

describe('analyzeCall', () => {
  it('learns tools, arguments, transitions, hours and rate; the learning period ends by count', () => {
    const b = trained();
    expect(b.calls).toBe(200);
    expect(b.learning_ended_at).toBe(T0 + 99 * 250);
    expect(b.tools.submit_payment).toMatchObject({ calls: 50, keys: { amount: 50, currency: 50 } });
    expect(b.tools.submit_payment?.categorical.currency).toEqual({ values: { EUR: 50 }, overflow: false });
    expect(b.tools.search_docs?.next).toEqual({ search_docs: 100, submit_payment: 50 });
    expect(b.hours[10]).toBe(200);
    expect(b.rate.mean).toBeCloseTo(4, 0);
    expect(b.sessions.s1?.calls).toBe(200);
  });

  it('a huge amount is a numeric outlier that escalates; not learned, so a repeat is one again', () => {
    const b = trained();
    const at = T0 + 60_000;
    const first = analyzeCall(
      b,
      call({
        atMs: at,
        sessionId: 's2',
        toolName: 'submit_payment',
        argKeys: ['amount'],
        args: [{ path: 'amount', value: 50_000 }],
      }),
      settings,
    );
    expect(first.escalated).toBe(true);
    expect(first.findings).toEqual([
      expect.objectContaining({ detector: 'numeric_outlier', score: 56, severity: 'high', learning: false }),
    ]);
    expect(b.escalation).toHaveLength(1);
    expect(b.tools.submit_payment?.numeric.amount?.max).toBeLessThan(201);
    // Within the cooldown the same (not stronger) finding is not repeated.
    const repeat = analyzeCall(
      b,
      call({
        atMs: at + 1_000,
        sessionId: 's3',
        toolName: 'submit_payment',
        argKeys: ['amount'],
        args: [{ path: 'amount', value: 50_000 }],
      }),
      settings,
    );
    expect(repeat.findings).toEqual([]);
    const later = analyzeCall(
      b,
      call({
        atMs: at + 61_000,
        sessionId: 's4',
        toolName: 'submit_payment',
        argKeys: ['amount'],
        args: [{ path: 'amount', value: 50_000 }],
      }),
      settings,
    );
    expect(later.findings.map((f) => f.detector)).toEqual(['numeric_outlier']);
  });

  it('a 10× burst is a rate spike, reported again only when it grows', () => {
    const b = trained();
    const start = T0 + 100_000;
    const detectors: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i < 40; i++) {
      for (const f of analyzeCall(b, call({ atMs: start + i * 25 }), settings).findings) {
        detectors.push(f.detector);
        scores.push(f.score);
      }
    }
    expect(new Set(detectors)).toEqual(new Set(['rate_spike']));
    expect(scores[0]).toBe(24);
    expect(scores.every((score, i) => i === 0 || score >= scores[i - 1]! + 10)).toBe(true);
    // The spiking window is not learned as usual.
    analyzeCall(b, call({ atMs: start + 5_000 }), settings);
    expect(b.rate.mean).toBeLessThan(5);
  });

  it('findings of the learning period are recorded but never escalate', () => {
    const b = newBaseline('acme', 'agent-1', T0);
    for (let i = 0; i < 40; i++) analyzeCall(b, call({ atMs: T0 + i * 250 }), settings);
    const result = analyzeCall(b, call({ atMs: T0 + 20_000, toolName: 'delete_records' }), settings);
    expect(result.findings).toEqual([
      expect.objectContaining({ detector: 'first_seen_tool', learning: true }),
    ]);
    expect(result.escalated).toBe(false);
    expect(b.escalation).toEqual([]);
  });

  it('a redelivered event is neither learned nor reported twice; finding ids are deterministic', () => {
    const b = trained();
    const snapshot = structuredClone(b);
    const odd = call({ eventId: 'dup', atMs: T0 + 60_000, toolName: 'delete_records' });
    const once = analyzeCall(b, odd, settings);
    expect(analyzeCall(b, odd, settings)).toEqual({ findings: [], escalated: false });
    expect(b.calls).toBe(201);
    const replay = analyzeCall(snapshot, odd, settings);
    expect(replay.findings.map((f) => f.finding_id)).toEqual(once.findings.map((f) => f.finding_id));
  });

  it('blocked_burst counts blocks by policy only', () => {
    const b = trained();
    const found: string[] = [];
    for (let i = 0; i < 5; i++)
      for (const f of analyzeCall(b, call({ atMs: T0 + 80_000 + i * 2_000, blockedByPolicy: true }), settings)
        .findings)
        found.push(f.detector);
    expect(found).toEqual(['blocked_burst']);
  });

  it('the hour in UTC (by arithmetic) is the one Intl formats, whatever the time', () => {
    const intl = new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', hour: 'numeric', hourCycle: 'h23' });
    for (let i = 0; i < 2_000; i++) {
      const at = Math.round(Math.random() * 4e12);
      expect(hourOfDay(at, 'UTC')).toBe(Number(intl.format(at)));
    }
    for (const at of [0, 3_599_999, 3_600_000, -1, -0.5, 1.5, -3_600_001])
      expect(hourOfDay(at, 'UTC')).toBe(Number(intl.format(at)));
  });

  it('an event applied more than 256 events ago is applied again; a recent one is not', () => {
    const b = trained();
    const first = call({ eventId: 'early', atMs: T0 + 60_000 });
    analyzeCall(b, first, settings);
    for (let i = 0; i < 255; i++) analyzeCall(b, call({ atMs: T0 + 60_000 + i }), settings);
    const calls = b.calls;
    analyzeCall(b, first, settings);
    expect(b.calls).toBe(calls);
    analyzeCall(b, call({ atMs: T0 + 61_000 }), settings);
    analyzeCall(b, first, settings);
    expect(b.calls).toBe(calls + 2);
    // A baseline read back from its stored form knows the same recent events.
    const restored = structuredClone(b);
    analyzeCall(restored, first, settings);
    expect(restored.calls).toBe(calls + 2);
  });

  it('off-hours uses the configured time zone', () => {
    expect(hourOfDay(T0, 'UTC')).toBe(10);
    expect(hourOfDay(T0, 'Asia/Tokyo')).toBe(19);
    const b = trained();
    const night = analyzeCall(b, call({ atMs: Date.parse('2026-11-25T03:00:00Z') }), settings);
    expect(night.findings.map((f) => f.detector)).toEqual(['off_hours']);
  });
});

describe('bus positions', () => {
  it('a record at or below the last applied offset of its partition is a redelivery', () => {
    const b = newBaseline('acme', 'agent-1', T0);
    const at = (partition: number, offset: string, index = 0) => ({
      topic: 'thoth.events',
      partition,
      offset,
      index,
    });
    expect(alreadyApplied(b, at(2, '0'))).toBe(false);
    markApplied(b, at(2, '9007199254740993'));
    expect(alreadyApplied(b, at(2, '9007199254740993'))).toBe(true);
    expect(alreadyApplied(b, at(2, '9007199254740992'))).toBe(true);
    expect(alreadyApplied(b, at(2, '9007199254740994'))).toBe(false);
    expect(alreadyApplied(b, at(1, '5'))).toBe(false);
  });

  it('orders offsets of different lengths and equal lengths as numbers', () => {
    const b = newBaseline('acme', 'agent-1', T0);
    const at = (offset: string, index = 0) => ({ topic: 't', partition: 0, offset, index });
    markApplied(b, at('100', 3));
    for (const [offset, applied] of [
      ['0', true],
      ['99', true],
      ['100', true],
      ['101', false],
      ['1000', false],
      ['900', false],
      ['19', true],
    ] as const)
      expect(alreadyApplied(b, at(offset)), offset).toBe(applied);
    expect(alreadyApplied(b, at('100', 3))).toBe(true);
    expect(alreadyApplied(b, at('100', 4))).toBe(false);
    // A position saved as a bare offset, before batch messages.
    b.positions['t/0'] = '100';
    expect(alreadyApplied(b, at('100', 999))).toBe(true);
    expect(alreadyApplied(b, at('101'))).toBe(false);
  });

  it('within a batch message, the records after the last applied one are new', () => {
    const b = newBaseline('acme', 'agent-1', T0);
    const at = (offset: string, index: number) => ({ topic: 't', partition: 0, offset, index });
    markApplied(b, at('7', 2));
    expect([0, 1, 2, 3].map((i) => alreadyApplied(b, at('7', i)))).toEqual([true, true, true, false]);
    expect(alreadyApplied(b, at('6', 9))).toBe(true);
    expect(alreadyApplied(b, at('8', 0))).toBe(false);
    // Saved before batch messages existed: a bare offset covers its whole message.
    b.positions['t/0'] = '7';
    expect(alreadyApplied(b, at('7', 400))).toBe(true);
    expect(alreadyApplied(b, at('8', 0))).toBe(false);
  });
});

describe('bounded state', () => {
  it('stops learning new tools, argument paths and transitions past their bounds, whatever a caller sends', () => {
    const b = newBaseline('acme', 'agent-bounds', T0);
    for (let i = 0; i < 1_100; i++)
      analyzeCall(b, call({ agentId: 'agent-bounds', toolName: `tool-${i}`, atMs: T0 + i }), settings);
    expect(Object.keys(b.tools)).toHaveLength(1_000);
    expect(b.calls).toBe(1_100);
    const wide = Array.from({ length: 300 }, (_, i) => ({ path: `p${i}`, value: i }));
    analyzeCall(
      b,
      call({ agentId: 'agent-bounds', toolName: 'tool-0', args: wide, atMs: T0 + 2_000 }),
      settings,
    );
    const tool = b.tools['tool-0']!;
    expect(Object.keys(tool.numeric).length + Object.keys(tool.categorical).length).toBeLessThanOrEqual(200);
    expect(Object.keys(b.tools['tool-1099'] ?? {})).toHaveLength(0);
  });

  it('counts a tool’s paths as the call found them: a known path changing type does not crowd out a new one', () => {
    const b = newBaseline('acme', 'agent-paths', T0);
    const numeric = Array.from({ length: 199 }, (_, i) => ({ path: `p${i}`, value: i }));
    analyzeCall(b, call({ agentId: 'agent-paths', args: numeric }), settings);
    // p0 known as a number arrives as text (a categorical entry of its own), then a new path: the last one left.
    analyzeCall(
      b,
      call({
        agentId: 'agent-paths',
        atMs: T0 + 1,
        args: [
          { path: 'p0', value: 'x' },
          { path: 'q', value: 'y' },
        ],
      }),
      settings,
    );
    const tool = b.tools.search_docs!;
    expect(Object.keys(tool.categorical).sort()).toEqual(['p0', 'q']);
    expect(Object.keys(tool.numeric)).toHaveLength(199);
  });
});

describe('open sessions', () => {
  /**
   * The rule as written (a pass over every open session on every call): a session idle for SESSION_IDLE_MS
   * ends, and past 500 open sessions the oldest end too; an ended session's length is learned.
   */
  function everyCallModel(
    open: Map<string, { calls: number; last: number }>,
    ended: { idle: number[]; overflow: number[] },
    c: CallObservation,
  ) {
    const session = open.get(c.sessionId);
    if (session) {
      session.calls += 1;
      session.last = Math.max(session.last, c.atMs);
    } else open.set(c.sessionId, { calls: 1, last: c.atMs });
    const byAge = [...open].sort((a, b) => a[1].last - b[1].last);
    const overflow = Math.max(0, open.size - 500);
    byAge.forEach(([id, s], index) => {
      if (c.atMs - s.last >= SESSION_IDLE_MS) ended.idle.push(s.calls);
      else if (index < overflow) ended.overflow.push(s.calls);
      else return;
      open.delete(id);
    });
  }

  it('end at the same calls as a pass over them on every call, whatever the order of times', () => {
    // MINSTD (Park–Miller), exact in doubles: the same run every time.
    let state = 7;
    const random = () => {
      state = (state * 48_271) % 2_147_483_647;
      return state / 2_147_483_647;
    };
    const b = newBaseline('acme', 'agent-1', T0);
    const open = new Map<string, { calls: number; last: number }>();
    const ended = { idle: [] as number[], overflow: [] as number[] };
    let at = T0;
    for (let i = 0; i < 6_000; i++) {
      // Bursts of 600 new sessions within minutes push the count past 500; between them, calls of 40 sessions
      // come seconds apart, sometimes back in time, sometimes after more than the idle time.
      const burst = i % 2_000 >= 1_000 && i % 2_000 < 1_600;
      const r = random();
      at +=
        r < 0.02 && !burst
          ? SESSION_IDLE_MS / 2 + random() * SESSION_IDLE_MS
          : r < 0.1
            ? -random() * 60_000
            : random() * 2_000;
      const sessionId = burst ? `burst-${i}` : `s-${Math.floor(random() ** 2 * 40)}`;
      const c = call({ sessionId, atMs: at, toolName: `tool-${i % 3}` });
      analyzeCall(b, c, settings);
      everyCallModel(open, ended, c);
      expect(Object.keys(b.sessions).sort()).toEqual([...open.keys()].sort());
      expect(b.session_length.count).toBe(ended.idle.length + ended.overflow.length);
    }
    // The sequence did exercise both ways a session ends.
    expect(ended.idle.length).toBeGreaterThan(100);
    expect(ended.overflow.length).toBeGreaterThan(100);
    expect(Math.max(...ended.idle)).toBeGreaterThan(1);
    expect(Object.keys(b.sessions).length).toBeLessThanOrEqual(500);
  });
});

describe('names a caller chose', () => {
  it('__proto__, constructor and toString are names like any other, before and after the state is saved', () => {
    const hostile = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
    const calls = (at: number) =>
      hostile.map((name, i) =>
        call({
          sessionId: name,
          toolName: hostile[(i + 1) % hostile.length],
          atMs: at + i,
          argKeys: [name],
          args: [{ path: name, value: hostile[(i + 2) % hostile.length]! }],
        }),
      );
    let b = newBaseline('acme', 'agent-1', T0);
    for (const c of calls(T0)) expect(() => analyzeCall(b, c, settings)).not.toThrow();
    // Saved and loaded as the store does (JSON), then learning goes on.
    b = restoredBaseline(JSON.parse(JSON.stringify(b)));
    for (const c of calls(T0 + 1_000)) expect(() => analyzeCall(b, c, settings)).not.toThrow();
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(Object.keys(b.sessions).sort()).toEqual([...hostile].sort());
    expect(Object.keys(b.tools).sort()).toEqual([...hostile].sort());
    hostile.forEach((name, j) => {
      expect(b.sessions[name]!.calls).toBe(2);
      expect(b.tools[name]!.calls).toBe(2);
      // Tool j was called with the argument named after the session before it, valued after the tool after it.
      const path = hostile[(j + hostile.length - 1) % hostile.length]!;
      const value = hostile[(j + 1) % hostile.length]!;
      expect(b.tools[name]!.keys[path]).toBe(2);
      expect(b.tools[name]!.categorical[path]!.values[value]).toBe(2);
    });
    const saved = JSON.parse(JSON.stringify(b)) as { tools: object };
    expect(Object.getOwnPropertyDescriptor(saved.tools, '__proto__')?.value.calls).toBe(2);
  });
});
