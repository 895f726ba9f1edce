import { describe, expect, it } from 'vitest';
import { createRedactor, customPatternsProblem, REDACTION_GROUPS, type RedactionGroup } from './redaction.ts';

/**
 * Redaction sees request data on the enforce path, so its cost must grow linearly with the input: a backtracking
 * pattern that is quadratic on some input lets one request hold the event loop for seconds (a 160k-character
 * `-eyJaaaaa…` once took 8.9 s). Each attack below is shaped against one pattern — its prefix repeated without
 * what must follow, long runs without the character it anchors on, an opening it never closes — and is
 * redacted at n, 4n and 16n characters, by its own group's redactor and by the full one.
 *
 * Timing on a shared, noisy machine: every measurement redacts 16n characters in all (16 calls at n, 4 at 4n,
 * one at 16n), so the three sizes are compared at the same total work, and keeps the fastest of several runs:
 * noise (garbage collection of the large strings, other processes) only ever adds time, and a quadratic
 * pattern is slow on every run. Linear growth gives a per-call ratio near 4 and 16; quadratic gives 16 and 256.
 */

const N = 10_000;
const RUNS = 7;
/** One call slower than this is quadratic already: stop repeating it (the old code took seconds a call). */
const GIVE_UP_MS = 500;
/** 16n = 160k characters, redacted by the full redactor. */
const BUDGET_16N_MS = 100;

const repeatTo = (unit: string, size: number): string =>
  unit.repeat(Math.ceil(size / unit.length)).slice(0, size);

interface Attack {
  group: RedactionGroup;
  name: string;
  input: (size: number) => string;
}

const ATTACKS: Attack[] = [
  { group: 'api_keys', name: 'Thoth key prefixes, glued', input: (s) => repeatTo('thoth_live_', s) },
  {
    group: 'api_keys',
    name: 'Thoth key prefixes, body one short',
    input: (s) => repeatTo(`thoth_test_${'a'.repeat(15)}!`, s),
  },
  {
    group: 'api_keys',
    name: 'sk- prefixes, body one short',
    input: (s) => repeatTo(`sk-${'a'.repeat(19)} `, s),
  },
  { group: 'api_keys', name: 'sk- inside words', input: (s) => repeatTo('task-', s) },
  { group: 'api_keys', name: 'Stripe prefixes, glued', input: (s) => repeatTo('xsk_live_', s) },
  { group: 'api_keys', name: 'AWS prefixes, glued', input: (s) => repeatTo('AKIA', s) },
  {
    group: 'api_keys',
    name: 'GitHub tokens ending in an underscore',
    input: (s) => repeatTo(`ghp_${'a'.repeat(40)}_`, s),
  },
  { group: 'api_keys', name: 'GitHub token, one long run', input: (s) => `ghp_${'a'.repeat(s - 5)}_` },
  { group: 'api_keys', name: 'Slack prefixes, glued', input: (s) => repeatTo('xoxb-', s) },
  { group: 'api_keys', name: 'Google prefixes, glued', input: (s) => repeatTo('AIza', s) },
  {
    group: 'bearer_tokens',
    name: 'Bearer, then only whitespace',
    input: (s) => `Bearer${' '.repeat(s - 6)}`,
  },
  { group: 'bearer_tokens', name: 'Bearer words', input: (s) => repeatTo('Bearer ', s) },
  { group: 'bearer_tokens', name: 'JWT prefixes without a dot', input: (s) => repeatTo('-eyJaaaaa', s) },
  { group: 'bearer_tokens', name: 'JWT prefixes, glued', input: (s) => repeatTo('eyJ', s) },
  { group: 'bearer_tokens', name: 'JWT segments one short', input: (s) => repeatTo('eyJaaaaa.aaaa.', s) },
  // Text without `eyJ`, `@`, `=` or `:` skips the pattern that needs it: those attacks end with it.
  {
    group: 'bearer_tokens',
    name: 'dotted runs, eyJ only at the end',
    input: (s) => `${repeatTo('aaaaa.', s - 3)}eyJ`,
  },
  { group: 'card_numbers', name: 'one long digit run', input: (s) => repeatTo('4', s) },
  { group: 'card_numbers', name: 'digits between spaces', input: (s) => repeatTo('4 ', s) },
  { group: 'card_numbers', name: 'digits between dashes', input: (s) => repeatTo('4-', s) },
  { group: 'private_keys', name: 'BEGIN without a label', input: (s) => repeatTo('-----BEGIN ', s) },
  {
    group: 'private_keys',
    name: 'headers one dash short',
    input: (s) => repeatTo('-----BEGIN RSA PRIVATE KEY----', s),
  },
  {
    group: 'private_keys',
    name: 'a long header label',
    input: (s) => `-----BEGIN ${repeatTo('PRIVATE KEY ', s - 11)}`,
  },
  {
    group: 'private_keys',
    name: 'a key, then END lines without a label',
    input: (s) => `-----BEGIN PRIVATE KEY-----\n${repeatTo('-----END PRIVATE ', s - 28)}`,
  },
  { group: 'emails', name: 'a dotted run, @ only at the end', input: (s) => `${repeatTo('a.', s - 1)}@` },
  { group: 'emails', name: 'a dashed run, @ only at the end', input: (s) => `${repeatTo('a-', s - 1)}@` },
  { group: 'emails', name: 'an @ first, then a dotted run', input: (s) => `@${repeatTo('a.', s - 1)}` },
  { group: 'emails', name: 'at signs without a domain', input: (s) => repeatTo('a@', s) },
  {
    group: 'emails',
    name: 'a domain without a top-level domain',
    input: (s) => `a@${repeatTo('a-', s - 2)}`,
  },
  { group: 'emails', name: 'domains ending in a digit', input: (s) => repeatTo('a@a.a1', s) },
  { group: 'secret_fields', name: 'one long word, = at the end', input: (s) => `${repeatTo('a', s - 1)}=` },
  {
    group: 'secret_fields',
    name: 'secret names glued into one long word',
    input: (s) => `${repeatTo('password', s - 1)}=`,
  },
  { group: 'secret_fields', name: 'secret names without a value', input: (s) => repeatTo('password=', s) },
  { group: 'secret_fields', name: 'quotes never closed', input: (s) => repeatTo('password="', s) },
  {
    group: 'secret_fields',
    name: 'names too long to be keys',
    input: (s) => repeatTo(`${'a'.repeat(100)}=`, s),
  },
  { group: 'secret_fields', name: 'separators only', input: (s) => repeatTo(': ', s) },
];

