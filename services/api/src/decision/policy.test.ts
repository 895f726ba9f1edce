import { describe, expect, it } from 'vitest';
import { compilePolicy, DEFAULT_POLICY, PolicyError, parsePolicyText } from './policy.ts';

const rule = (overrides: Record<string, unknown> = {}) => ({
  id: 'r1',
  condition: 'tool == "pay"',
  effect: 'BLOCK',
  reason: 'no payments',
  ...overrides,
});

function policyError(doc: unknown): string {
  try {
    compilePolicy(doc);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    return (error as Error).message;
  }
  throw new Error('expected compilePolicy to throw');
}

describe('compilePolicy', () => {
  it('fills defaults: version 1, thresholds 30/60/85, half-life 600 s, reason code policy_rule, 0 risk points', () => {
    const policy = compilePolicy({ rules: [rule()] });
    expect(policy.version).toBe(1);
    expect(policy.thresholds).toEqual({ warn: 30, stepUp: 60, block: 85 });
    expect(policy.halfLifeMs).toBe(600_000);
    expect(policy.rules[0]).toMatchObject({
      id: 'r1',
      effect: 'BLOCK',
      reasonCode: 'policy_rule',
      riskPoints: 0,
    });
  });

  it('keeps partial threshold overrides on top of the defaults', () => {
    const policy = compilePolicy({
      thresholds: { block: 95 },
      session_decay_half_life_seconds: 30,
      rules: [],
    });
    expect(policy.thresholds).toEqual({ warn: 30, stepUp: 60, block: 95 });
    expect(policy.halfLifeMs).toBe(30_000);
  });

  it('gives DEFER rules a 60 s timeout unless they set one', () => {
    const policy = compilePolicy({
      rules: [
        rule({ id: 'a', effect: 'DEFER' }),
        rule({ id: 'b', effect: 'DEFER', defer_timeout_seconds: 5 }),
      ],
    });
    expect(policy.rules.map((r) => r.deferTimeoutSeconds)).toEqual([60, 5]);
  });

  it('turns tools into a set for the fast path', () => {
    const policy = compilePolicy({ rules: [rule({ tools: ['pay', 'refund'] })] });
    expect([...(policy.rules[0]?.tools ?? [])]).toEqual(['pay', 'refund']);
  });

  it('names the rule id and the field of a type error', () => {
    const message = policyError({ rules: [rule(), rule({ id: 'pay-limit', risk_points: 'ten' })] });
    expect(message).toMatch(/rule 'pay-limit' \(rules\[1\]\)\.risk_points/);
  });

  it('rejects an unknown effect, naming the rule', () => {
    expect(policyError({ rules: [rule({ id: 'x', effect: 'block' })] })).toMatch(
      /rule 'x' \(rules\[0\]\)\.effect/,
    );
  });

  it('rejects misspelt keys instead of ignoring them', () => {
    expect(policyError({ rules: [rule({ reson_code: 'x' })] })).toMatch(/rule 'r1'.*reson_code/);
    expect(policyError({ rules: [], threshold: {} })).toMatch(/threshold/);
  });

  it('rejects duplicate rule ids', () => {
    expect(policyError({ rules: [rule(), rule()] })).toMatch(/rules\[1\]\)\.id: duplicate rule id 'r1'/);
  });

  it('requires modify for MODIFY and forbids it elsewhere', () => {
    expect(policyError({ rules: [rule({ id: 'm', effect: 'MODIFY' })] })).toMatch(
      /rule 'm'.*\.modify: required/,
    );
    expect(policyError({ rules: [rule({ modify: { redact: ['x'] } })] })).toMatch(/modify: only allowed/);
    expect(policyError({ rules: [rule({ effect: 'MODIFY', modify: {} })] })).toMatch(
      /at least one of redact/,
    );
  });

  it('keeps timeouts to the effect they belong to, as integers', () => {
    expect(policyError({ rules: [rule({ defer_timeout_seconds: 10 })] })).toMatch(
      /defer_timeout_seconds: only/,
    );
    expect(policyError({ rules: [rule({ effect: 'STEP_UP', step_up_timeout_seconds: 1.5 })] })).toMatch(
      /step_up_timeout_seconds/,
    );
  });

  it('requires risk points on a FLAG rule', () => {
    expect(policyError({ rules: [rule({ effect: 'FLAG' })] })).toMatch(
      /risk_points: must be > 0 when effect is FLAG/,
    );
  });

  it('rejects thresholds out of order or off the 0-100 scale', () => {
    expect(policyError({ rules: [], thresholds: { warn: 70 } })).toMatch(/warn <= step_up <= block/);
    expect(policyError({ rules: [], thresholds: { block: 150 } })).toMatch(/thresholds\.block/);
  });

  it('names the rule id and the CEL error of a condition that does not parse', () => {
    expect(policyError({ rules: [rule({ id: 'broken', condition: 'tool ==' })] })).toMatch(
      /^rule 'broken': invalid condition: .*expecting/,
    );
  });

  it('rejects unknown variables and functions at compile time (the library only notices at run time)', () => {
    expect(policyError({ rules: [rule({ id: 'typo', condition: 'tol == "x"' })] })).toMatch(
      /rule 'typo': invalid condition: unknown variable 'tol'/,
    );
    expect(policyError({ rules: [rule({ id: 'fn', condition: 'tool.shout()' })] })).toMatch(
      /rule 'fn': invalid condition: unknown function 'shout'/,
    );
  });

  it('accepts macros, comprehension variables, type names and the strings extension', () => {
    const policy = compilePolicy({
      rules: [
        rule({ id: 'a', condition: 'args.exists(k, k.startsWith("card")) && session.calls.all(c, c != "")' }),
        rule({ id: 'b', condition: 'type(args.n) == int && tool.lowerAscii().split("_").size() > 1' }),
        rule({ id: 'c', condition: 'strings.quote(tool) != "" && {"a": 1}["a"] == 1' }),
      ],
    });
    expect(policy.rules).toHaveLength(3);
  });

  it('refuses a condition over the cost limit, naming the rule and the limit', () => {
    const nested = rule({ id: 'nested', condition: 'args.items.all(x, args.items.all(y, x + y >= 0))' });
    expect(policyError({ rules: [rule(), nested] })).toMatch(
      /^rule 'nested': condition too costly: estimated cost [\d,]+ exceeds the limit of 100,000/,
    );
    // A version already in force still compiles when re-applied: its evaluations are bounded at run time.
    expect(compilePolicy({ rules: [nested] }, { checkCost: false }).rules[0]?.id).toBe('nested');
  });

  it('refuses a policy whose conditions add up, for some tool, to more than a call may spend', () => {
    // Each rule alone is accepted (about 84,000 units); three of them for the same call are not.
    const heavy = (id: string, tools?: string[]) =>
      rule({
        id,
        condition:
          'args.items.all(x, x >= 0 && x < 1000000 && x != 123456789 && x % 7 != 1000 && x * 2 < 100000000)',
        ...(tools ? { tools } : {}),
      });
    expect(() => compilePolicy({ rules: [heavy('a'), heavy('b')] })).not.toThrow();
    expect(policyError({ rules: [rule(), heavy('a'), heavy('b'), heavy('c')] })).toMatch(
      /^conditions too costly together: a call evaluates an estimated 252,\d{3} units of them, over the limit of 200,000 per call \(costliest: 'a' 84,\d{3}, 'b' 84,\d{3}, 'c' 84,\d{3}\)/,
    );
    // Restricted to their tools, no call evaluates more than two of them...
    const split = [heavy('a'), heavy('b', ['import_rows']), heavy('c', ['export_rows'])];
    expect(compilePolicy({ rules: split }).rules).toHaveLength(3);
    // ...unless a tool is named by two of them beside a rule for every tool.
    expect(policyError({ rules: [...split, heavy('d', ['export_rows'])] })).toMatch(
      /^conditions too costly together: a call to 'export_rows' evaluates an estimated 252,/,
    );
    // A version already in force: bounded at run time by the call's budget instead.
    expect(
      compilePolicy({ rules: [heavy('a'), heavy('b'), heavy('c')] }, { checkCost: false }).rules,
    ).toHaveLength(3);
  });
});

