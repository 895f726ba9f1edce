import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RecordTypes, SchemaName } from '@thoth/contracts';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  AvroCodec,
  FINGERPRINT_HEADER,
  RECORD_COUNT_HEADER,
  SCHEMA_HEADER,
  schemaFingerprint,
} from './avro-codec.ts';
import type { OutgoingMessage } from './bus.ts';

const now = 1_764_000_000_000;
// A full value of every record type: encoding fails if the TypeScript shape drifts from the .avsc.
const samples: { [N in SchemaName]: RecordTypes[N] } = {
  'thoth.v1.BehavioralEvent': {
    event_id: 'acme:1',
    tenant_id: 'acme',
    agent_id: 'a',
    session_id: 's',
    user_id: 'u',
    source_type: 'agent_tool_call',
    event_type: 'TOOL_CALL_PRE',
    tool_name: 't',
    content: 'c',
    metadata_json: '{}',
    approved_scope: ['t'],
    enforcement_mode: 'progressive',
    session_tool_calls: ['t'],
    occurred_at: now,
    ingested_at: now,
    ttl: '30d',
    violation_id: 'v',
    purpose: 'p',
    data_classification: 'pii',
    task_context_json: '{}',
    endpoint_id: 'e',
    hostname: 'h',
    enforcement_trace_id: 'tr',
    chain_index: 3,
    hash: 'h1',
    previous_hash: 'h0',
    signature: 'sig',
  },
  'thoth.v1.DecisionEvent': {
    event_id: 'acme:v',
    tenant_id: 'acme',
    agent_id: 'a',
    session_id: 's',
    user_id: 'u',
    tool_name: 't',
    decision: 'BLOCK',
    would_be_decision: 'BLOCK',
    enforcement_mode: 'progressive',
    environment: 'prod',
    reason: 'r',
    reason_code: 'rc',
    action_classification: 'write',
    violation_id: 'v',
    enforcement_trace_id: 'tr',
    risk_score: 40,
    matched_rule_ids: ['r1'],
    model_signals: ['s'],
    top_contributors_json: '[]',
    decision_evidence_json: '{}',
    tool_args_json: '{}',
    modified_tool_args_json: null,
    hold_token: null,
    policy_version: 2,
    latency_us: 12,
    receipt_signature: 'sig',
    receipt_key_id: 'k',
    request_id: null,
    purpose: null,
    data_classification: null,
    occurred_at: now,
    replay_json: '{"approved_scope":["search_docs"],"session_before":null,"directives":[]}',
    receipt_json: '{"receipt_format":"merkle-v1","tree_size":1,"leaf_index":0,"audit_path":[]}',
  },
  'thoth.v1.Directive': {
    tenant_id: 'acme',
    agent_id: 'a',
    session_id: null,
    tool_name: 'pay',
    level: 'step_up',
    score: 40,
    reason: 'r',
    reason_code: 'rate_anomaly',
    finding_ids: ['f'],
    contributions: [{ feature: 'rate', points: 40 }],
    signals: ['s'],
    updated_at: now,
    expires_at: now + 1,
  },
  'thoth.v1.Finding': {
    finding_id: 'f',
    tenant_id: 'acme',
    agent_id: 'a',
    session_id: 's',
    tool_name: 'submit_payment',
    detector: 'numeric_outlier',
    score: 45,
    severity: 'high',
    explanation: 'amount 50000 is far above the p99 of 198',
    observed_json: '{"amount":50000}',
    baseline_json: '{"p99":198}',
    event_ids: ['acme:1'],
    learning: false,
    occurred_at: now,
  },
  'thoth.v1.Hold': {
    token: 'tok',
    approval_id: 'apr',
    tenant_id: 'acme',
    agent_id: 'a',
    session_id: 's',
    user_id: 'u',
    tool_name: 't',
    args_digest: 'd',
    args_preview_json: '{}',
    reason: 'r',
    reason_code: 'rc',
    risk_score: 60,
    violation_id: 'v',
    enforcement_trace_id: 'tr',
    finding_ids: [],
    status: 'approved',
    created_at: now,
    expires_at: now + 900_000,
    resolved_at: now + 5,
    resolved_by: 'alice',
    comment: 'ok',
    approvers: ['payments'],
    approvals_required: 1,
    policy_version: 3,
    votes: [
      {
        vote_id: 'v1',
        principal: {
          kind: 'person',
          issuer: 'https://idp.example',
          subject: 'alice',
          email: 'alice@example.com',
          key_id: null,
          name: 'Alice',
        },
        decision: 'approve',
        comment: 'ok',
        at: now + 5,
        args_digest: 'd',
        policy_version: 3,
      },
    ],
  },
  'thoth.v1.ApiKey': {
    key_id: 'key_1',
    tenant_id: 'acme',
    name: 'n',
    key_hash: 'h',
    key_prefix: 'thoth_live_ab12',
    permissions: ['execute'],
    agent_id: null,
    created_at: now,
    created_by: 'admin',
    expires_at: null,
    revoked_at: null,
  },
  'thoth.v1.Tenant': {
    tenant_id: 'acme',
    created_at: now,
    created_by: 'admin',
    display_name: 'Acme',
    rate_limit_per_second: 500,
    disabled: false,
  },
  'thoth.v1.ReceiptKey': { key_id: 'k', public_key_pem: 'pem', created_at: now },
  'thoth.v1.AdminEvent': {
    event_id: 'acme:admin:1',
    tenant_id: 'acme',
    actor: 'admin-token',
    action: 'api_key.revoke',
    target_type: 'api_key',
    target_id: 'key_1',
    before_json: '{"revoked_at":null}',
    after_json: '{"revoked_at":"2025-11-24T16:00:00.000Z"}',
    occurred_at: now,
    principal: {
      kind: 'admin-token',
      issuer: null,
      subject: null,
      email: null,
      key_id: null,
      name: null,
    },
  },
  'thoth.v1.PolicyVersion': {
    tenant_id: 'acme',
    version: 3,
    document_json: '{"rules":[]}',
    deleted: false,
    created_at: now,
    created_by: 'admin-token',
    comment: 'tighten payments',
  },
  'thoth.v1.KeyUsage': { key_id: 'key_1', tenant_id: 'acme', last_used_at: now },
  'thoth.v1.SessionRisk': {
    tenant_id: 'acme',
    agent_id: 'agent-1',
    session_id: 's-1',
    replica_id: 'replica-1',
    risk: 42.5,
    blocked: 1,
    calls: 7,
    updated_at: now,
  },
};

