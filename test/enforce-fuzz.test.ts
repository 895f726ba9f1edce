import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topicNames, topicSpecs } from '@thoth/contracts';
import { AvroCodec, loadConfig, MemoryBus } from '@thoth/platform';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiService, startApiService } from '../services/api/src/api-service.ts';
import { describeMismatch, type ResponseMismatch } from '../services/api/src/http/response-validation.ts';
import { policySetFrom } from '../services/api/src/policy-source.ts';

/**
 * Fuzzes the three data-plane routes (POST /v1/enforce, GET /v1/enforce/hold/:token, POST /v1/events/batch)
 * with thousands of random and mutated requests, first through `inject()`, then as malformed HTTP over real
 * sockets. Invariants: never a 5xx, every error is the flat `{error, message}` JSON, and the server keeps
 * answering a valid enforce afterwards.
 *
 * Deterministic: THOTH_FUZZ_SEED (default below) seeds everything; THOTH_FUZZ_CASES / THOTH_FUZZ_RAW_CASES
 * set the amounts. A failure prints the seed, the case number, the request and the server's logged stack.
 * No Kafka: the API runs on the in-memory bus.
 */

const SEED = Number(process.env.THOTH_FUZZ_SEED ?? 0x7407f022) >>> 0;
const CASES = Number(process.env.THOTH_FUZZ_CASES ?? 5_000);
const RAW_CASES = Number(process.env.THOTH_FUZZ_RAW_CASES ?? 300);
/** Small on purpose: oversized bodies stay cheap to build and to refuse. */
const BODY_LIMIT = 256 * 1024;
const TENANT = 'acme-corp';
const OTHER_TENANT = 'globex';
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789abcdef';
const DECISIONS = new Set(['ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY', 'DEFER']);

const POLICY = {
  rules: [
    {
      id: 'payment-limit',
      condition: 'tool == "submit_payment" && args.amount > 10000',
      effect: 'BLOCK',
      reason: 'payments above 10,000 need a human',
      reason_code: 'payment_limit',
      risk_points: 40,
    },
    {
      id: 'pii-flag',
      condition: 'data_classification == "pii"',
      effect: 'FLAG',
      reason: 'personal data',
      risk_points: 10,
    },
    {
      id: 'runaway-session',
      condition: 'session.count > 1000000',
      effect: 'DEFER',
      reason: 'session too long',
      defer_timeout_seconds: 30,
    },
    {
      id: 'delete-needs-approval',
      condition: 'tool == "delete_records"',
      effect: 'STEP_UP',
      reason: 'deletions need approval',
    },
    {
      id: 'redact-email-body',
      condition: 'tool == "send_email" && has(args.body)',
      effect: 'MODIFY',
      reason: 'email bodies are redacted',
      modify: { redact: ['body'], set: { footer: 'sent by an agent' } },
    },
  ],
};

// ---------------------------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------------------------

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** mulberry32 */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** One independent stream per case: a case can be replayed from (seed, index) alone. */
const caseRng = (index: number) =>
  new Rng(Math.imul(SEED ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));

// ---------------------------------------------------------------------------------------------------------
// Raw JSON fragments: text JSON.stringify cannot produce (1e309, 60,000 levels of nesting, invalid tokens).
// A placeholder string is put in the value and swapped for the raw text after stringifying.
// ---------------------------------------------------------------------------------------------------------

class RawText {
  private readonly texts: string[] = [];
  placeholder(text: string): string {
    this.texts.push(text);
    return `\u0001RAW${this.texts.length - 1}\u0002`;
  }
  stringify(value: unknown): string {
    const json = JSON.stringify(value) ?? 'undefined';
    if (this.texts.length === 0) return json;
    return json.replace(
      /"\\u0001RAW(\d+)\\u0002"/g,
      (_match, index: string) => this.texts[Number(index)] ?? 'null',
    );
  }
}

const RAW_NUMBERS = [
  '1e309',
  '-1e309',
  '1e-400',
  '-0',
  '123456789012345678901234567890',
  '9007199254740993',
  '1E+2',
  '0.30000000000000004',
  '1e20',
  '-1e20',
  '1e16',
  '1e300',
  // Not JSON at all: the body must be refused as invalid JSON.
  'NaN',
  'Infinity',
  '-Infinity',
  '0x10',
  '01',
  '.5',
  '1.',
  '+1',
  'undefined',
];

const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\u0000\u0001\u0007\u001b[31m\u001f',
  '\t\n\r\v\f',
  '\u2028\u2029',
  '\ud800',
  '\udfff\ud800x',
  '😀👩‍👩‍👧‍👦🏳️‍🌈',
  'ñandú Ærø ÿ',
  '\u202eevil\u202c',
  'Z̵̢̛̖̱̪͎a̶̡̛͕l̴̢̡g̷̢o̵̧',
  'ＳＥＡＲＣＨ＿ＤＯＣＳ',
  '%s%n%x%p',
  '\u0024{jndi:ldap://x/a}',
  "' OR 1=1 --",
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'null',
  'undefined',
  'NaN',
  '0',
  '-1',
  '1e309',
  'true',
  '{}',
  '[]',
  'tool_call:',
  'tool_call:search_docs',
  'search_docs',
  'submit_payment',
  'delete_records',
  'send_email',
  'OBSERVE',
  'step-up',
  'Step_Up',
  'BLOCK',
  ' progressive ',
  'pii',
  'search_docs\u0000',
  'thoth_live_',
  TENANT,
  OTHER_TENANT,
  'a'.repeat(511),
  'a'.repeat(512),
  'a'.repeat(513),
  'b'.repeat(4_096),
  'b'.repeat(4_097),
];

const TOOLS = ['search_docs', 'submit_payment', 'delete_records', 'send_email', 'read_file', 'shell_exec'];

function randomString(rng: Rng): string {
  switch (rng.int(8)) {
    case 0:
    case 1:
    case 2:
      return rng.pick(NASTY_STRINGS);
    case 3:
      return rng.pick(TOOLS);
    case 4: {
      // Random code units, surrogates and controls included.
      const n = rng.between(0, 40);
      let s = '';
      for (let i = 0; i < n; i++)
        s += String.fromCharCode(rng.chance(0.3) ? rng.int(0x20) : rng.int(0x10000));
      return s;
    }
    case 5:
      return 'x'.repeat(rng.pick([1_000, 10_000, 100_000]));
    case 6:
      return `${rng.pick(NASTY_STRINGS)}${rng.pick(TOOLS)}${rng.pick(NASTY_STRINGS)}`;
    default:
      return Math.floor(rng.next() * 1e9).toString(36);
  }
}

