import { CelScalar, celEnv, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { describe, expect, it } from 'vitest';
import { buildCelActivation } from './cel-activation.ts';
import { CallBudget, compileCondition } from './cel-condition.ts';
import {
  ASSUMED_LIST_SIZE,
  CEL_COST_LIMIT,
  CelCostError,
  DECISION_COST_LIMIT,
  estimateCost,
} from './cel-cost.ts';
import { codePointCount } from './cel-cost-meter.ts';
import { compilePolicy } from './policy.ts';
import { evaluateRules } from './rule-evaluation.ts';
import type { ToolCall } from './types.ts';

const call = (toolArgs: unknown): ToolCall => ({
  tenantId: 't1',
  agentId: 'agent-7',
  toolName: 'pay',
  sessionId: 's1',
  userId: 'alice',
  sessionToolCalls: [],
  approvedScope: [],
  mode: 'progressive',
  environment: 'prod',
  toolArgs,
  nowMs: 0,
});

const estimate = (source: string) => estimateCost(parse(source).expr);
const numbers = (n: number) => Array.from({ length: n }, (_, i) => i);
/** The issue's rule (#18): with 2,000 items it held the event loop 2.7 s per decision. */
const NESTED = 'args.items.all(x, args.items.all(y, x + y >= 0))';

/** Evaluates with the run-time bound only (the compile-time check off), and how long that took. */
/**
 * The evaluation's result and its fastest time of three: what the other work of a busy machine (a parallel
 * test run, the garbage collector) adds to one run is no property of the evaluation. The bounds asserted below
 * are far under what these rules took unbounded (seconds, or never returning).
 */
function timed(source: string, toolArgs: unknown) {
  const condition = compileCondition(source, { checkCost: false });
  const activation = buildCelActivation(call(toolArgs), undefined);
  let result: unknown;
  let ms = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 3; run++) {
    const started = performance.now();
    result = condition.evaluate(activation);
    ms = Math.min(ms, performance.now() - started);
  }
  return { result, ms };
}

const evaluate = (source: string, toolArgs: unknown) => timed(source, toolArgs).result;
const COST_EXCEEDED = { error: expect.stringMatching(/^cost limit exceeded/) };

describe('estimateCost (compile time)', () => {
  it('charges a condition without loops about one unit a node', () => {
    expect(estimate('tool == "pay" && args.amount > 10000')).toBeLessThan(30);
  });

  it('counts a comprehension over an input as ASSUMED_LIST_SIZE iterations of its loop', () => {
    const single = estimate('args.items.all(x, x >= 0)');
    expect(single).toBeGreaterThan(ASSUMED_LIST_SIZE * 5);
    expect(single).toBeLessThan(CEL_COST_LIMIT);
  });

  it('multiplies nested comprehensions over inputs: the issue’s rule is far over the limit', () => {
    expect(estimate(NESTED)).toBeGreaterThan(ASSUMED_LIST_SIZE * ASSUMED_LIST_SIZE);
    expect(estimate(`args.items.all(x, ${NESTED})`)).toBeGreaterThan(ASSUMED_LIST_SIZE ** 3);
  });

  it('iterates a list literal by its length', () => {
    const overLiteral = estimate('args.items.all(x, ["a", "b", "c"].exists(p, x.startsWith(p)))');
    expect(overLiteral).toBeLessThan(CEL_COST_LIMIT);
    expect(estimate('["a", "b"].exists(p, args.path.startsWith(p))')).toBeLessThan(100);
  });

  it('counts `in` on an input list as a loop, and map/filter results as long as their range', () => {
    expect(estimate('args.items.exists(x, x in args.allowed)')).toBeGreaterThan(CEL_COST_LIMIT);
    expect(estimate('args.items.exists(x, x in ["a", "b"])')).toBeLessThan(CEL_COST_LIMIT);
    expect(estimate('[1, 2, 3].map(x, x * 2).all(y, y > 0)')).toBeLessThan(200);
  });
});

