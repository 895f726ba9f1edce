import type { KafkaTelemetryOptions } from '../options.ts';
import {
  BEHAVIORAL_EVENT_FINGERPRINT,
  BEHAVIORAL_EVENT_SCHEMA,
  encodeBehavioralEvent,
} from './avro-event.ts';
import type { WireEvent } from './events.ts';
import type { SendOutcome, TelemetryTransport } from './transport.ts';

/** The slice of kafkajs this transport uses, so kafkajs' types are never part of the SDK's API. */
interface KafkaProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: {
    topic: string;
    acks?: number;
    messages: { key: string; value: Buffer; headers: Record<string, string> }[];
  }): Promise<unknown>;
}
interface KafkaModule {
  Kafka: new (
    config: Record<string, unknown>,
  ) => { producer(config?: Record<string, unknown>): KafkaProducer };
}

/** Kept in a variable so bundlers and TypeScript do not treat the optional peer dependency as required. */
const KAFKAJS = 'kafkajs';

/**
 * Produces events with kafkajs, for agents inside the trust boundary that may write to the bus directly.
 * kafkajs is an optional peer dependency, imported only when this transport is selected. Messages are Avro
 * behavioral events exactly as the server's ingest would put them on the bus (schema named in headers), keyed
 * `<tenant>/<agent>` so one agent's events stay in order.
 */
export class KafkaEventTransport implements TelemetryTransport {
  readonly name = 'kafka';
  private producer: Promise<KafkaProducer> | undefined;

  constructor(private readonly options: KafkaTelemetryOptions) {}

  private connect(): Promise<KafkaProducer> {
    this.producer ??= (async () => {
      let loaded: unknown;
      try {
        loaded = await import(KAFKAJS);
      } catch {
        throw new Error('telemetry transport "kafka" needs the kafkajs package: npm install kafkajs');
      }
      const { Kafka } = ((loaded as { default?: KafkaModule }).default ?? loaded) as KafkaModule;
      const kafka = new Kafka({
        clientId: this.options.clientId ?? 'thoth-sdk',
        brokers: this.options.brokers,
        // kafkajs logs every retry at error level; the sender reports failures itself.
        logLevel: 0,
        ...this.options.kafkaConfig,
      });
      // Idempotent, acks=all: an event the transport reports sent is on the bus once.
      const producer = kafka.producer({
        allowAutoTopicCreation: true,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      return producer;
    })();
    // A failed connect is retried on the next batch, not cached forever.
    this.producer.catch(() => {
      this.producer = undefined;
    });
    return this.producer;
  }

  async send(events: readonly WireEvent[]): Promise<SendOutcome> {
    try {
      const producer = await this.connect();
      await producer.send({
        topic: this.options.topic,
        acks: -1,
        messages: events.map((event) => ({
          key: `${event.tenantId}/${event.agentId}`,
          value: encodeBehavioralEvent(event, Date.now()),
          headers: {
            'thoth-schema': BEHAVIORAL_EVENT_SCHEMA,
            'thoth-schema-fingerprint': BEHAVIORAL_EVENT_FINGERPRINT,
          },
        })),
      });
      return { ok: true };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // A missing kafkajs will not appear by retrying.
      return { ok: false, retryable: !message.includes('needs the kafkajs package'), message };
    }
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer) await (await producer.catch(() => undefined))?.disconnect();
  }
}