function deepText(rng: Rng): string {
  const depth = rng.pick([2, 50, 500, 2_000, 5_000, 10_000, 30_000, 60_000]);
  switch (rng.int(4)) {
    case 0:
      return `${'['.repeat(depth)}${']'.repeat(depth)}`;
    case 1:
      return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    case 2:
      return `${'[{"k":'.repeat(depth)}null${'}]'.repeat(depth)}`;
    default:
      // Unbalanced: invalid JSON.
      return `${'['.repeat(depth)}${']'.repeat(Math.max(0, depth - 1))}`;
  }
}

function randomValue(rng: Rng, raw: RawText, depth = 0): unknown {
  const kind = rng.int(depth > 3 ? 5 : 9);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([
        0,
        -1,
        1.5,
        2 ** 53 + 2,
        -(2 ** 63),
        1e308,
        -1e308,
        5e-324,
        10_001,
        1e15,
        1_700_000_000,
      ]);
    case 3:
      return raw.placeholder(rng.pick(RAW_NUMBERS));
    case 4:
      return randomString(rng);
    case 5:
    case 6: {
      const n = rng.int(6);
      return Array.from({ length: n }, () => randomValue(rng, raw, depth + 1));
    }
    case 7: {
      const out: Record<string, unknown> = {};
      const n = rng.int(6);
      for (let i = 0; i < n; i++) out[randomString(rng).slice(0, 64)] = randomValue(rng, raw, depth + 1);
      return out;
    }
    default:
      return raw.placeholder(deepText(rng));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------------------

const ENFORCE_FIELDS = [
  'agent_id',
  'tenant_id',
  'tool_name',
  'session_id',
  'user_id',
  'session_tool_calls',
  'approved_scope',
  'enforcement_mode',
  'environment',
  'enforcement_trace_id',
  'tool_args',
  'session_intent',
  'purpose',
  'data_classification',
  'task_context',
  'identity_binding',
  'metadata',
  'request_id',
  'occurred_at',
  'endpoint_id',
  'fleet_id',
  'model_name',
  'model_provider',
];

function validEnforceBody(rng: Rng): Record<string, unknown> {
  const tool = rng.pick(TOOLS);
  return {
    agent_id: rng.pick(['invoice-processor-v2', 'support-bot', 'a']),
    tenant_id: TENANT,
    tool_name: tool,
    session_id: `fuzz-session-${rng.int(40)}`,
    user_id: rng.pick(['system', '', 'alice@example.com']),
    session_tool_calls: ['search_docs', 'read_file', tool],
    approved_scope: rng.chance(0.8)
      ? ['search_docs', 'tool_call:submit_payment', 'delete_records', 'send_email']
      : [],
    enforcement_mode: rng.pick(['observe', 'progressive', 'step_up', 'block', 'PROGRESSIVE', 'step-up']),
    environment: 'prod',
    tool_args: rng.pick([
      { args: ['quarterly report'], kwargs: { limit: 10 } },
      { amount: rng.pick([5, 10_001, 1e9]), currency: 'EUR' },
      { args: [{ amount: 20_000 }] },
      { arg0: 'x', arg1: 2 },
      { body: 'hello', to: 'bob@example.com' },
      ['positional', 1],
      'scalar',
      null,
    ]),
    data_classification: rng.pick(['pii', 'public', null]),
    purpose: 'fuzzing',
    task_context: { initiated_by: 'user', task_id: 't-1', chain: ['a', 'b'] },
    metadata: { policy_context: { team: 'finance' } },
    request_id: `req-${rng.int(1e9)}`,
  };
}

function mutateEnforceBody(rng: Rng, raw: RawText, body: Record<string, unknown>): unknown {
  const mutations = rng.between(0, 4);
  for (let m = 0; m < mutations; m++) {
    const field = rng.pick(ENFORCE_FIELDS);
    switch (rng.int(12)) {
      case 0:
        delete body[field];
        break;
      case 1:
        body[field] = randomValue(rng, raw);
        break;
      case 2:
        body[field] = null;
        break;
      case 3:
        body[field] = 'H'.repeat(rng.pick([513, 4_097, 70_000]));
        break;
      case 4:
        // Arrays where objects belong and the other way round.
        body[field] = Array.isArray(body[field]) ? { 0: 'search_docs' } : [body[field], body[field]];
        break;
      case 5:
        body[rng.pick(['tool_args', 'metadata', 'task_context', 'identity_binding', field])] =
          raw.placeholder(deepText(rng));
        break;
      case 6:
        body[randomString(rng).slice(0, 100)] = randomValue(rng, raw);
        break;
      case 7:
        body.tenant_id = rng.pick([OTHER_TENANT, randomString(rng)]);
        break;
      case 8:
        body.tool_name = 'submit_payment';
        body.tool_args = rng.pick([
          { amount: raw.placeholder(rng.pick(RAW_NUMBERS)) },
          { args: [{ amount: randomValue(rng, raw) }] },
          { kwargs: { amount: 1e308 }, args: [] },
          { amount: raw.placeholder(deepText(rng)) },
        ]);
        break;
      case 9:
        body.tool_name = rng.pick(['delete_records', 'send_email']);
        body.tool_args = rng.pick([
          { body: randomValue(rng, raw), n: raw.placeholder(rng.pick(RAW_NUMBERS)) },
          { args: [randomValue(rng, raw)], kwargs: { body: randomValue(rng, raw) } },
          { arg0: { body: raw.placeholder(deepText(rng)) } },
          randomValue(rng, raw),
        ]);
        break;
      case 10:
        body.enforcement_mode = randomString(rng);
        break;
      default:
        body[rng.pick(['approved_scope', 'session_tool_calls'])] = rng.chance(0.5)
          ? Array.from({ length: rng.pick([0, 3, 10_001]) }, (_, i) => `tool_call:t${i}`)
          : [randomValue(rng, raw), randomString(rng)];
    }
  }
  if (rng.chance(0.04)) return randomValue(rng, raw);
  return body;
}

const EVENT_TYPES = ['TOOL_CALL_PRE', 'TOOL_CALL_POST', 'TOOL_CALL_BLOCK', 'LLM_INVOCATION', 'tool_call_pre'];

function validEvent(rng: Rng, camel: boolean): Record<string, unknown> {
  const snake: Record<string, unknown> = {
    event_id: rng.chance(0.5) ? `${TENANT}:${rng.int(1e9).toString(16)}-fuzz` : undefined,
    event_type: rng.pick(EVENT_TYPES),
    agent_id: 'support-bot',
    tenant_id: rng.chance(0.7) ? TENANT : undefined,
    session_id: `fuzz-session-${rng.int(40)}`,
    tool_name: rng.pick(TOOLS),
    occurred_at: rng.pick([
      new Date(1_750_000_000_000).toISOString(),
      1_750_000_000,
      1_750_000_000_000,
      undefined,
    ]),
    content: rng.pick(['searched docs', { result: [1, 2] }, null]),
    source_type: 'agent_tool_call',
    user_id: 'system',
    approved_scope: ['search_docs'],
    enforcement_mode: 'progressive',
    session_tool_calls: ['search_docs'],
    metadata: {
      sdk_language: 'typescript',
      environment: 'prod',
      tool_call: { name: 'search_docs', arguments: {} },
    },
  };
  if (!camel) return snake;
  const camelKeys: Record<string, string> = {
    event_id: 'eventId',
    event_type: 'eventType',
    agent_id: 'agentId',
    tenant_id: 'tenantId',
    session_id: 'sessionId',
    tool_name: 'toolName',
    occurred_at: 'occurredAt',
    source_type: 'sourceType',
    user_id: 'userId',
    approved_scope: 'approvedScope',
    enforcement_mode: 'enforcementMode',
    session_tool_calls: 'sessionToolCalls',
  };
  return Object.fromEntries(Object.entries(snake).map(([k, v]) => [camelKeys[k] ?? k, v]));
}

const EVENT_FIELDS = [
  'event_id',
  'eventId',
  'event_type',
  'eventType',
  'tenant_id',
  'tenantId',
  'agent_id',
  'agentId',
  'session_id',
  'sessionId',
  'occurred_at',
  'occurredAt',
  'content',
  'metadata',
  'ttl',
  'task_context',
  'approved_scope',
  'session_tool_calls',
  'user_id',
  'hostname',
];

function mutateEvent(rng: Rng, raw: RawText, event: Record<string, unknown>): unknown {
  const mutations = rng.between(0, 3);
  for (let m = 0; m < mutations; m++) {
    const field = rng.pick(EVENT_FIELDS);
    switch (rng.int(8)) {
      case 0:
        delete event[field];
        break;
      case 1:
        event[field] = randomValue(rng, raw);
        break;
      case 2:
        event[field] = null;
        break;
      case 3:
        event[rng.pick(['occurred_at', 'occurredAt', 'ttl'])] = raw.placeholder(rng.pick(RAW_NUMBERS));
        break;
      case 4:
        event[rng.pick(['content', 'metadata', 'task_context', field])] = raw.placeholder(deepText(rng));
        break;
      case 5:
        event[field] = 'E'.repeat(rng.pick([513, 70_000]));
        break;
      case 6:
        event.tenant_id = rng.pick([OTHER_TENANT, '', randomString(rng)]);
        break;
      default:
        event[field] = rng.pick([[], [event[field]], { nested: event[field] }]);
    }
  }
  if (rng.chance(0.03)) return randomValue(rng, raw);
  return event;
}

function ingestBody(rng: Rng, raw: RawText): unknown {
  const dialect = rng.int(3); // bare array, {events} snake, {events} camel
  const size = rng.chance(0.02) ? rng.pick([500, 3_000]) : rng.between(0, 12);
  const events = Array.from({ length: size }, () => {
    const event = validEvent(rng, dialect === 2);
    return rng.chance(0.6) ? mutateEvent(rng, raw, event) : event;
  });
  if (rng.chance(0.05))
    return rng.pick([{ events: {} }, { events: null }, { event: events }, {}, 'events', 42]);
  if (rng.chance(0.03)) return raw.placeholder(deepText(rng));
  return dialect === 0 ? events : { events, batch_id: rng.chance(0.2) ? randomValue(rng, raw) : undefined };
}

/** Byte-level damage to a serialized body. */
function mangleText(rng: Rng, text: string): string | Buffer | undefined {
  if (!rng.chance(0.22)) return text;
  const at = rng.int(text.length + 1);
  switch (rng.int(12)) {
    case 0:
      return text.slice(0, at); // truncated
    case 1:
      return `${text.slice(0, at)}${String.fromCharCode(rng.int(0x80))}${text.slice(at)}`;
    case 2:
      return `${text.slice(0, at)}${text.slice(at + 1)}`;
    case 3:
      return `${text}${rng.pick(['}', ']', ',', ' garbage', '\u0000', '{}', '\n\n\n'])}`;
    case 4:
      return `\ufeff${text}`; // BOM
    case 5:
      return rng.pick(['', ' ', '\n', '\t\r\n ']);
    case 6:
      return rng.pick(['null', 'true', '0', '""', '[]', '{}', '1e309', '"\\ud800"', '{"a":1,"a":2}']);
    case 7:
      // Duplicate and prototype-poisoning keys.
      return text.startsWith('{')
        ? `{${rng.pick(['"__proto__":{"polluted":1},', '"constructor":{"prototype":{"polluted":1}},', '"tenant_id":"x",'])}${text.slice(1)}`
        : text;
    case 8: {
      // Invalid UTF-8: a lone continuation byte, an overlong encoding, a cut multi-byte sequence.
      const bytes = Buffer.from(text, 'utf8');
      const bad = rng.pick([
        Buffer.from([0x80]),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from([0xe2, 0x82]),
        Buffer.from([0xff]),
      ]);
      const cut = rng.int(bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, cut), bad, bytes.subarray(cut)]);
    }
    case 9:
      return Buffer.from(text, rng.pick(['utf16le', 'latin1'] as const));
    case 10:
      return undefined; // no body at all
    default:
      return `--fuzzboundary\r\nContent-Disposition: form-data; name="body"\r\n\r\n${text.slice(0, 200)}\r\n--fuzzboundary--`;
  }
}