describe('compileCondition: the compile-time limit', () => {
  it('refuses a condition whose estimate exceeds the limit, saying so', () => {
    expect(() => compileCondition(NESTED)).toThrow(CelCostError);
    expect(() => compileCondition(NESTED)).toThrow(/exceeds the limit of 100,000/);
  });

  it('compiles it with checkCost: false (a policy already in force), keeping the estimate', () => {
    const condition = compileCondition(NESTED, { checkCost: false });
    expect(condition.estimatedCost).toBeGreaterThan(CEL_COST_LIMIT);
  });
});

describe('evaluation: the run-time bound', () => {
  it('stops the issue’s rule on 2,000 items within milliseconds, as an evaluation error', () => {
    const { result, ms } = timed(NESTED, { items: numbers(2_000) });
    expect(result).toEqual(COST_EXCEEDED);
    expect(ms).toBeLessThan(50);
  });

  it('stops three nested levels (which never returned) just as fast', () => {
    const { result, ms } = timed(`args.items.all(z, ${NESTED})`, { items: numbers(2_000) });
    expect(result).toEqual(COST_EXCEEDED);
    expect(ms).toBeLessThan(50);
  });

  it('evaluates an accepted rule fully on ordinary inputs, and stops it on a hostile 100,000-item list', () => {
    const rule = 'args.items.all(x, x >= 0 && x < 1000000)';
    expect(estimate(rule)).toBeLessThan(CEL_COST_LIMIT);
    expect(evaluate(rule, { items: numbers(1_000) })).toBe(true);
    const { result, ms } = timed(rule, { items: numbers(100_000) });
    expect(result).toEqual(COST_EXCEEDED);
    expect(ms).toBeLessThan(50);
  });

  it('charges a comprehension by its size, not by where a match is', () => {
    // The match is the first element: a per-iteration counter would have let this one through.
    expect(evaluate('args.items.exists(x, x == 0)', { items: numbers(100_000) })).toEqual(COST_EXCEEDED);
    expect(evaluate('args.items.exists(x, x == 0)', { items: numbers(100) })).toBe(true);
  });

  it('leaves size() of a list free, so a rule can guard itself against a big input', () => {
    const guarded = 'size(args.items) > 5000 || args.items.exists(x, x == "forbidden")';
    expect(evaluate(guarded, { items: numbers(100_000) })).toBe(true);
    expect(evaluate(guarded, { items: ['a', 'forbidden'] })).toBe(true);
    expect(evaluate(guarded, { items: ['a'] })).toBe(false);
  });

  it('charges size() of a string like a native scan, so a guard on it holds for any string the API takes', () => {
    // The enforce API takes strings of up to 1 MiB in tool_args.
    const guarded = 'size(args.sql) > 10000 || args.sql.contains("DROP TABLE")';
    const { result, ms } = timed(guarded, { sql: 'x'.repeat(1_048_576) });
    expect(result).toBe(true);
    expect(ms).toBeLessThan(50);
    expect(evaluate(guarded, { sql: 'SELECT 1' })).toBe(false);
    expect(evaluate(guarded, { sql: 'DROP TABLE t' })).toBe(true);
    // Two-byte text, surrogate pairs and all: counted in a loop, still within the limit.
    expect(evaluate('args.s.size() == 600000', { s: '😀é'.repeat(300_000) })).toBe(true);
  });

  it('counts code points as CEL does: a surrogate pair is one, a lone surrogate one too', () => {
    const samples = [
      '',
      'abc',
      'héllo',
      '😀',
      'a😀b',
      '\ud800',
      '\udc00',
      '\ud800\ud800\udc00',
      'x\udc00\ud800',
      '😀😀\ud83d',
    ];
    for (const text of samples) expect(codePointCount(text), JSON.stringify(text)).toBe([...text].length);
    for (const text of samples)
      expect(
        evaluate('size(args.s) == args.n && args.s.size() == args.n', { s: text, n: [...text].length }),
      ).toBe(true);
  });

  it('is an error even where CEL would have absorbed it (`true || error`)', () => {
    expect(evaluate('args.items.all(x, x >= 0) || tool == "pay"', { items: numbers(100_000) })).toEqual(
      COST_EXCEEDED,
    );
  });

  it('charges functions by what they read: strings by length, lists element by element', () => {
    const big = 'x'.repeat(5_000_000);
    const { result, ms } = timed('args.s.contains("needle")', { s: big });
    expect(result).toEqual(COST_EXCEEDED);
    expect(ms).toBeLessThan(50);
    expect(evaluate('args.s.contains("needle")', { s: `${'x'.repeat(100_000)}needle` })).toBe(true);
    expect(evaluate('args.s.size() > 0', { s: big })).toEqual(COST_EXCEEDED);
    // `in` inside a loop reads the whole list each time: a nested loop in disguise.
    expect(evaluate('args.items.all(x, x in args.items)', { items: numbers(2_000) })).toEqual(COST_EXCEEDED);
    expect(evaluate('args.items.all(x, x in args.items)', { items: numbers(50) })).toBe(true);
    const rows = numbers(60_000).map((i) => ({ id: i, tags: ['a', 'b'] }));
    expect(evaluate('args.a == args.b', { a: rows, b: rows })).toEqual(COST_EXCEEDED);
  });

  it('meters every evaluation afresh', () => {
    const condition = compileCondition('args.items.all(x, x >= 0)');
    const small = buildCelActivation(call({ items: numbers(10) }), undefined);
    const big = buildCelActivation(call({ items: numbers(100_000) }), undefined);
    expect(condition.evaluate(big)).toEqual(COST_EXCEEDED);
    expect(condition.evaluate(small)).toBe(true);
    expect(condition.evaluate(small)).toBe(true);
  });
});

