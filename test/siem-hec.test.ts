import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FindingRecord } from '@thoth/contracts';
import { agentKey, dlqTopic, topicNames, topicSpecs, verifySignature } from '@thoth/contracts';
import type { Bus, IncomingMessage, OutgoingMessage } from '@thoth/platform';
import { AvroCodec } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SiemExporter } from '../services/siem-export/src/siem-exporter.ts';
import { parseSinkConfig } from '../services/siem-export/src/sink-config.ts';
import { behavioralEvent } from './fixtures.ts';
import { HecReceiver } from './hec-receiver.ts';
import { adapters, quietLog, uniquePrefix, waitFor } from './helpers.ts';

const PER_TENANT = 1_500;
const codec = new AvroCodec();
const topics = topicNames(uniquePrefix('siem-hec'));
const SECRET = 'webhook-secret-0123456789';

let dir: string;
let bus: Bus;
let hec: HecReceiver;
let exporter: SiemExporter;
let webhook: Server;
const webhookEvents: Array<{ metadata: { uid: string; tenant_uid: string } }> = [];
let badSignatures = 0;

function finding(tenant: string, i: number): FindingRecord {
  return {
    finding_id: `${tenant}-finding-${i}`,
    tenant_id: tenant,
    agent_id: 'agent-1',
    session_id: 's',
    tool_name: 'export_customers',
    detector: 'rate_spike',
    score: 40,
    severity: 'high',
    explanation: 'rate spike',
    observed_json: '{}',
    baseline_json: '{}',
    event_ids: [],
    learning: false,
    occurred_at: Date.now(),
  };
}

/** Mixed traffic for a tenant: tool calls and findings, ids prefixed by the tenant. */
function traffic(tenant: string, from: number, to: number): Array<{ id: string; message: OutgoingMessage }> {
  const out: Array<{ id: string; message: OutgoingMessage }> = [];
  for (let i = from; i < to; i++) {
    if (i % 10 === 0) {
      const f = finding(tenant, i);
      out.push({
        id: f.finding_id,
        message: codec.encode('thoth.v1.Finding', agentKey(tenant, f.agent_id), f),
      });
    } else {
      const e = behavioralEvent({
        event_id: `${tenant}-event-${i}`,
        tenant_id: tenant,
        agent_id: `agent-${i % 3}`,
      });
      out.push({
        id: e.event_id,
        message: codec.encode('thoth.v1.BehavioralEvent', agentKey(tenant, e.agent_id), e),
      });
    }
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'thoth-siem-hec-'));
  hec = new HecReceiver({
    'acme-token': { defaultIndex: 'main', allowedIndexes: ['acme_security'], ack: true },
    'globex-token': { defaultIndex: 'main', allowedIndexes: ['globex_security'], ack: false },
  });
  const hecPort = await hec.start();
  webhook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signature = req.headers['x-thoth-signature'] as string | undefined;
      if (!verifySignature(SECRET, body, signature, Math.floor(Date.now() / 1_000))) {
        badSignatures++;
        res.writeHead(401).end();
        return;
      }
      webhookEvents.push(...(JSON.parse(body) as { events: typeof webhookEvents }).events);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', () => r()));
  const webhookPort = (webhook.address() as { port: number }).port;

  bus = adapters.find((a) => a.name === 'kafka')!.create();
  await bus.ensureTopics(topicSpecs(topics, 3));
  const fast = { backoff_initial_ms: 100, backoff_max_ms: 1_000, batch_size: 200 };
  const sinks = parseSinkConfig(
    {
      sinks: [
        {
          id: 'acme-splunk',
          tenant: 'acme',
          type: 'hec',
          url: `http://127.0.0.1:${hecPort}`,
          token: 'env:ACME_HEC_TOKEN',
          index: 'acme_security',
          ack: true,
          ack_poll_ms: 20,
          gzip: true,
          ...fast,
        },
        {
          id: 'globex-splunk',
          tenant: 'globex',
          type: 'hec',
          format: 'ecs',
          url: `http://127.0.0.1:${hecPort}`,
          token: 'globex-token',
          index: 'globex_security',
          gzip: false,
          ...fast,
        },
        {
          id: 'globex-webhook',
          tenant: 'globex',
          type: 'webhook',
          url: `http://127.0.0.1:${webhookPort}/siem`,
          secret: SECRET,
          ...fast,
        },
        {
          id: 'findings-lake',
          tenant: '*',
          type: 'file',
          dir: join(dir, 'lake'),
          filters: { event_types: ['FINDING'] },
          ...fast,
        },
      ],
    },
    { ACME_HEC_TOKEN: 'acme-token' },
  );
  exporter = new SiemExporter({ bus, codec, eventsTopic: topics.events, log: quietLog, sinks });
  await exporter.start();
}, 120_000);