let oversized: string | undefined;
/** Just over the body limit (built once). */
function oversizedBody(): string {
  oversized ??= JSON.stringify({ agent_id: 'a', tenant_id: TENANT, pad: 'p'.repeat(BODY_LIMIT) });
  return oversized;
}

// ---------------------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------------------

interface Keys {
  valid: string;
  readOnly: string;
  otherTenant: string;
}

function authHeaders(rng: Rng, keys: Keys): Record<string, string> {
  const k = keys.valid;
  // Three in four requests carry the valid key, so most of the storm reaches validation and the decision.
  if (rng.chance(0.55)) return rng.chance(0.6) ? { authorization: `Bearer ${k}` } : { 'x-api-key': k };
  switch (rng.int(22)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
      return { authorization: `Bearer ${k}` };
    case 6:
    case 7:
    case 8:
      return { 'x-api-key': k };
    case 9:
      return { authorization: `bearer   ${k}  `, 'x-api-key': 'thoth_live_wrong' };
    case 10:
      return { authorization: 'Bearer thoth_live_wrong', 'x-api-key': k };
    case 11:
      return {};
    case 12:
      return rng.pick<Record<string, string>>([
        { authorization: '' },
        { 'x-api-key': '' },
        { authorization: 'Bearer' },
        { authorization: 'Bearer  ' },
      ]);
    case 13:
      return { authorization: `Bearer ${k.slice(0, -1)}${k.endsWith('A') ? 'B' : 'A'}` };
    case 14:
      return { authorization: `Bearer thoth_live_${'A'.repeat(10_240)}` };
    case 15:
      return { 'x-api-key': 'K'.repeat(10_240) };
    case 16:
      // Non-ASCII (latin1-representable, as an HTTP header can carry it).
      return rng.pick<Record<string, string>>([
        { authorization: 'Bearer clé-ñ-ÿ' },
        { 'x-api-key': `${k}\u00e9` },
        { 'x-api-key': '\u00ff\u00fe' },
      ]);
    case 17:
      return {
        authorization: rng.pick([
          `Basic ${Buffer.from('a:b').toString('base64')}`,
          `Token ${k}`,
          k,
          `Bearer ${k} extra`,
        ]),
      };
    case 18:
      return { authorization: `Bearer ${keys.readOnly}` };
    case 19:
      return { 'x-api-key': keys.otherTenant };
    case 20:
      return { authorization: `Bearer ${ADMIN_TOKEN}` };
    default:
      return {
        'x-api-key': randomString(rng)
          .replace(/[^\u0020-\u007e\u0080-\u00ff]/g, '')
          .slice(0, 200),
      };
  }
}