describe('AvroCodec', () => {
  const codec = new AvroCodec();

  it.each(Object.keys(samples) as SchemaName[])('round-trips a full %s and names it in headers', (name) => {
    const message = codec.encode(name, 'key', samples[name] as never);
    expect(message.headers?.[SCHEMA_HEADER]).toBe(name);
    expect(message.headers?.[FINGERPRINT_HEADER]).toMatch(/^[0-9a-f]{16}$/);
    const decoded = codec.decode({ value: message.value, headers: message.headers ?? {} });
    expect(decoded).toEqual({ ok: true, schema: name, value: samples[name] });
  });

  it('refuses unknown fingerprints, truncated bytes and tombstones with a reason', () => {
    const message = codec.encode('thoth.v1.Tenant', 'k', samples['thoth.v1.Tenant']);
    const headers = message.headers ?? {};
    expect(
      codec.decode({
        value: message.value,
        headers: { ...headers, [FINGERPRINT_HEADER]: '0000000000000000' },
      }),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/unknown schema fingerprint/),
    });
    expect(codec.decode({ value: message.value!.subarray(0, 3), headers })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/undecodable thoth.v1.Tenant/),
    });
    expect(codec.decode({ value: null, headers })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/tombstone/),
    });
    expect(codec.decode({ value: message.value, headers: {} })).toMatchObject({ ok: false });
  });
});

