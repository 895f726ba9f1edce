import type { WireEvent } from './events.ts';

/**
 * Avro binary encoding of one behavioral event, for the Kafka transport: the events topic carries Avro
 * (`schemas/avro/behavioral_event.avsc`, schema named in headers), and the SDK has no dependencies, so it encodes
 * this one schema itself. Field order and the fingerprint must match the server's schema: a cross-check in
 * test/sdk-kafka-transport.test.ts decodes these bytes with the server's codec.
 */

export const BEHAVIORAL_EVENT_SCHEMA = 'thoth.v1.BehavioralEvent';
/** First 16 hex digits of the SHA-256 fingerprint of behavioral_event.avsc (its parsing canonical form). */
export const BEHAVIORAL_EVENT_FINGERPRINT = 'b87f2b0f0f262d53';

class AvroWriter {
  private readonly chunks: Buffer[] = [];

  long(n: number): void {
    // Zigzag then base-128 varint; exact for |n| < 2^52, far beyond epoch milliseconds.
    let v = n >= 0 ? n * 2 : -n * 2 - 1;
    const bytes: number[] = [];
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    this.chunks.push(Buffer.from(bytes));
  }

  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.long(bytes.length);
    this.chunks.push(bytes);
  }

  optionalString(s: string | null | undefined): void {
    if (s === null || s === undefined) this.long(0);
    else {
      this.long(1);
      this.string(s);
    }
  }

  strings(items: readonly string[]): void {
    if (items.length > 0) {
      this.long(items.length);
      for (const item of items) this.string(item);
    }
    this.long(0);
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The event as the server's ingest would normalize it, in the schema's field order. */
export function encodeBehavioralEvent(event: WireEvent, ingestedAtMs: number): Buffer {
  const w = new AvroWriter();
  const occurredAt = Date.parse(event.occurredAt);
  w.string(event.eventId);
  w.string(event.tenantId);
  w.string(event.agentId);
  w.string(event.sessionId);
  w.string(event.userId || 'system');
  w.string(event.sourceType);
  w.string(event.eventType);
  w.string(event.toolName);
  w.optionalString(event.content);
  w.string(JSON.stringify(event.metadata));
  w.strings(event.approvedScope);
  w.optionalString(event.enforcementMode);
  w.strings(event.sessionToolCalls);
  w.long(Number.isFinite(occurredAt) ? occurredAt : ingestedAtMs);
  w.long(ingestedAtMs);
  w.optionalString(undefined); // ttl
  w.optionalString(event.violationId);
  w.optionalString(event.purpose);
  w.optionalString(event.dataClassification);
  w.optionalString(undefined); // task_context_json
  w.optionalString(undefined); // endpoint_id
  w.optionalString(undefined); // hostname
  w.optionalString(text(event.metadata.enforcement_trace_id));
  for (let i = 0; i < 4; i++) w.long(0); // chain_index, hash, previous_hash, signature: the audit writer's
  return w.bytes();
}