function contentType(rng: Rng): string | undefined {
  return rng.pick([
    'application/json',
    'application/json',
    'application/json',
    'application/json; charset=utf-8',
    undefined,
    undefined,
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=fuzzboundary',
    'multipart/form-data',
    ';;;',
    'application/json; charset=utf-16',
    'application/json; charset=ebcdic',
    '*/*',
    'application/vnd.api+json',
    'application/json, text/plain',
    'application/octet-stream',
    'text/html; charset=ÿ',
    `application/${'x'.repeat(2_000)}`,
    '',
  ]);
}

function extraHeaders(rng: Rng): Record<string, string> {
  const out: Record<string, string> = {};
  if (rng.chance(0.1))
    out['x-thoth-event-ingest-token'] = randomString(rng)
      .replace(/[^\u0020-\u007e]/g, '')
      .slice(0, 300);
  if (rng.chance(0.05)) out['content-encoding'] = rng.pick(['gzip', 'br', 'identity', 'bogus']);
  if (rng.chance(0.05)) out.accept = rng.pick(['text/html', 'application/xml', '*/*;q=0', 'garbage']);
  if (rng.chance(0.03)) out['content-length'] = rng.pick(['0', '1', '999999', 'abc', '-1']);
  return out;
}

/** encodeURIComponent, except that a lone surrogate (which it refuses) is sent as its raw UTF-16 bytes. */
function encodePath(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return Buffer.from(text, 'utf16le').toString('hex').replace(/../g, '%$&');
  }
}

function holdPath(rng: Rng, tokens: string[]): string {
  const token = rng.pick([
    ...tokens,
    ...tokens,
    'abc',
    'thoth_hold_0000',
    '%00',
    '%2F..%2F..%2Fetc%2Fpasswd',
    '..',
    '%2e%2e',
    '%ZZ',
    '%',
    '%E2%98%83',
    '%F0%9F%98%80',
    '%ED%A0%80', // an encoded lone surrogate
    '%C0%AF',
    '%FF%FE',
    'a%20b',
    '+',
    ';x=1',
    'a'.repeat(100),
    'a'.repeat(101),
    'a'.repeat(257),
    'a'.repeat(10_000),
    encodePath(randomString(rng).slice(0, 60)),
    '',
  ]);
  const suffix = rng.pick(['', '', '', '?x=1', '?token=a&token=b', '#frag', '/', '/extra', '?%ZZ']);
  return `/v1/enforce/hold/${token}${suffix}`;
}

// ---------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------

interface Outcome {
  status: number;
  contentType: string | undefined;
  body: string;
}

/** The invariants every answer must satisfy; returns what is wrong (empty when fine). */
function problemsWith(route: string, res: Outcome): string[] {
  const problems: string[] = [];
  if (!((res.status >= 200 && res.status < 300) || (res.status >= 400 && res.status < 500)))
    problems.push(`status ${res.status} is neither 2xx nor 4xx`);
  let parsed: unknown;
  try {
    parsed = res.body === '' ? undefined : JSON.parse(res.body);
  } catch {
    parsed = undefined;
  }
  if (res.status >= 300) {
    const e = parsed as { error?: unknown; message?: unknown } | undefined;
    if (!e || typeof e !== 'object' || typeof e.error !== 'string' || typeof e.message !== 'string')
      problems.push(`error body is not {error: string, message: string}: ${res.body.slice(0, 200)}`);
    if (!res.contentType?.startsWith('application/json'))
      problems.push(`error content-type ${res.contentType}`);
    return problems;
  }
  const ok = parsed as Record<string, unknown> | undefined;
  if (!ok || typeof ok !== 'object') {
    problems.push(`2xx body is not a JSON object: ${res.body.slice(0, 200)}`);
    return problems;
  }
  if (route === 'enforce') {
    if (res.status !== 200) problems.push(`enforce answered ${res.status}`);
    if (!DECISIONS.has(ok.decision as string)) problems.push(`decision ${String(ok.decision)}`);
    if (ok.authorization_decision !== ok.decision)
      problems.push('authorization_decision differs from decision');
    if (
      ok.decision === 'STEP_UP' &&
      (typeof ok.hold_token !== 'string' || !Number.isInteger(ok.step_up_timeout_seconds))
    )
      problems.push('STEP_UP without hold_token/step_up_timeout_seconds');
    if (ok.decision === 'DEFER' && !Number.isInteger(ok.defer_timeout_seconds))
      problems.push('DEFER without timeout');
    if (typeof ok.risk_score !== 'number' || ok.risk_score < 0 || ok.risk_score > 100)
      problems.push(`risk_score ${String(ok.risk_score)}`);
  } else if (route === 'ingest') {
    if (res.status !== 202 || typeof ok.accepted !== 'number')
      problems.push(`ingest answered ${res.status} ${res.body.slice(0, 100)}`);
  } else if (route === 'hold') {
    if (typeof ok.resolved !== 'boolean' || !['ALLOW', 'BLOCK', 'STEP_UP'].includes(ok.decision as string))
      problems.push(`hold poll shape: ${res.body.slice(0, 200)}`);
    if (ok.resolved === true && ok.decision === 'STEP_UP') problems.push('resolved hold answered STEP_UP');
  }
  return problems;
}

interface Failure {
  where: string;
  request: string;
  status: number;
  response: string;
  problems: string[];
  serverLog: string[];
}

function preview(payload: string | Buffer | undefined): string {
  if (payload === undefined) return '(no body)';
  const text = Buffer.isBuffer(payload) ? payload.toString('latin1') : payload;
  const shown = text.length > 300 ? `${text.slice(0, 240)}…(${text.length} chars)…${text.slice(-40)}` : text;
  return JSON.stringify(shown);
}