describe('parsePolicyText', () => {
  it('reads YAML and JSON into the same document', () => {
    const yaml = parsePolicyText(
      'rules:\n  - id: r1\n    condition: tool == "pay"\n    effect: BLOCK\n    reason: no\n',
      'yaml',
    );
    const json = parsePolicyText(
      '{"rules":[{"id":"r1","condition":"tool == \\"pay\\"","effect":"BLOCK","reason":"no"}]}',
      'json',
    );
    expect(yaml).toEqual(json);
    expect(compilePolicy(yaml).rules[0]?.id).toBe('r1');
  });

  it("refuses a MODIFY value JSON cannot carry (YAML's .inf, .nan), naming the rule, when the policy loads", () => {
    for (const value of ['.inf', '-.inf', '.nan', '[1, .inf]', '{ cap: .nan }']) {
      const doc = parsePolicyText(
        `rules:\n  - { id: cap, condition: "true", effect: MODIFY, reason: cap, modify: { set: { amount: ${value} } } }\n`,
        'yaml',
      );
      expect(() => compilePolicy(doc)).toThrow(
        /rule 'cap' \(rules\[0\]\)\.modify\.set\.amount.*finite number/,
      );
    }
    const finite = parsePolicyText(
      'rules:\n  - { id: cap, condition: "true", effect: MODIFY, reason: cap, modify: { set: { amount: 10, note: [1, null, { a: "x" }] } } }\n',
      'yaml',
    );
    expect(compilePolicy(finite).rules[0]?.modify?.set).toEqual({ amount: 10, note: [1, null, { a: 'x' }] });
  });

  it('throws PolicyError on a syntax error', () => {
    expect(() => parsePolicyText('{"rules": [', 'json')).toThrow(PolicyError);
    expect(() => parsePolicyText('rules: [\n', 'yaml')).toThrow(/invalid policy yaml/);
  });
});

describe('DEFAULT_POLICY', () => {
  it('has no rules and the default thresholds and half-life', () => {
    expect(DEFAULT_POLICY).toMatchObject({
      version: 1,
      rules: [],
      thresholds: { warn: 30, stepUp: 60, block: 85 },
      halfLifeMs: 600_000,
    });
  });
});
