import type { BehavioralEvent } from '@thoth/contracts';
import { topicNames, topicSpecs } from '@thoth/contracts';
import type { Bus, IncomingMessage } from '@thoth/platform';
import { AvroCodec, noRedaction } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  BEHAVIORAL_EVENT_FINGERPRINT,
  encodeBehavioralEvent,
} from '../sdk/typescript/src/telemetry/avro-event.ts';
import type { WireEvent } from '../sdk/typescript/src/telemetry/events.ts';
import { KafkaEventTransport } from '../sdk/typescript/src/telemetry/kafka-transport.ts';
import { normalizeEvent } from '../services/api/src/ingest/normalize-events.ts';
import { adapters, uniquePrefix, waitFor } from './helpers.ts';

// The SDK's Kafka transport writes straight to the server's events topic: its hand-written Avro encoder must
// produce exactly what the server's codec reads, and the record ingest would have made from the same event.
const codec = new AvroCodec();
const event = (i: number, overrides: Partial<WireEvent> = {}): WireEvent => ({
  eventId: `acme-corp:sdk-kafka-${i}`,
  eventType: 'TOOL_CALL_POST',
  agentId: 'invoice-processor-v2',
  tenantId: 'acme-corp',
  sessionId: 'sess-k',
  toolName: 'search_docs',
  occurredAt: new Date(1_764_000_000_000 + i).toISOString(),
  content: `search_docs completed ✓ ${i}`,
  sourceType: 'agent_tool_call',
  userId: 'system',
  approvedScope: ['search_docs'],
  enforcementMode: 'progressive',
  sessionToolCalls: i % 2 ? [] : ['search_docs', 'submit_payment'],
  metadata: { sdk_language: 'typescript', event_phase: 'post', enforcement_trace_id: `trace-${i}` },
  ...overrides,
});

describe('SDK Kafka transport ↔ server Avro', () => {
  it('uses the fingerprint of the server’s schema', () => {
    expect(BEHAVIORAL_EVENT_FINGERPRINT).toBe(codec.fingerprint('thoth.v1.BehavioralEvent'));
  });

  it.each([0, 1])('encodes what ingest would have made of the same event (case %i)', (i) => {
    const e = event(i, i ? { violationId: 'v-1', purpose: 'audit', dataClassification: 'pii' } : {});
    const bytes = encodeBehavioralEvent(e, 42);
    const decoded = codec.decode({
      value: bytes,
      headers: {
        'thoth-schema': 'thoth.v1.BehavioralEvent',
        'thoth-schema-fingerprint': BEHAVIORAL_EVENT_FINGERPRINT,
      },
    });
    const viaIngest = normalizeEvent(e, 42, noRedaction);
    expect(viaIngest.ok).toBe(true);
    expect(decoded).toEqual({
      ok: true,
      schema: 'thoth.v1.BehavioralEvent',
      value: (viaIngest as { event: BehavioralEvent }).event,
    });
  });
});

describe('SDK Kafka transport on the real broker', () => {
  const kafka = adapters.find((a) => a.name === 'kafka')!;
  let bus: Bus;
  let topic: string;
  beforeAll(async () => {
    bus = kafka.create();
    const topics = topicNames(uniquePrefix('sdk-kafka'));
    topic = topics.events;
    await bus.ensureTopics(topicSpecs(topics, 3));
  });
  afterAll(async () => {
    await bus?.close();
  });

  it('produces events the server consumes and decodes, keyed by agent', async () => {
    const transport = new KafkaEventTransport({ brokers: inject('kafkaBrokers'), topic });
    const sent = await transport.send([event(10), event(11)]);
    await transport.close();
    expect(sent).toEqual({ ok: true });
    const got: IncomingMessage[] = [];
    const sub = await bus.subscribe({
      group: `${topic}.check`,
      topics: [topic],
      handler: async (b) => void got.push(...b.messages),
    });
    await waitFor('both events', () => got.length >= 2, 30_000);
    await sub.stop();
    const decoded = got.map((m) => codec.decode(m));
    expect(
      decoded.map((d) => (d.ok && d.schema === 'thoth.v1.BehavioralEvent' ? d.value.event_id : null)),
    ).toEqual(['acme-corp:sdk-kafka-10', 'acme-corp:sdk-kafka-11']);
    expect(got.map((m) => m.key)).toEqual([
      'acme-corp/invoice-processor-v2',
      'acme-corp/invoice-processor-v2',
    ]);
  });
});