/** Groups failures by route, status and the server's error (numbers blanked), one example per kind. */
function summarize(failures: Failure[], oneKindEach = false): string {
  const groups = new Map<string, { count: number; first: Failure }>();
  for (const f of failures) {
    const error = (f.serverLog[0]?.split('\n')[0] ?? '').replace(/-?\d[\d.e+]*/g, 'N');
    const signature = oneKindEach
      ? f.where
      : `${f.where.split(' ')[0]} ${f.status} ${f.problems[0]} ${error}`;
    const group = groups.get(signature);
    if (group) group.count++;
    else groups.set(signature, { count: 1, first: f });
  }
  const lines = [`${failures.length} fuzz failures (seed 0x${SEED.toString(16)}), ${groups.size} kinds:`];
  for (const { count, first } of groups.values()) {
    lines.push(
      `- ×${count} ${first.where} → ${first.status}: ${first.problems.join('; ')}`,
      `    request:  ${first.request}`,
      `    response: ${first.response.slice(0, 300)}`,
      ...first.serverLog
        .slice(0, 1)
        .map((stack) => `    server:   ${stack.split('\n').slice(0, 8).join('\n              ')}`),
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Raw sockets
// ---------------------------------------------------------------------------------------------------------

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function parseResponses(data: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = data.toString('latin1');
  while (rest.startsWith('HTTP/')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine = '', ...headerLines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const bodyBytes = Buffer.from(rest.slice(end + 4), 'latin1');
    out.push({
      status: Number(statusLine.split(' ')[1]),
      headers,
      body: bodyBytes.subarray(0, length).toString('utf8'),
    });
    rest = bodyBytes.subarray(length).toString('latin1');
  }
  return out;
}

/** Writes `chunks` to a fresh connection and collects what comes back until the server closes or `waitMs`. */
function rawExchange(
  port: number,
  chunks: Array<string | Buffer>,
  options: { halfClose: boolean; waitMs: number },
): Promise<{ data: Buffer; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let settled = false;
    const socket = connect({ port, host: '127.0.0.1' });
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(received), closedByServer });
    };
    const timer = setTimeout(() => finish(false), options.waitMs);
    socket.on('data', (chunk) => received.push(chunk));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      for (const chunk of chunks)
        if (!socket.destroyed) socket.write(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
      if (options.halfClose && !socket.destroyed) socket.end();
    });
  });
}