afterAll(async () => {
  await exporter?.stop();
  await bus?.close();
  await hec?.stop();
  await new Promise<void>((r) => (webhook ? webhook.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('SIEM export: Splunk HEC, signed webhook, NDJSON files', () => {
  it('loses nothing through a period of 503s, sends each tenant to its own index, and DLQs a refused event', async () => {
    const acme = traffic('acme', 0, PER_TENANT);
    const globex = traffic('globex', 0, PER_TENANT);
    const publishAll = async (items: Array<{ message: OutgoingMessage }>) => {
      for (let i = 0; i < items.length; i += 300)
        await bus.publish(
          topics.events,
          items.slice(i, i + 300).map((x) => x.message),
        );
    };
    await publishAll([...acme.slice(0, 500), ...globex.slice(0, 500)]);
    await waitFor('first events indexed', () => hec.indexed.length >= 300);

    // Splunk says "server busy" for 3 s while the rest arrives, with one event it will refuse for its content.
    hec.busy = true;
    const poison = behavioralEvent({ event_id: 'acme-poison', tenant_id: 'acme', content: 'POISON-EVENT' });
    await publishAll([
      ...acme.slice(500),
      { message: codec.encode('thoth.v1.BehavioralEvent', agentKey('acme', poison.agent_id), poison) },
      ...globex.slice(500),
    ]);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(exporter.counters('acme-splunk')!.up).toBe(0);
    hec.busy = false;

    const indexedIds = (index: string) =>
      new Set(
        hec.indexed
          .filter((e) => e.index === index)
          .map((e) => {
            const event = e.envelope.event as { metadata?: { uid: string }; event?: { id: string } };
            return event.metadata?.uid ?? event.event?.id ?? '';
          }),
      );
    await waitFor(
      'every event in its index',
      () =>
        indexedIds('acme_security').size === PER_TENANT && indexedIds('globex_security').size === PER_TENANT,
      60_000,
    );
    const acmeIds = indexedIds('acme_security');
    const globexIds = indexedIds('globex_security');
    expect(acme.every((x) => acmeIds.has(x.id))).toBe(true);
    expect(globex.every((x) => globexIds.has(x.id))).toBe(true);
    expect([...acmeIds].every((id) => id.startsWith('acme-'))).toBe(true);
    expect([...globexIds].every((id) => id.startsWith('globex-'))).toBe(true);
    expect(acmeIds.has('acme-poison')).toBe(false);
    expect(
      hec.indexed.every((e) => e.token === (e.index === 'acme_security' ? 'acme-token' : 'globex-token')),
    ).toBe(true);
    expect(hec.answered.get(503)).toBeGreaterThan(0);
    await waitFor(
      'the refused event dead-lettered',
      () => exporter.counters('acme-splunk')!.deadLettered === 1,
    );
    expect(exporter.counters('acme-splunk')!.up).toBe(1);
    expect(exporter.counters('acme-splunk')!.retried).toBeGreaterThan(0);
    const envelope = hec.indexed.find((e) => e.index === 'globex_security')!.envelope;
    expect(envelope).toMatchObject({ source: 'thoth', sourcetype: 'thoth:ecs', index: 'globex_security' });
    expect(typeof envelope.time).toBe('number');

    // The refused event is on the DLQ, with the sink's group and HEC's reason.
    const dead: IncomingMessage[] = [];
    const dlq = await bus.subscribe({
      group: `${topics.events}.test-dlq-reader`,
      topics: [dlqTopic(topics.events)],
      handler: async (batch) => void dead.push(...batch.messages),
    });
    await waitFor('the refused event on the DLQ', () =>
      dead.some((m) => m.headers['thoth-dlq-group'] === `${topics.events}.siem.acme-splunk`),
    );
    await dlq.stop();
    const letter = dead.find((m) => m.headers['thoth-dlq-group'] === `${topics.events}.siem.acme-splunk`)!;
    expect(letter.headers['thoth-dlq-reason']).toMatch(/HEC refused the event: HTTP 400, code 6/);

    // The signed webhook got globex's events only; the findings lake got every finding.
    await waitFor(
      'webhook deliveries',
      () => new Set(webhookEvents.map((e) => e.metadata.uid)).size === PER_TENANT,
    );
    expect(badSignatures).toBe(0);
    expect(webhookEvents.every((e) => e.metadata.tenant_uid === 'globex')).toBe(true);
    await exporter.stop();
    const lake = join(dir, 'lake');
    const lines = readdirSync(lake)
      .filter((f) => f.endsWith('.ndjson'))
      .flatMap((f) => readFileSync(join(lake, f), 'utf8').trim().split('\n'));
    const findingIds = new Set(
      lines.map((l) => (JSON.parse(l) as { finding_info: { uid: string } }).finding_info.uid),
    );
    const expected = [...acme, ...globex].filter((x) => x.id.includes('-finding-')).map((x) => x.id);
    expect(findingIds.size).toBe(expected.length);
    expect(expected.every((id) => findingIds.has(id))).toBe(true);
  });
});
