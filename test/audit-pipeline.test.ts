import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type ChainFields, linkHash } from '@thoth/contracts';
import type { Bus } from '@thoth/platform';
import { SigningKey, Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle } from '../scripts/verify-bundle.mjs';
import { AuditWriter } from '../services/audit-writer/src/audit-writer.ts';
import { enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { adapters, quietLog, uniquePrefix, waitFor } from './helpers.ts';

const run = promisify(execFile);
const kafka = adapters.find((a) => a.name === 'kafka')!;
type Json = Record<string, unknown>;

let bus: Bus;
let store: Store;
let api: TestApi;
let writer: AuditWriter;
let dataDir: string;
const tenant = 'acme-corp';

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'thoth-audit-'));
  store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
  bus = kafka.create();
  api = await startTestApi({ bus, store, prefix: uniquePrefix('audit') });
  writer = new AuditWriter({
    bus,
    codec: api.codec,
    store,
    eventsTopic: api.topics.events,
    log: quietLog,
    signingKey: SigningKey.loadOrCreate(join(dataDir, 'writer-key.pem')),
    controlTopic: api.topics.control,
    checkpointIntervalMs: 300,
  });
  await writer.start();
});
afterAll(async () => {
  // Tolerates a failed beforeAll, so its error is the one reported.
  await writer?.stop();
  await api?.close();
  await bus?.close();
  await store?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const get = async (url: string): Promise<{ status: number; body: Json }> => {
  const r = await api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${api.key}` } });
  return { status: r.statusCode, body: r.json() as Json };
};

/** What the TypeScript SDK sends around one governed call: PRE then POST. */
function sdkEvents(agent: string, session: string, n: number) {
  return Array.from({ length: n }, (_, i) => [
    {
      eventId: `${tenant}:${agent}-${session}-${i}-pre`,
      eventType: 'TOOL_CALL_PRE',
      agentId: agent,
      tenantId: tenant,
      sessionId: session,
      toolName: 'search_docs',
      content: `search_docs("report ${i}")`,
      occurredAt: new Date(Date.now() - (n - i) * 1_000).toISOString(),
      metadata: { sdk_language: 'typescript', event_phase: 'pre', enforcement_trace_id: `trace-${session}` },
    },
    {
      eventId: `${tenant}:${agent}-${session}-${i}-post`,
      eventType: 'TOOL_CALL_POST',
      agentId: agent,
      tenantId: tenant,
      sessionId: session,
      toolName: 'search_docs',
      content: `Found 3 docs matching: report ${i}`,
      occurredAt: new Date(Date.now() - (n - i) * 1_000 + 10).toISOString(),
      metadata: { sdk_language: 'typescript', event_phase: 'post', duration_ms: 10 },
    },
  ]).flat();
}

describe('audit pipeline end to end on the real broker', () => {
  let violationId = '';

  it('takes SDK events and decisions through Kafka into the trail, with chain fields', async () => {
    for (const agent of ['agent-a', 'agent-b']) {
      const r = await api.inject({
        method: 'POST',
        url: '/v1/events/batch',
        headers: { authorization: `Bearer ${api.key}` },
        payload: { events: sdkEvents(agent, `${agent}-s1`, 20) },
      });
      expect(r.statusCode).toBe(202);
    }
    const blocked = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { authorization: `Bearer ${api.key}` },
      payload: enforceBody({
        agent_id: 'agent-a',
        session_id: 'agent-a-s1',
        tool_name: 'delete_records',
        approved_scope: ['search_docs'],
      }),
    });
    violationId = (blocked.json() as { violation_id: string }).violation_id;
    // 80 SDK events and the decision, plus the harness's two control-plane changes (tenant, key) in `_admin`.
    await waitFor(
      '83 rows in the feed',
      async () => (await get(`/${tenant}/thoth/governance/feed?per_page=1`)).body.total === 83,
      60_000,
    );
    const admin = await get(
      `/${tenant}/thoth/governance/feed?agent_id=_admin&sort_by=chain_index&sort_dir=asc`,
    );
    expect((admin.body.data as Json[]).map((r) => [r.kind, r.event_type, r.chain_index])).toEqual([
      ['admin', 'ADMIN_TENANT_CREATE', 1],
      ['admin', 'ADMIN_API_KEY_CREATE', 2],
    ]);
    expect(JSON.stringify(admin.body.data)).not.toContain(api.key);
    expect(JSON.stringify(admin.body.data)).not.toContain('key_hash');

    const feed = await get(
      `/${tenant}/thoth/governance/feed?agent_id=agent-a&per_page=100&sort_by=chain_index&sort_dir=asc`,
    );
    const rows = feed.body.data as Json[];
    expect(feed.body.total).toBe(41);
    expect(rows.map((r) => r.chain_index)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(rows[0]).toMatchObject({
      previous_hash: '0'.repeat(64),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(rows[1]!.previous_hash).toBe(rows[0]!.hash);

    const found = await get(`/${tenant}/thoth/governance/feed?search=${violationId}`);
    expect(found.body.data).toEqual([
      expect.objectContaining({ kind: 'decision', decision: 'BLOCK', violation_id: violationId }),
    ]);
    const blocks = await get(`/${tenant}/thoth/governance/feed?decision=block`);
    expect(blocks.body.total).toBe(1);
    const byContent = await get(`/${tenant}/thoth/governance/feed?search=report%207&agent_id=agent-b`);
    expect(byContent.body.total).toBe(2);
    const paged = await get(`/${tenant}/thoth/governance/feed?per_page=30&page=3`);
    expect((paged.body.data as Json[]).length).toBe(23);
  });

  it('serves forensics and the chain with a cursor', async () => {
    const session = await get(`/${tenant}/thoth/sessions/agent-a-s1/forensics`);
    expect(session.status).toBe(200);
    const summary = session.body.summary as Json;
    expect(summary).toMatchObject({
      events: 41,
      blocked: 1,
      violations: [violationId],
      tool_calls: { search_docs: 20 },
    });
    const latest = await get(`/${tenant}/thoth/agents/agent-b/forensics/latest`);
    expect(latest.body).toMatchObject({ session_id: 'agent-b-s1' });
    const page1 = await get(`/${tenant}/thoth/evidence/chain?agent_id=agent-b&limit=25`);
    expect(page1.body.next_sequence).toBe(26);
    const page2 = await get(`/${tenant}/thoth/evidence/chain?agent_id=agent-b&from_sequence=26&limit=25`);
    expect((page2.body.data as Json[]).length).toBe(15);
    expect(page2.body.next_sequence).toBeNull();
    expect((await get(`/${tenant}/thoth/evidence/chain`)).status).toBe(400);
  });

  it('verifies the chain and a signed checkpoint', async () => {
    await waitFor('a checkpoint', async () => {
      const v = await get(`/${tenant}/governance/evidence/verify-chain`);
      return v.body.checkpoint !== null && (v.body.chain_head as Json)['agent-a'] !== undefined;
    });
    const { body } = await get(`/${tenant}/governance/evidence/verify-chain`);
    expect(body).toMatchObject({
      verified: true,
      records_checked: 83,
      agents_checked: 3,
      breach_detail: null,
      checkpoint: expect.objectContaining({ signature_valid: true, consistent: true }),
    });
  });

  it('an offline verifier accepts the signed bundle and rejects a modified one', async () => {
    const { status, body: bundle } = await get(`/${tenant}/thoth/sessions/agent-b-s1/evidence-bundle`);
    expect(status).toBe(200);
    expect(verifyBundle(bundle)).toBeUndefined();
    const records = bundle.records as Json[];
    const modified = {
      ...bundle,
      records: records.map((r, i) => (i === 3 ? { ...r, content: 'nothing happened' } : r)),
    };
    expect(verifyBundle(modified)).toMatch(/signature does not verify/);

    const dir = mkdtempSync(join(tmpdir(), 'bundle-'));
    const script = resolve(import.meta.dirname, '../scripts/verify-bundle.mjs');
    writeFileSync(join(dir, 'good.json'), JSON.stringify(bundle));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(modified));
    const ok = await run(process.execPath, [script, join(dir, 'good.json')]);
    expect(ok.stdout).toMatch(/^VALID: 40 records/);
    await expect(run(process.execPath, [script, join(dir, 'bad.json')])).rejects.toMatchObject({ code: 1 });
    rmSync(dir, { recursive: true, force: true });
  });

  it('a bundle verifies the Merkle receipts of its decisions; a forged receipt fails even in a re-signed bundle', async () => {
    const session = 'receipts-session';
    const bodies = [
      ...Array.from({ length: 5 }, () => enforceBody({ session_id: session })),
      enforceBody({ session_id: session, tool_name: 'delete_records', approved_scope: ['search_docs'] }),
    ];
    const answers = await Promise.all(
      bodies.map((payload) =>
        api.inject({
          method: 'POST',
          url: '/v1/enforce',
          headers: { authorization: `Bearer ${api.key}` },
          payload,
        }),
      ),
    );
    expect(new Set(answers.map((a) => a.json().decision))).toEqual(new Set(['ALLOW', 'BLOCK']));
    expect(Math.max(...answers.map((a) => a.json().receipt.tree_size))).toBeGreaterThan(1);
    let bundle: Json = {};
    await waitFor('the decisions in the trail', async () => {
      bundle = (await get(`/${tenant}/thoth/sessions/${session}/evidence-bundle`)).body;
      return ((bundle.records as Json[] | undefined) ?? []).filter((r) => r.kind === 'decision').length === 6;
    });
    expect(verifyBundle(bundle)).toBeUndefined();

    // Forge one receipt's leaf index, then repair everything else a forger controls: the record's link, the links
    // after it, and the bundle signature (with a key the forged bundle lists). Only the receipt check can fail.
    const records = structuredClone(bundle.records) as Json[];
    const target = records.findIndex((r) => r.kind === 'decision');
    const payload = JSON.parse(records[target]!.payload as string) as Json;
    const receipt = JSON.parse(payload.receipt_json as string) as Json;
    receipt.leaf_index = ((receipt.leaf_index as number) + 1) % Math.max(2, receipt.tree_size as number);
    receipt.tree_size = Math.max(2, receipt.tree_size as number);
    payload.receipt_json = JSON.stringify(receipt);
    records[target]!.payload = JSON.stringify(payload);
    for (let i = target; i < records.length; i++) {
      const r = records[i]!;
      if (r.agent_id !== records[target]!.agent_id) continue;
      const previous = records.slice(0, i).findLast((p) => p.agent_id === r.agent_id);
      if (previous && (previous.chain_index as number) + 1 === r.chain_index) r.previous_hash = previous.hash;
      r.hash = linkHash(r as unknown as ChainFields, r.chain_index as number, r.previous_hash as string);
    }
    const forger = SigningKey.loadOrCreate(join(dataDir, 'forger-key.pem'));
    const { signature: _signature, ...unsigned } = bundle;
    const forged = {
      ...unsigned,
      records,
      public_keys: [
        ...(bundle.public_keys as Json[]),
        { key_id: forger.keyId, algorithm: 'ed25519', public_key_pem: forger.publicKeyPem },
      ],
    };
    const resigned = { ...forged, signature: forger.sign(forged) };
    expect(verifyBundle(resigned)).toMatch(/receipt: the decision is not the leaf/);

    // A forger who would re-sign the receipts too must list its key under the receipts' key id: refused, a key id
    // is derived from its key.
    const receiptKeyId = JSON.parse(records.find((r) => r.kind === 'decision')!.payload as string as string)
      .receipt_key_id as string;
    const impostor = {
      ...unsigned,
      public_keys: [
        ...(bundle.public_keys as Json[]).filter((k) => k.key_id !== receiptKeyId),
        { key_id: receiptKeyId, algorithm: 'ed25519', public_key_pem: forger.publicKeyPem },
        { key_id: forger.keyId, algorithm: 'ed25519', public_key_pem: forger.publicKeyPem },
      ],
    };
    expect(verifyBundle({ ...impostor, signature: forger.sign(impostor) })).toMatch(
      /lists under another key's id/,
    );
  });

  it('reports exactly the link whose stored row was changed', async () => {
    const chain = await get(`/${tenant}/thoth/evidence/chain?agent_id=agent-b&from_sequence=7&limit=1`);
    const target = (chain.body.data as Json[])[0]!;
    await store.client.command({
      query: `ALTER TABLE events UPDATE content = 'nothing to see' WHERE event_id = {id:String}`,
      query_params: { id: target.event_id },
      clickhouse_settings: { mutations_sync: '2' },
    });
    const { body } = await get(`/${tenant}/governance/evidence/verify-chain`);
    expect(body.verified).toBe(false);
    expect(body.breach_detail).toMatchObject({
      agent_id: 'agent-b',
      chain_index: 7,
      event_id: target.event_id,
      reason: 'hash_mismatch',
    });
    const agentA = await get(`/${tenant}/governance/evidence/verify-chain?agent_id=agent-a`);
    expect(agentA.body.verified).toBe(true);
  });

  it('streams new events and decisions live, per tenant and agent', async () => {
    await api.service.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = api.service.app.server.address() as { port: number };
    const controller = new AbortController();
    const response = await fetch(`http://127.0.0.1:${port}/v1/stream?agent_id=agent-live`, {
      headers: { authorization: `Bearer ${api.key}` },
      signal: controller.signal,
    });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = response.body!.getReader();
    let text = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += Buffer.from(value).toString();
      }
    })().catch(() => undefined);
    await waitFor('the stream to be live', () => text.includes(': connected'), 15_000);
    await api.inject({
      method: 'POST',
      url: '/v1/events/batch',
      headers: { authorization: `Bearer ${api.key}` },
      payload: { events: [...sdkEvents('agent-other', 'x', 1), ...sdkEvents('agent-live', 'live-1', 1)] },
    });
    await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { authorization: `Bearer ${api.key}` },
      payload: enforceBody({ agent_id: 'agent-live', session_id: 'live-1' }),
    });
    await waitFor(
      'two events and a decision on the stream',
      () => (text.match(/^event: /gm) ?? []).length >= 3,
      15_000,
    );
    controller.abort();
    await reading;
    expect(text).toContain('event: decision');
    expect(text).toContain('agent-live');
    expect(text).not.toContain('agent-other');
  });
});