function rawCase(
  rng: Rng,
  key: string,
  validBody: string,
): { name: string; chunks: Array<string | Buffer>; halfClose: boolean } {
  const host = 'Host: 127.0.0.1\r\n';
  const auth = `Authorization: Bearer ${key}\r\n`;
  const json = 'Content-Type: application/json\r\n';
  const close = 'Connection: close\r\n';
  const valid = (body = validBody, extra = '') =>
    `POST /v1/enforce HTTP/1.1\r\n${host}${auth}${json}${close}${extra}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;
  const ingest = '[{"tenant_id":"acme-corp","agent_id":"a","session_id":"s","event_type":"TOOL_CALL_PRE"}]';
  const cases: Array<() => { name: string; chunks: Array<string | Buffer>; halfClose?: boolean }> = [
    () => ({ name: 'valid enforce', chunks: [valid()] }),
    () => ({
      name: 'bad request line',
      chunks: [
        rng.pick([
          'GARBAGE\r\n\r\n',
          'GET\r\n\r\n',
          'GET / HTTP/9.9\r\n\r\n',
          'POST /v1/enforce HTTP/1.1 extra\r\nHost: x\r\n\r\n',
          '\u0000\u0001\u0002\u0003\r\n\r\n',
          'G\u00e9T /v1/enforce HTTP/1.1\r\nHost: x\r\n\r\n',
          'post /v1/enforce HTTP/1.1\r\nHost: x\r\n\r\n',
          'POST /v1/en force HTTP/1.1\r\nHost: x\r\n\r\n',
          'POST http://evil.example/v1/enforce HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
          'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n',
          'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
          'POST /v1/enforce HTTP/1.1\r\n\r\n',
          'POST /v1/enforce HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}',
          'GET /v1/enforce/hold/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n',
          'GET /v1/enforce/hold/\u00ff\u00fe HTTP/1.1\r\nHost: x\r\n\r\n',
          'GET /v1/enforce/hold/a\u0000b HTTP/1.1\r\nHost: x\r\n\r\n',
          `GET /v1/enforce/hold/${'a'.repeat(5_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
          `GET /v1/enforce/hold/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
          '\r\n\r\n\r\n',
          'HTTP/1.1 200 OK\r\n\r\n',
        ]),
      ],
    }),
    () => ({
      name: 'huge header',
      chunks: [valid(validBody, `X-Pad: ${'p'.repeat(rng.pick([17_000, 70_000]))}\r\n`)],
    }),
    () => ({
      name: 'many headers',
      chunks: [
        valid(validBody, Array.from({ length: rng.pick([500, 3_000]) }, (_, i) => `X-H${i}: v\r\n`).join('')),
      ],
    }),
    () => ({
      name: 'malformed header',
      chunks: [
        valid(
          validBody,
          rng.pick([
            'NoColonHere\r\n',
            'Bad Name: x\r\n',
            'X-Space : x\r\n',
            'X-Fold: a\r\n  continued\r\n',
            'X-Nul: a\u0000b\r\n',
            'X-Del: a\u007fb\r\n',
            'X-Latin: \u00e9\u00ff\r\n',
            ': empty-name\r\n',
            `X-Api-Key: \u00ff\u00fe${key}\r\n`,
            `Authorization: Bearer ${'A'.repeat(10_240)}\r\n`,
            'Authorization: Bearer \u00e9\u00e8\r\n',
            'Expect: 100-continue\r\n',
            'Expect: teapot\r\n',
            'Upgrade: websocket\r\nConnection: Upgrade\r\n',
            'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n',
            'Content-Encoding: gzip\r\n',
          ]),
        ),
      ],
    }),
    () => {
      const body = validBody;
      const cl = rng.pick(['abc', '-1', '99999999999999999999', '1.5', ' 5', '0x10', '']);
      return {
        name: `content-length ${JSON.stringify(cl)}`,
        chunks: [
          `POST /v1/enforce HTTP/1.1\r\n${host}${auth}${json}${close}Content-Length: ${cl}\r\n\r\n${body}`,
        ],
      };
    },
    () => ({
      name: 'two content-lengths',
      chunks: [
        `POST /v1/enforce HTTP/1.1\r\n${host}${auth}${json}Content-Length: 2\r\nContent-Length: ${validBody.length}\r\n\r\n${validBody}`,
      ],
    }),
    () => ({
      name: 'content-length and chunked',
      chunks: [
        `POST /v1/enforce HTTP/1.1\r\n${host}${auth}${json}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n${validBody.length.toString(16)}\r\n${validBody}\r\n0\r\n\r\n`,
      ],
    }),
    () => ({
      name: 'bad chunked',
      chunks: [
        `POST /v1/enforce HTTP/1.1\r\n${host}${auth}${json}${close}Transfer-Encoding: ${rng.pick(['chunked', 'gzip, chunked', 'chunked, chunked', 'identity', 'bogus'])}\r\n\r\n${rng.pick(
          [
            'zz\r\n{}\r\n0\r\n\r\n',
            `${validBody.length.toString(16)}\r\n${validBody}\r\n0\r\n\r\n`,
            'ffffffffffffffffff\r\n{}\r\n',
            '2\r\n{}\r\n',
            '2;ext=1\r\n{}\r\n0\r\nTrailer: x\r\n\r\n',
            '-1\r\n\r\n',
          ],
        )}`,
      ],
      halfClose: rng.chance(0.5),
    }),
    () => ({
      name: 'chunked over the body limit',
      chunks: [
        `POST /v1/enforce HTTP/1.1\r\n${host}${auth}${json}${close}Transfer-Encoding: chunked\r\n\r\n`,
        ...Array.from({ length: 5 }, () => `10000\r\n${'x'.repeat(0x10000)}\r\n`),
        '0\r\n\r\n',
      ],
    }),
    () => ({
      name: 'truncated body',
      chunks: [valid().slice(0, -rng.between(1, 40))],
      halfClose: rng.chance(0.5),
    }),
    () => ({
      name: 'content-length larger than body',
      chunks: [
        `POST /v1/enforce HTTP/1.1\r\n${host}${auth}${json}${close}Content-Length: ${validBody.length + rng.pick([1, 100, 100_000])}\r\n\r\n${validBody}`,
      ],
      halfClose: rng.chance(0.5),
    }),
    () => ({
      name: 'content-length smaller than body',
      chunks: [
        `POST /v1/enforce HTTP/1.1\r\n${host}${auth}${json}Content-Length: ${rng.between(0, validBody.length - 1)}\r\n\r\n${validBody}\r\n\r\n`,
      ],
    }),
    () => ({
      name: 'over the body limit',
      chunks: [valid(oversizedBody())],
    }),
    () => ({
      name: 'declared over the body limit, no body',
      chunks: [
        `POST /v1/events/batch HTTP/1.1\r\n${host}${auth}${json}Content-Length: ${BODY_LIMIT * 4}\r\n\r\n`,
      ],
    }),
    () => ({
      name: 'pipelined',
      chunks: [
        `${valid().replace(close, '')}${rng.pick([
          valid(),
          'GARBAGE\r\n\r\n',
          `POST /v1/events/batch HTTP/1.1\r\n${host}${auth}${json}${close}Content-Length: ${ingest.length}\r\n\r\n${ingest}`,
          `GET /v1/enforce/hold/nope HTTP/1.1\r\n${host}${auth}${close}\r\n`,
        ])}`,
      ],
    }),
    () => ({
      name: 'byte-at-a-time',
      chunks: valid().split(''),
    }),
    () => {
      const n = rng.between(1, 400);
      const bytes = Buffer.alloc(n);
      for (let i = 0; i < n; i++) bytes[i] = rng.int(256);
      return { name: 'random bytes', chunks: [bytes], halfClose: rng.chance(0.5) };
    },
    () => ({
      name: 'invalid JSON body',
      chunks: [valid(rng.pick(['{', '{"agent_id":', '\u00ff\u00fe{}', '[1e309]', 'null', '']))],
    }),
    () => ({
      name: 'ingest with odd auth',
      chunks: [
        `POST /v1/events/batch HTTP/1.1\r\n${host}${rng.pick(['', 'Authorization: Bearer\r\n', `X-Api-Key: ${key}\r\nX-Api-Key: other\r\n`, `Authorization: Bearer ${key}\r\nAuthorization: Bearer wrong\r\n`, `authorization: BEARER ${key}\r\n`])}${json}${close}Content-Length: ${ingest.length}\r\n\r\n${ingest}`,
      ],
    }),
  ];
  const made = rng.pick(cases)();
  return { name: made.name, chunks: made.chunks, halfClose: made.halfClose ?? false };
}

// ---------------------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------------------

/** Server errors logged while one request ran (the logger writes synchronously to this sink). */
const serverLog: string[] = [];
const log = pino(
  { level: process.env.TEST_LOG_LEVEL ?? 'error' },
  {
    write(line: string) {
      try {
        const entry = JSON.parse(line) as { msg?: string; err?: { stack?: string; message?: string } };
        serverLog.push(entry.err?.stack ?? `${entry.msg}: ${entry.err?.message ?? ''}`);
      } catch {
        serverLog.push(line);
      }
    },
  },
);

describe('data-plane fuzz', () => {
  let service: ApiService;
  /** Answers that broke their route's declared schemas (http/response-validation.ts): there must be none. */
  const responseMismatches: ResponseMismatch[] = [];
  let dataDir: string;
  let keys: Keys;
  const holdTokens: string[] = [];

  const validEnforce = () =>
    JSON.stringify({
      agent_id: 'invoice-processor-v2',
      tenant_id: TENANT,
      tool_name: 'search_docs',
      session_id: `after-storm-${Date.now()}-${Math.random()}`,
      user_id: 'system',
      session_tool_calls: ['search_docs'],
      approved_scope: ['search_docs', 'submit_payment'],
      enforcement_mode: 'progressive',
      environment: 'prod',
      tool_args: { args: ['quarterly report'], kwargs: { limit: 10 } },
    });

  beforeAll(async () => {
    console.log(
      `[fuzz] seed 0x${SEED.toString(16)} (THOTH_FUZZ_SEED=${SEED}), ${CASES} inject cases, ${RAW_CASES} raw cases`,
    );
    dataDir = mkdtempSync(join(tmpdir(), 'thoth-fuzz-'));
    const config = loadConfig({
      THOTH_DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      THOTH_BODY_LIMIT_BYTES: String(BODY_LIMIT),
      // The storm is thousands of requests on one key: the limiter is not what is under test.
      THOTH_RATE_LIMIT_PER_KEY: '1000000',
      THOTH_RATE_LIMIT_PER_TENANT: '1000000',
    });
    const bus = new MemoryBus({ defaultPartitions: 3 });
    const topics = topicNames('fuzz');
    await bus.ensureTopics(topicSpecs(topics, 3));
    service = await startApiService({
      config,
      log,
      bus,
      codec: new AvroCodec(),
      topics,
      adminToken: ADMIN_TOKEN,
      policies: policySetFrom(POLICY),
      isReady: () => true,
      onResponseMismatch: (mismatch) => responseMismatches.push(mismatch),
    });
    const create = async (tenantId: string, permissions: Array<'execute' | 'write' | 'read'>) =>
      (
        await service.control.commands.createApiKey({
          tenantId,
          name: 'fuzz',
          permissions,
          createdBy: 'test',
        })
      ).apiKey;
    keys = {
      valid: await create(TENANT, ['execute', 'write', 'read']),
      readOnly: await create(TENANT, ['read']),
      otherTenant: await create(OTHER_TENANT, ['execute', 'write', 'read']),
    };
    // Holds in every state (and one of another tenant) for the poll route.
    for (const [tenant, key] of [
      [TENANT, keys.valid],
      [TENANT, keys.valid],
      [TENANT, keys.valid],
      [OTHER_TENANT, keys.otherTenant],
    ] as const) {
      const res = await service.app.inject({
        method: 'POST',
        url: '/v1/enforce',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        payload: JSON.stringify({
          agent_id: 'a',
          tenant_id: tenant,
          tool_name: 'delete_records',
          session_id: `hold-${holdTokens.length}`,
          approved_scope: ['delete_records'],
          tool_args: { table: 'users' },
        }),
      });
      const token = res.json<{ hold_token?: string }>().hold_token;
      if (!token) throw new Error(`no hold token: ${res.body}`);
      holdTokens.push(token);
    }
    await service.holds.resolve(holdTokens[1]!, 'approved', 'fuzzer', null);
    await service.holds.resolve(holdTokens[2]!, 'denied', 'fuzzer', 'no');
  });

  afterAll(async () => {
    await service?.stop();
    // Every fuzzed answer, 4xx included, is one its route declares (a mismatch is also answered as a 500).
    expect(responseMismatches.map(describeMismatch)).toEqual([]);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** One request through inject(); returns the outcome as a Failure whose `problems` is empty when all is well. */
  const injectAndCheck = async (req: {
    route: string;
    label: string;
    method: 'POST' | 'GET' | 'PUT' | 'DELETE' | 'OPTIONS' | 'HEAD' | 'PATCH';
    url: string;
    headers: Record<string, string>;
    payload: string | Buffer | undefined;
  }): Promise<Failure> => {
    const { route, method, url, headers, payload } = req;
    serverLog.length = 0;
    let outcome: Outcome;
    try {
      const res = await service.app.inject({ method, url, headers, payload });
      outcome = {
        status: res.statusCode,
        contentType: res.headers['content-type'] as string | undefined,
        body: method === 'HEAD' ? '{"error":"head","message":"no body on HEAD"}' : res.body,
      };
    } catch (error) {
      outcome = { status: 0, contentType: undefined, body: `inject threw: ${(error as Error).stack}` };
    }
    const problems = outcome.status === 0 ? ['inject threw'] : problemsWith(route, outcome);
    // Other routes (health, receipt keys, api-keys) may answer 2xx with any body.
    if (route === 'other' && outcome.status >= 200 && outcome.status < 300) problems.length = 0;
    return {
      where: req.label,
      request: `${method} ${url.length > 200 ? `${url.slice(0, 200)}…` : url} headers=${preview(JSON.stringify(headers))} body=${preview(payload)}`,
      status: outcome.status,
      response: outcome.body,
      problems,
      serverLog: [...serverLog],
    };
  };

  it('answers a corpus of known-nasty inputs with 2xx/4xx (minimal repros)', async () => {
    const auth = { authorization: `Bearer ${keys.valid}`, 'content-type': 'application/json' };
    const enforce = (extra: string, tool = 'search_docs') =>
      `{"agent_id":"a","tenant_id":"${TENANT}","tool_name":"${tool}","session_id":"corpus","approved_scope":["search_docs","delete_records","send_email","submit_payment"]${extra}}`;
    const event = (extra: string) =>
      `{"tenant_id":"${TENANT}","agent_id":"a","session_id":"s","event_type":"TOOL_CALL_PRE"${extra}}`;
    const deepArray = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    const corpus: Array<{ name: string; route: 'enforce' | 'ingest'; payload: string }> = [
      {
        name: 'enforce: tool_args nested 10,000 deep (arrays)',
        route: 'enforce',
        payload: enforce(`,"tool_args":${deepArray(10_000)}`),
      },
      {
        name: 'enforce: tool_args nested 10,000 deep (objects)',
        route: 'enforce',
        payload: enforce(`,"tool_args":{"x":${deepObject(10_000)}}`),
      },
      {
        name: 'enforce: metadata nested 10,000 deep',
        route: 'enforce',
        payload: enforce(`,"metadata":{"x":${deepArray(10_000)}}`),
      },
      {
        name: 'enforce: task_context nested 10,000 deep',
        route: 'enforce',
        payload: enforce(`,"task_context":{"x":${deepArray(10_000)}}`),
      },
      {
        name: 'enforce: STEP_UP tool with 1e309 in tool_args',
        route: 'enforce',
        payload: enforce(',"tool_args":{"n":1e309}', 'delete_records'),
      },
      {
        name: 'enforce: MODIFY tool with 1e309 in tool_args',
        route: 'enforce',
        payload: enforce(',"tool_args":{"body":"x","n":1e309}', 'send_email'),
      },
      {
        name: 'enforce: BLOCK rule on amount 1e309',
        route: 'enforce',
        payload: enforce(',"tool_args":{"amount":1e309}', 'submit_payment'),
      },
      {
        name: 'enforce: amount -1e309 and 1e-400',
        route: 'enforce',
        payload: enforce(',"tool_args":{"amount":-1e309,"fee":1e-400}', 'submit_payment'),
      },
      {
        name: 'ingest: content nested 10,000 deep',
        route: 'ingest',
        payload: `[${event(`,"content":${deepArray(10_000)}`)}]`,
      },
      {
        name: 'ingest: metadata nested 10,000 deep',
        route: 'ingest',
        payload: `[${event(`,"metadata":{"a":${deepObject(10_000)}}`)}]`,
      },
      {
        name: 'ingest: task_context nested 10,000 deep',
        route: 'ingest',
        payload: `[${event(`,"task_context":{"a":${deepArray(10_000)}}`)}]`,
      },
      {
        name: 'ingest: occurred_at 1e20 next to a valid event',
        route: 'ingest',
        payload: `[${event('')},${event(',"occurred_at":1e20')}]`,
      },
      { name: 'ingest: occurred_at 1e300', route: 'ingest', payload: `[${event(',"occurred_at":1e300')}]` },
      { name: 'ingest: occurred_at -1e20', route: 'ingest', payload: `[${event(',"occurred_at":-1e20')}]` },
      { name: 'ingest: occurred_at 1e309', route: 'ingest', payload: `[${event(',"occurred_at":1e309')}]` },
      { name: 'ingest: ttl 1e309', route: 'ingest', payload: `[${event(',"ttl":1e309')}]` },
      { name: 'ingest: a null event', route: 'ingest', payload: '[null]' },
      {
        name: 'ingest: a null event next to a valid one',
        route: 'ingest',
        payload: `{"events":[${event('')},null]}`,
      },
      { name: 'ingest: scalar events', route: 'ingest', payload: '[1,"x",true,[]]' },
    ];
    const failures: Failure[] = [];
    for (const c of corpus) {
      const failure = await injectAndCheck({
        route: c.route,
        label: c.name,
        method: 'POST',
        url: c.route === 'enforce' ? '/v1/enforce' : '/v1/events/batch',
        headers: auth,
        payload: c.payload,
      });
      if (failure.problems.length > 0) failures.push(failure);
    }
    if (failures.length > 0) console.error(summarize(failures, true));
    expect(
      failures.map((f) => `${f.where} → ${f.status}`),
      summarize(failures, true),
    ).toEqual([]);
  });

  it(`survives ${CASES} random and mutated requests through inject() without a 5xx`, async () => {
    const failures: Failure[] = [];
    const histogram = new Map<string, number>();
    const started = Date.now();
    for (let i = 0; i < CASES; i++) {
      const rng = caseRng(i);
      const raw = new RawText();
      const roll = rng.next();
      let route: string;
      let method: 'POST' | 'GET' | 'PUT' | 'DELETE' | 'OPTIONS' | 'HEAD' | 'PATCH';
      let url: string;
      let payload: string | Buffer | undefined;
      if (roll < 0.45) {
        route = 'enforce';
        method = 'POST';
        url = '/v1/enforce';
        const body = rng.chance(0.15)
          ? validEnforceBody(rng)
          : mutateEnforceBody(rng, raw, validEnforceBody(rng));
        payload = rng.chance(0.01) ? oversizedBody() : mangleText(rng, raw.stringify(body));
      } else if (roll < 0.75) {
        route = 'ingest';
        method = 'POST';
        url = '/v1/events/batch';
        payload = rng.chance(0.01) ? oversizedBody() : mangleText(rng, raw.stringify(ingestBody(rng, raw)));
      } else if (roll < 0.93) {
        route = 'hold';
        method = 'GET';
        url = holdPath(rng, holdTokens);
        payload = rng.chance(0.05) ? '{"x":1}' : undefined;
      } else {
        route = 'other';
        method = rng.pick(['GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'POST'] as const);
        url = rng.pick([
          '/v1/enforce',
          '/v1/events/batch',
          '/v1/enforce/hold/x',
          '/v1/enforce/',
          '/v1//enforce',
          '/V1/ENFORCE',
          '/v1/enforce?x=%ZZ',
          '/healthz',
          '/v1/keys/receipt',
          `/${encodePath(randomString(rng).slice(0, 40))}/thoth/api-keys`,
          `/${TENANT}/thoth/api-keys`,
          '/%00',
          '/..%2f..%2f',
        ]);
        payload =
          method === 'GET' || method === 'HEAD'
            ? undefined
            : mangleText(rng, raw.stringify(randomValue(rng, raw)));
      }
      const headers: Record<string, string> = { ...authHeaders(rng, keys), ...extraHeaders(rng) };
      const type = contentType(rng);
      if (type !== undefined && (payload !== undefined || rng.chance(0.2))) headers['content-type'] = type;

      const failure = await injectAndCheck({
        route,
        label: `${route} case #${i}`,
        method,
        url,
        headers,
        payload,
      });
      histogram.set(`${route} ${failure.status}`, (histogram.get(`${route} ${failure.status}`) ?? 0) + 1);
      if (failure.problems.length > 0) failures.push(failure);
    }
    const seconds = (Date.now() - started) / 1_000;
    console.log(
      `[fuzz] ${CASES} inject cases in ${seconds.toFixed(1)} s; statuses: ${[...histogram.entries()]
        .sort()
        .map(([k, n]) => `${k}×${n}`)
        .join(', ')}`,
    );
    // The server is still healthy: a valid enforce is answered ALLOW.
    const after = await service.app.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { authorization: `Bearer ${keys.valid}`, 'content-type': 'application/json' },
      payload: validEnforce(),
    });
    expect(after.statusCode, after.body).toBe(200);
    expect(after.json<{ decision: string }>().decision).toBe('ALLOW');

    if (failures.length > 0) console.error(summarize(failures));
    expect(failures.length, summarize(failures)).toBe(0);
  });

  it(`survives ${RAW_CASES} malformed HTTP requests over real sockets`, async () => {
    await service.app.listen({ port: 0, host: '127.0.0.1' });
    const address = service.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const port = address.port;
    const body = validEnforce();
    const failures: Failure[] = [];
    const names = new Map<string, { cases: number; answered: number }>();
    const started = Date.now();

    // 16 connections run at once: the server log of the run is attached to a failure as a whole.
    serverLog.length = 0;
    let next = 0;
    const worker = async () => {
      while (next < RAW_CASES) {
        const i = next++;
        const rng = caseRng(1_000_000 + i);
        const made = rawCase(rng, keys.valid, body);
        const { data } = await rawExchange(port, made.chunks, { halfClose: made.halfClose, waitMs: 600 });
        const responses = parseResponses(data);
        const tally = names.get(made.name) ?? { cases: 0, answered: 0 };
        tally.cases++;
        if (responses.length > 0) tally.answered++;
        names.set(made.name, tally);
        for (const res of responses) {
          const problems = problemsWith('raw', {
            status: res.status,
            contentType: res.headers['content-type'],
            body: res.body,
          });
          // A valid request answered 2xx is fine whatever its body; only errors must have the flat shape.
          if (res.status < 300) problems.length = 0;
          // node:http itself answers an unknown `Expect:` with a bodiless 417 before Fastify sees the request
          // (no 'checkExpectation' listener): a 4xx, but not our error shape. Known; see the report.
          if (res.status === 417 && res.body === '') problems.length = 0;
          if (problems.length > 0)
            failures.push({
              where: `raw "${made.name}" case #${i}`,
              request: preview(
                Buffer.concat(made.chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : c))),
              ),
              status: res.status,
              response: res.body,
              problems,
              serverLog: [...serverLog],
            });
        }
        if (data.length > 0 && responses.length === 0 && !data.toString('latin1').startsWith('HTTP/'))
          failures.push({
            where: `raw "${made.name}" case #${i}`,
            request: preview(made.chunks.join('').slice(0, 300)),
            status: -1,
            response: data.toString('latin1').slice(0, 300),
            problems: ['answer is not HTTP'],
            serverLog: [...serverLog],
          });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    console.log(
      `[fuzz] ${RAW_CASES} raw cases in ${((Date.now() - started) / 1_000).toFixed(1)} s; answered/cases: ${[
        ...names.entries(),
      ]
        .map(([name, t]) => `${name} ${t.answered}/${t.cases}`)
        .join(', ')}`,
    );
    // Still serving over the socket.
    const res = await fetch(`http://127.0.0.1:${port}/v1/enforce`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.valid}`, 'content-type': 'application/json' },
      body: validEnforce(),
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect((JSON.parse(text) as { decision: string }).decision).toBe('ALLOW');

    if (failures.length > 0) console.error(summarize(failures));
    expect(failures.length, summarize(failures)).toBe(0);
  });
});