/** A call's budget with the estimates of its conditions reserved, as evaluateRules makes it. */
function budgetFor(estimates: readonly number[]): CallBudget {
  const budget = new CallBudget();
  for (const estimate of estimates) budget.reserve(estimate);
  return budget;
}

describe('evaluation: the budget of one call, shared by its conditions', () => {
  // Cheap by its estimate (16,005 units): a policy may hold a dozen. At run time 11 units an item.
  const RULE = 'args.items.all(x, x >= 0)';
  const items = (n: number) => buildCelActivation(call({ items: numbers(n) }), undefined);
  const rules = (n: number, extra: object[] = []) =>
    compilePolicy({
      rules: [
        ...Array.from({ length: n }, (_, i) => ({
          id: `r${i}`,
          condition: RULE,
          effect: 'FLAG',
          risk_points: 1,
          reason: 'r',
        })),
        ...extra,
      ],
    });

  it('allows each condition what the ones before left, less what the ones after it are estimated to need', () => {
    const condition = compileCondition(RULE);
    const estimate = condition.estimatedCost;
    // Three such conditions: 7,000 items cost 77,000 units each, within one condition's limit.
    const budget = budgetFor([estimate, estimate, estimate]);
    expect(condition.evaluate(items(7_000), budget)).toBe(true);
    expect(condition.evaluate(items(7_000), budget)).toBe(true);
    // The third is left 46,000, less than it needs, but more than its estimate: stopped by the call's budget.
    expect(condition.evaluate(items(7_000), budget)).toEqual({
      error: expect.stringMatching(
        /^cost limit exceeded: the call's conditions together may spend 200,000 units, and this one was stopped at the 46,000 left to it/,
      ),
      overBudget: true,
    });
    // Its own limit still speaks for itself: 10,000 items need 110,000, over any condition's limit.
    expect(condition.evaluate(items(10_000), budgetFor([estimate]))).toEqual(COST_EXCEEDED);
    expect(condition.evaluate(items(10_000), budgetFor([estimate]))).not.toHaveProperty('overBudget');
  });

  it('never starves a condition below its own estimate, however the others spent', () => {
    const condition = compileCondition(RULE);
    const budget = budgetFor(Array.from({ length: 5 }, () => condition.estimatedCost));
    // The first may take up to its own limit (the other four's estimates stay reserved): 99,000 units.
    expect(condition.evaluate(items(9_000), budget)).toBe(true);
    // The second is left 101,000 less the three estimates after it: not enough for 9,000 items.
    expect(condition.evaluate(items(9_000), budget)).toMatchObject({ overBudget: true });
    // The last three still get their estimates: inputs of the assumed size pass.
    for (let i = 0; i < 3; i++) expect(condition.evaluate(items(1_000), budget)).toBe(true);
  });

  it('bounds a policy of many rules by the call, and counts a rule it could not cover as matched', () => {
    const policy = rules(6, [
      { id: 'pay', condition: 'tool == "pay"', effect: 'BLOCK', reason: 'no payments' },
    ]);
    // On inputs of the assumed size every rule runs: all six match, the cheap last one decides.
    const ordinary = evaluateRules(call({ items: numbers(1_000) }), policy, undefined);
    expect(ordinary.errors).toEqual([]);
    expect(ordinary.winner?.id).toBe('pay');
    // 9,000 items: each rule would spend 99,000 (594,000 in all). r0 runs in full (the others' estimates stay
    // reserved), r1-r4 find too little left and count as matched (listed as errors too), r5 has the rest; the
    // call spends 198,000 units, and cannot slip past any rule.
    const hostile = evaluateRules(call({ items: numbers(9_000) }), policy, undefined);
    expect(hostile.errors.map((e) => e.rule_id)).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(hostile.matched.map((r) => r.id)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'pay']);
    const counted = hostile.matched.filter((r) => r.reason.includes('(counted as matched'));
    expect(counted.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4']);
    // The rule's own reason code, for what filters on it.
    expect(counted.every((r) => r.reasonCode === 'policy_rule')).toBe(true);
  });

  it("lets no caller switch a rule off by making another rule's input large (the rule guards its own size)", () => {
    const policy = compilePolicy({
      rules: [
        { id: 'rows-a', condition: 'args.rows.all(x, x >= 0)', effect: 'FLAG', risk_points: 1, reason: 'a' },
        {
          id: 'rows-b',
          condition: 'args.rows.all(x, x < 1000000)',
          effect: 'FLAG',
          risk_points: 1,
          reason: 'b',
        },
        {
          id: 'no-drop',
          condition: 'size(args.sql) > 100000 || args.sql.contains("DROP TABLE")',
          effect: 'BLOCK',
          reason: 'DROP TABLE, or too much SQL to check',
        },
      ],
    });
    const allowed = evaluateRules(call({ rows: numbers(100), sql: 'SELECT 1' }), policy, undefined);
    expect(allowed.winner?.effect).toBe('FLAG');
    // The rows drain the call's budget (2 × 99,000); a 30,000-character statement needs 3,000 units, more than is
    // left for no-drop.
    const sql = `${'SELECT 1; '.repeat(2_999)}DROP TABLE t`;
    const drained = evaluateRules(call({ rows: numbers(9_000), sql }), policy, undefined);
    expect(drained.winner).toMatchObject({ id: 'no-drop', effect: 'BLOCK' });
    expect(drained.errors.map((e) => e.rule_id)).toEqual(['no-drop']);
    expect(drained.winner?.reason).toMatch(/^DROP TABLE, or too much SQL to check \(counted as matched/);
  });
});

describe('evaluation: a policy in force from before the per-call limit, over it', () => {
  // Five rules of about 84,000 units each (420,000 in all): refused now when applied, re-compiled as they are.
  const HEAVY =
    'args.items.all(x, x >= 0 && x < 1000000 && x != 123456789 && x % 7 != 1000 && x * 2 < 100000000)';
  const legacy = compilePolicy(
    {
      rules: Array.from({ length: 5 }, (_, i) => ({
        id: `h${i}`,
        condition: HEAVY,
        effect: 'BLOCK',
        reason: 'h',
      })),
    },
    { checkCost: false },
  );

  it('is held to the limit all the same: the conditions that do not fit count as matched', () => {
    const estimates = legacy.rules.map((r) => r.condition.estimatedCost);
    expect(estimates.reduce((a, b) => a + b, 0)).toBeGreaterThan(2 * DECISION_COST_LIMIT);
    // Whatever each spends of what it is allowed, the call's conditions are allowed 200,000 units at most.
    const budget = budgetFor(estimates);
    let allowed = 0;
    for (const estimate of estimates) {
      const allowance = budget.allowanceFor(estimate);
      allowed += allowance;
      budget.spend(allowance);
    }
    expect(allowed).toBe(DECISION_COST_LIMIT);
    // On 1,000 items (49,000 units a rule): h0-h2 find too little kept for them and count as matched, h3 and h4 run.
    const evaluation = evaluateRules(call({ items: numbers(1_000) }), legacy, undefined);
    expect(evaluation.errors.map((e) => e.rule_id)).toEqual(['h0', 'h1', 'h2']);
    expect(evaluation.matched).toHaveLength(5);
    // Re-applied as it is, it is refused, naming the limit.
    expect(() =>
      compilePolicy({
        rules: legacy.rules.map((r) => ({ id: r.id, condition: HEAVY, effect: 'BLOCK', reason: 'h' })),
      }),
    ).toThrow(/conditions too costly together/);
  });
});

describe('map and filter results (grown in place)', () => {
  it.each([
    'args.items.map(x, x * 2) == [2, 4, 6]',
    'args.items.filter(x, x != 2) == [1, 3]',
    'args.items.map(x, x > 1, x) == [2, 3]',
    'args.items.map(x, [x]).map(l, l.size()) == [1, 1, 1]',
    'args.items.map(x, x).exists(y, y == 3) && args.items.filter(x, true).size() == 3',
  ])('%s, evaluation after evaluation', (source) => {
    const condition = compileCondition(source);
    const activation = buildCelActivation(call({ items: [1, 2, 3] }), undefined);
    expect(condition.evaluate(activation)).toBe(true);
    expect(condition.evaluate(activation)).toBe(true);
  });

  it('iterate in linear time (before, 3,000 mapped elements took 140 ms and 5,000 overflowed the stack)', () => {
    const { result, ms } = timed('args.items.map(x, x).all(y, y >= 0)', { items: numbers(4_000) });
    expect(result).toBe(true);
    expect(ms).toBeLessThan(50);
  });
});

describe('string functions replaced for speed keep their results', () => {
  const library = celEnv({ variables: { s: CelScalar.STRING }, funcs: strings });
  const original = (source: string, s: string) => plan(library, parse(source))({ s });

  it.each([
    ['s.replace("a", "bb")', 'banana'],
    ['s.replace("an", "")', 'banana'],
    ['s.replace("a", "x", 2)', 'banana'],
    ['s.replace("a", "x", 0)', 'banana'],
    ['s.replace("a", "x", -1)', 'banana'],
    ['s.replace("", "-")', 'abc'],
    ['s.replace("", "-", 2)', 'abc'],
    ['s.replace("aa", "a")', 'aaaaa'],
    ['s.replace("zz", "y")', 'banana'],
    ['s.lowerAscii()', 'MiXeD Été ÀB-9'],
    ['s.upperAscii()', 'MiXeD été àb-9'],
  ])('%s on %j', (source, s) => {
    const expected = original(source, s);
    expect(typeof expected).toBe('string');
    expect(evaluate(`args.${source} == args.expected`, { s, expected })).toBe(true);
  });

  it('replace() is linear: 500,000 occurrences end in milliseconds, not minutes', () => {
    const { result, ms } = timed('args.s.replace("a", "c") == ""', { s: 'ab'.repeat(500_000) });
    expect(result).toEqual(COST_EXCEEDED);
    expect(ms).toBeLessThan(50);
    expect(evaluate('args.s.replace("", "xx", 100000000) == ""', { s: 'x' })).toEqual(COST_EXCEEDED);
  });
});