/** Milliseconds one call takes on `input`: the fastest of RUNS runs, each redacting 16N characters in all. */
function perCallMs(redact: (input: string) => unknown, input: string): number {
  const calls = Math.max(1, Math.round((16 * N) / input.length));
  const samples: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) redact(input);
    const ms = (performance.now() - start) / calls;
    samples.push(ms);
    if (ms > GIVE_UP_MS) break;
  }
  return Math.min(...samples);
}

interface Growth {
  ms: [number, number, number];
  /** Per-call time at 4n and 16n over the time at n. */
  ratio4: number;
  ratio16: number;
}

function growth(redact: (input: string) => unknown, inputOfSize: (size: number) => string): Growth {
  const inputs = [N, 4 * N, 16 * N].map(inputOfSize);
  for (const input of inputs) expect(input.length).toBeGreaterThanOrEqual(N);
  redact(inputs[0]!); // warm up (compile the patterns) outside the measurement
  const ms = inputs.map((input) => perCallMs(redact, input)) as [number, number, number];
  // A tenth of a millisecond at n is the floor: below it, a hiccup of the machine outweighs the redaction, and
  // 4 ms at 16n is no stall whatever the growth. Every quadratic pattern the old code had took over 10 ms at n.
  const base = Math.max(ms[0], 0.1);
  return { ms, ratio4: ms[1] / base, ratio16: ms[2] / base };
}

const describeGrowth = (g: Growth): string =>
  `${g.ms.map((ms) => ms.toFixed(2)).join(' / ')} ms at n / 4n / 16n`;

const everyGroup = createRedactor({ groups: REDACTION_GROUPS });

describe('redaction time grows linearly with the input', () => {
  for (const group of REDACTION_GROUPS) {
    const redactor = createRedactor({ groups: [group] });
    for (const attack of ATTACKS.filter((a) => a.group === group)) {
      it(`${group}: ${attack.name}`, { timeout: 120_000 }, () => {
        // Text is what the patterns scan; the value walk is what sees a tool call's arguments.
        const text = growth((input) => redactor.text(input), attack.input);
        expect(text.ratio16, describeGrowth(text)).toBeLessThan(40);
        expect(text.ratio4, describeGrowth(text)).toBeLessThan(12);
        const full = growth((input) => everyGroup.value({ tool_args: { q: input } }), attack.input);
        expect(full.ratio16, describeGrowth(full)).toBeLessThan(40);
        expect(full.ms[2], describeGrowth(full)).toBeLessThan(BUDGET_16N_MS);
      });
    }
  }

  // Custom patterns pass a static check (redaction.ts): the worst it accepts — repeats at its limits, on a run
  // of their characters that never ends in the terminator — costs more per character than the built-ins but
  // still grows linearly.
  for (const [pattern, unit] of [
    ['[a-z]{1,64}X', 'a'],
    ['[a-z]{0,7}[a-z]{0,15}X', 'a'],
    ['x?x?x?x?x?x?x?y', 'x'],
    [String.raw`(?:\+?1[-. ]?)?\(?\d{3}\)?[-. ]?\d{3}[-. ]?\d{4}`, '1'],
    [String.raw`ACME-\d+`, 'ACME-'],
  ] as const) {
    it(`custom pattern at the check's limits: ${pattern}`, { timeout: 120_000 }, () => {
      expect(customPatternsProblem([pattern])).toBeUndefined();
      const redactor = createRedactor({ groups: [], custom: [pattern] });
      const text = growth(
        (input) => redactor.text(input),
        (size) => repeatTo(unit, size),
      );
      expect(text.ratio16, describeGrowth(text)).toBeLessThan(40);
      expect(text.ms[2], describeGrowth(text)).toBeLessThan(2.5 * BUDGET_16N_MS);
    });
  }

  it('every attack at once, through the full redactor', { timeout: 120_000 }, () => {
    const mixed = (size: number): string =>
      ATTACKS.map((a) => `${a.input(Math.ceil(size / ATTACKS.length))} `).join('');
    const full = growth((input) => everyGroup.text(input), mixed);
    expect(full.ratio16, describeGrowth(full)).toBeLessThan(40);
    expect(full.ms[2], describeGrowth(full)).toBeLessThan(BUDGET_16N_MS);
  });
});
