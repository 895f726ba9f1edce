import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ADMIN_AGENT_ID } from '../records.ts';
import { enforceRequestSchema } from './enforce.ts';
import { plainEnforceRequest } from './enforce-plain.ts';

const LONE_SURROGATE = 'a\ud800b';
const strings = (max: number) => [
  '',
  'x',
  'search_docs',
  'x'.repeat(max),
  'x'.repeat(max + 1),
  LONE_SURROGATE,
  'é✓',
];
const notStrings = [0, 1.5, true, [], {}, ['x']];
const nameLists = [
  [],
  ['a', 'b'],
  ['x'.repeat(512)],
  ['x'.repeat(513)],
  [1],
  [null],
  Array(10_001).fill('a'),
  'a',
];
const modes = [
  'observe',
  'progressive',
  'step_up',
  'block',
  'Step-Up',
  'STEP_UP',
  'step-up',
  'BLOCK',
  'nope',
  ' observe',
];
const freeJson = [
  null,
  0,
  'text',
  [1, 'a'],
  { args: [], kwargs: { limit: 10 } },
  { n: Array(10_001).fill(0) },
  [],
];
const records = [
  {},
  { a: 1 },
  { sdk_language: 'python', nested: { deep: [1, 2] } },
  [],
  'x',
  3,
  { big: Array(10_001).fill(0) },
];

/** Values a field may take in a generated body: valid ones, wrong types, bounds ±1, absent (undefined) and null. */
const FIELDS: Record<string, unknown[]> = {
  agent_id: [...strings(512), ADMIN_AGENT_ID, ...notStrings],
  tenant_id: [...strings(512), ...notStrings],
  tool_name: [...strings(512), ...notStrings],
  session_id: [...strings(512), ...notStrings],
  user_id: [...strings(512), ...notStrings],
  session_tool_calls: nameLists,
  approved_scope: nameLists,
  enforcement_mode: [...modes, ...notStrings],
  environment: [...strings(4_096), ...notStrings],
  enforcement_trace_id: [...strings(512), ...notStrings],
  tool_args: freeJson,
  session_intent: strings(4_096),
  purpose: [...strings(4_096), 5],
  data_classification: [...strings(4_096), []],
  task_context: records,
  identity_binding: freeJson,
  metadata: records,
  request_id: [...strings(512), 7],
  occurred_at: [...strings(64), 7],
  endpoint_id: strings(4_096),
  fleet_id: strings(4_096),
  model_name: strings(4_096),
  model_provider: [...strings(4_096), {}],
  an_unknown_field: ['ignored', { a: 1 }],
};

const VALID: Record<string, unknown> = {
  agent_id: 'invoice-processor-v2',
  tenant_id: 'acme-corp',
  tool_name: 'search_docs',
  session_id: 'session-1',
};

/** The values of each field its own schema accepts (an unknown field: all of them). */
const VALID_VALUES: Record<string, unknown[]> = Object.fromEntries(
  Object.entries(FIELDS).map(([field, values]) => {
    const schema = (
      enforceRequestSchema.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>
    )[field];
    return [field, values.filter((value) => schema === undefined || schema.safeParse(value).success)];
  }),
);

/**
 * A body near a valid one: each field absent (the four ids kept) or one of its valid values, then up to two
 * fields set to any of their values, valid or not.
 */
function generatedBody(next: () => number): unknown {
  const pick = <T>(values: T[]) => values[Math.floor(next() * values.length)];
  const body: Record<string, unknown> = {};
  for (const [field, values] of Object.entries(VALID_VALUES)) {
    if (next() < 0.5) body[field] = pick(values);
    else if (field in VALID) body[field] = VALID[field];
  }
  const wild = Math.floor(next() * 3);
  for (let i = 0; i < wild; i++) {
    const field = pick(Object.keys(FIELDS))!;
    body[field] = pick(FIELDS[field]!);
  }
  // As the server sees it: what JSON.parse makes of the text.
  return JSON.parse(JSON.stringify(body));
}

/** Compares one body: the plain check's result is the schema's, and it declines only where it says it may. */
function compare(body: unknown): { plain: boolean; valid: boolean } {
  const plain = plainEnforceRequest(body);
  const parsed = enforceRequestSchema.safeParse(body);
  if (plain !== undefined) {
    expect(parsed.success, JSON.stringify(body).slice(0, 300)).toBe(true);
    expect(isDeepStrictEqual(plain, parsed.data), JSON.stringify(body).slice(0, 300)).toBe(true);
    // Key order too (isDeepStrictEqual ignores it).
    expect(Object.keys(plain)).toEqual(Object.keys(parsed.data as object));
  }
  return { plain: plain !== undefined, valid: parsed.success };
}

describe('plainEnforceRequest', () => {
  it('gives what the schema gives for every body it accepts, and accepts every body the schema accepts', () => {
    // Seeded (MINSTD, exact in doubles): the same bodies every run, so a failure can be replayed.
    let state = 24;
    const next = () => {
      state = (state * 48_271) % 2_147_483_647;
      return state / 2_147_483_647;
    };
    let accepted = 0;
    let valid = 0;
    for (let i = 0; i < 3_000; i++) {
      const body = generatedBody(next);
      const outcome = compare(body);
      // The one valid body it leaves to the schema: a record with its own `__proto__` member (not generated here).
      expect(outcome.plain, JSON.stringify(body).slice(0, 300)).toBe(outcome.valid);
      if (outcome.plain) accepted++;
      if (outcome.valid) valid++;
    }
    // The generator must reach both sides, or the comparison above proves little.
    expect(valid).toBeGreaterThan(300);
    expect(3_000 - valid).toBeGreaterThan(300);
    expect(accepted).toBe(valid);
  });

  it('accepts the bodies the SDKs send, as the schema parses them', () => {
    const typescript = {
      ...VALID,
      user_id: 'alice@example.com',
      session_tool_calls: ['search_docs'],
      approved_scope: ['search_docs', 'read_file'],
      enforcement_mode: 'progressive',
      environment: 'prod',
      tool_args: { args: ['quarterly report'], kwargs: { limit: 10 } },
      request_id: '0b9c6e0e-5f8e-4b8e-9d36-1e3f0c7a2d11',
      occurred_at: '2026-12-05T10:00:00.000Z',
      enforcement_trace_id: 'trace-1',
    };
    const python = { ...typescript, metadata: { sdk_language: 'python', sdk_version: '0.4.0' } };
    const go = {
      ...VALID,
      user_id: '',
      enforcement_mode: 'step-up',
      session_tool_calls: null,
      tool_args: null,
    };
    for (const body of [typescript, python, go])
      expect(compare(JSON.parse(JSON.stringify(body))).plain).toBe(true);
  });

  it('leaves to the schema what it is not sure of: a record member named __proto__, a non-object body', () => {
    const withProto = JSON.parse(
      `{"agent_id":"a","tenant_id":"t","tool_name":"x","session_id":"s","metadata":{"__proto__":{"x":1}}}`,
    );
    expect(plainEnforceRequest(withProto)).toBeUndefined();
    expect(enforceRequestSchema.safeParse(withProto).success).toBe(true);
    for (const body of [null, undefined, 'text', 3, [VALID]])
      expect(plainEnforceRequest(body)).toBeUndefined();
  });
});