describe('batch messages', () => {
  const codec = new AvroCodec();
  const events = Array.from({ length: 200 }, (_, i) => ({
    ...samples['thoth.v1.BehavioralEvent'],
    event_id: `acme:${i}`,
    content: 'x'.repeat(i),
  }));
  const incoming = (m: OutgoingMessage) => ({ value: m.value, headers: m.headers ?? {} });
  const ids = (messages: OutgoingMessage[]) =>
    messages.flatMap((m) => {
      const decoded = codec.decodeAll(incoming(m));
      if (!decoded.ok) throw new Error(decoded.reason);
      return decoded.records.map((r) => (r.value as { event_id: string }).event_id);
    });

  it('holds many records as the plain Avro array of the schema, in order, with their count', () => {
    const [message, ...more] = codec.encodeBatch('thoth.v1.BehavioralEvent', 'acme/a', events, {
      extra: '1',
    });
    expect(more).toEqual([]);
    expect(message!.key).toBe('acme/a');
    expect(message!.headers).toMatchObject({
      extra: '1',
      [SCHEMA_HEADER]: 'thoth.v1.BehavioralEvent',
      [RECORD_COUNT_HEADER]: '200', // a count above 63 takes two varint bytes
    });
    const decoded = codec.decodeAll(incoming(message!));
    expect(decoded).toEqual({
      ok: true,
      records: events.map((value) => ({ schema: 'thoth.v1.BehavioralEvent', value })),
    });
    // Any Avro reader with the schema reads it: no framing of our own.
    const schema = JSON.parse(
      readFileSync(
        fileURLToPath(new URL('../../../../schemas/avro/behavioral_event.avsc', import.meta.url)),
        'utf8',
      ),
    );
    expect(avro.Type.forSchema({ type: 'array', items: schema }).fromBuffer(message!.value!)).toEqual(events);
  });

  it('writes the bytes of the Avro array encoding, records of any size (its scratch buffer grows)', () => {
    const schema = JSON.parse(
      readFileSync(
        fileURLToPath(new URL('../../../../schemas/avro/behavioral_event.avsc', import.meta.url)),
        'utf8',
      ),
    );
    const arrayType = avro.Type.forSchema({ type: 'array', items: schema });
    // Small, over avsc's 1 KB buffer, and over the 64 KB the scratch buffer starts with.
    const sized = [10, 2_000, 70_000, 300_000, 5].map((n, i) => ({ ...events[i]!, content: 'x'.repeat(n) }));
    const [message, ...more] = codec.encodeBatch('thoth.v1.BehavioralEvent', 'k', sized);
    expect(more).toEqual([]);
    expect(Buffer.compare(message!.value!, arrayType.toBuffer(sized))).toBe(0);
    // Split: each message is the array of its own records, byte for byte.
    const split = codec.encodeBatch('thoth.v1.BehavioralEvent', 'k', sized, {}, 100_000);
    expect(split.map((m) => m.headers?.[RECORD_COUNT_HEADER])).toEqual(['3', '1', '1']);
    const parts = [sized.slice(0, 3), sized.slice(3, 4), sized.slice(4)];
    for (const [i, m] of split.entries())
      expect(Buffer.compare(m.value!, arrayType.toBuffer(parts[i]))).toBe(0);
  });

  it('splits at maxBytes, keeping the order; a record larger than maxBytes travels alone', () => {
    const messages = codec.encodeBatch('thoth.v1.BehavioralEvent', 'k', events, {}, 4_000);
    expect(messages.length).toBeGreaterThan(5);
    for (const m of messages) expect(m.value!.length).toBeLessThanOrEqual(4_000 + 3);
    expect(ids(messages)).toEqual(events.map((e) => e.event_id));
    const alone = codec.encodeBatch('thoth.v1.BehavioralEvent', 'k', events.slice(150, 153), {}, 100);
    expect(alone.map((m) => m.headers?.[RECORD_COUNT_HEADER])).toEqual(['1', '1', '1']);
    expect(ids(alone)).toEqual(['acme:150', 'acme:151', 'acme:152']);
  });

  it('decode() refuses a batch message; a wrong count or truncated bytes are refused with a reason', () => {
    const [message] = codec.encodeBatch('thoth.v1.BehavioralEvent', 'k', events.slice(0, 3));
    expect(codec.decode(incoming(message!))).toMatchObject({ ok: false, reason: /batch message/ });
    const headers = { ...message!.headers, [RECORD_COUNT_HEADER]: '4' };
    expect(codec.decodeAll({ value: message!.value, headers })).toMatchObject({
      ok: false,
      reason: /says 4, it holds 3/,
    });
    expect(
      codec.decodeAll({ value: message!.value!.subarray(0, 20), headers: message!.headers ?? {} }),
    ).toMatchObject({ ok: false, reason: /undecodable thoth.v1.BehavioralEvent/ });
    // A one-record message reads as a list of one.
    const single = codec.encode('thoth.v1.BehavioralEvent', 'k', events[0]!);
    expect(codec.decodeAll(incoming(single))).toEqual({
      ok: true,
      records: [{ schema: 'thoth.v1.BehavioralEvent', value: events[0] }],
    });
  });
});

describe('schema evolution', () => {
  const dir = fileURLToPath(new URL('../../../../schemas/avro/', import.meta.url));
  const pinned = JSON.parse(readFileSync(join(dir, 'fingerprints.json'), 'utf8')) as Record<string, string>;

  it('every schema still has its pinned fingerprint (a change needs its previous version kept)', () => {
    const current = Object.fromEntries(
      readdirSync(dir)
        .filter((f) => f.endsWith('.avsc'))
        .sort()
        .map((f) => [
          f,
          schemaFingerprint(avro.Type.forSchema(JSON.parse(readFileSync(join(dir, f), 'utf8')))),
        ]),
    );
    for (const [file, fingerprint] of Object.entries(current))
      expect(
        fingerprint,
        `${file} changed: records already on the bus carry fingerprint ${pinned[file]}. Copy the released ` +
          `version to schemas/avro/previous/${file.replace('.avsc', '')}.${pinned[file]}.avsc (so they stay ` +
          'readable, resolved to the new shape), give new fields defaults, then update fingerprints.json.',
      ).toBe(pinned[file] ?? fingerprint);
    expect(Object.keys(current)).toEqual(Object.keys(pinned));
  });

  it('previous versions are named after their fingerprint and readable by the codec', () => {
    const codec = new AvroCodec();
    for (const file of readdirSync(join(dir, 'previous')).filter((f) => f.endsWith('.avsc'))) {
      const type = avro.Type.forSchema(JSON.parse(readFileSync(join(dir, 'previous', file), 'utf8')));
      expect(file).toBe(`${file.split('.')[0]}.${schemaFingerprint(type)}.avsc`);
      expect(codec.readableFingerprints()).toContain(schemaFingerprint(type));
    }
  });

  it('decodes a record written with a previous schema into the current shape (new fields take defaults)', () => {
    const file = readdirSync(join(dir, 'previous')).find((f) => f.startsWith('tenant.'));
    expect(file, 'the pre-control-plane Tenant schema is kept in previous/').toBeDefined();
    const old = avro.Type.forSchema(JSON.parse(readFileSync(join(dir, 'previous', file!), 'utf8')));
    const value = old.toBuffer({ tenant_id: 'acme', created_at: now, created_by: 'admin-token' });
    const decoded = new AvroCodec().decode({
      value,
      headers: { [SCHEMA_HEADER]: 'thoth.v1.Tenant', [FINGERPRINT_HEADER]: schemaFingerprint(old) },
    });
    expect(decoded).toEqual({
      ok: true,
      schema: 'thoth.v1.Tenant',
      value: {
        tenant_id: 'acme',
        created_at: now,
        created_by: 'admin-token',
        display_name: null,
        rate_limit_per_second: null,
        disabled: false,
      },
    });
  });

  it('reads a batch message written with a previous schema, each record in the current shape', () => {
    const file = readdirSync(join(dir, 'previous')).find((f) => f.startsWith('tenant.'))!;
    const old = avro.Type.forSchema(JSON.parse(readFileSync(join(dir, 'previous', file), 'utf8')));
    const values = ['a', 'b'].map((t) => ({ tenant_id: t, created_at: now, created_by: 'admin-token' }));
    const decoded = new AvroCodec().decodeAll({
      value: avro.Type.forSchema({ type: 'array', items: old }).toBuffer(values),
      headers: {
        [SCHEMA_HEADER]: 'thoth.v1.Tenant',
        [FINGERPRINT_HEADER]: schemaFingerprint(old),
        [RECORD_COUNT_HEADER]: '2',
      },
    });
    expect(decoded.ok && decoded.records.map((r) => r.value)).toEqual(
      values.map((v) => ({ ...v, display_name: null, rate_limit_per_second: null, disabled: false })),
    );
  });
});
