import type { RecordTypes, SchemaName } from '@thoth/contracts';
import { dlqTopic } from '@thoth/contracts';
import { redactedRecord } from '../record-redaction.ts';
import type { Redactor } from '../redaction.ts';
import { type AvroCodec, SCHEMA_HEADER } from './avro-codec.ts';
import type { Batch, Bus, IncomingMessage, Subscription } from './bus.ts';

/** A record, the message it came in, and its place in that message (0 but in a batch message). */
export type DecodedRecord = {
  [N in SchemaName]: { schema: N; value: RecordTypes[N]; message: IncomingMessage; index: number };
}[SchemaName];

export interface DeadLetter {
  message: IncomingMessage;
  reason: string;
}

/** A handler may hand back messages it refuses (bad content); they go to the DLQ, the rest commit. */
export type RecordBatchHandler = (
  records: DecodedRecord[],
  batch: Batch,
) => Promise<DeadLetter[] | undefined>;

export interface RecordSubscriptionOptions {
  bus: Bus;
  codec: AvroCodec;
  group: string;
  topics: string[];
  handler: RecordBatchHandler;
  fromBeginning?: boolean;
  maxBatchSize?: number;
  /** See SubscribeOptions.maxInFlightBatches. */
  maxInFlightBatches?: number;
  onDeadLetter?: (letter: DeadLetter) => void;
  /** Consumers that store or export: behavioral events the API did not redact are redacted before the handler. */
  redactor?: Redactor;
  /**
   * Only messages of these schemas reach the handler; the others are passed over undecoded (by the schema
   * header every message carries) and committed with the batch.
   */
  schemas?: readonly SchemaName[];
}

/**
 * Subscribes a group to Avro records: the handler gets every record of the batch's messages (a batch message,
 * `AvroCodec.encodeBatch`, holds many), each with the message it came in. A message that cannot be decoded, or
 * that the handler refuses, is published to the topic's DLQ twin with the reason and its origin in headers; it
 * never stalls the partition and never crashes the consumer. The DLQ publish happens before the batch commits,
 * so nothing is lost.
 */
export function subscribeRecords(options: RecordSubscriptionOptions): Promise<Subscription> {
  const { bus } = options;
  return bus.subscribe({
    group: options.group,
    topics: options.topics,
    fromBeginning: options.fromBeginning,
    maxBatchSize: options.maxBatchSize,
    maxInFlightBatches: options.maxInFlightBatches,
    handler: async (batch) => {
      const { dead, handled } = handOver(options, batch);
      dead.push(...onePerMessage((await handled) ?? []));
      if (dead.length > 0) {
        await bus.publish(
          dlqTopic(batch.topic),
          dead.map(({ message, reason }) => ({
            key: message.key,
            value: message.value,
            headers: {
              ...message.headers,
              'thoth-dlq-reason': reason.slice(0, 1_000),
              'thoth-dlq-topic': message.topic,
              'thoth-dlq-partition': String(message.partition),
              'thoth-dlq-offset': message.offset,
              'thoth-dlq-group': options.group,
              'thoth-dlq-at': new Date().toISOString(),
            },
          })),
        );
        for (const letter of dead) options.onDeadLetter?.(letter);
      }
    },
  });
}

/**
 * Decodes a batch and hands its records to the handler. A function of its own, so that the decoded records are
 * the handler's alone: held in the caller's frame across the `await`, every record of the batch would live until
 * the batch is handled (for the audit writer, until its flush is stored), however early the handler is done with
 * them.
 */
function handOver(
  options: RecordSubscriptionOptions,
  batch: Batch,
): { dead: DeadLetter[]; handled: Promise<DeadLetter[] | undefined> } {
  const records: DecodedRecord[] = [];
  const dead: DeadLetter[] = [];
  for (const message of batch.messages) {
    if (options.schemas && !options.schemas.includes(message.headers[SCHEMA_HEADER] as SchemaName)) continue;
    const decoded = decodeRecords(options.codec, message, options.redactor);
    if (decoded.ok) records.push(...decoded.records);
    else dead.push({ message, reason: decoded.reason });
  }
  return { dead, handled: records.length > 0 ? options.handler(records, batch) : Promise.resolve([]) };
}

/**
 * Every record of a message, each with the message and its place in it; behavioral events the API did not
 * redact are redacted when a `redactor` is given (record-redaction.ts).
 */
export function decodeRecords(
  codec: AvroCodec,
  message: IncomingMessage,
  redactor?: Redactor,
): { ok: true; records: DecodedRecord[] } | { ok: false; reason: string } {
  const decoded = codec.decodeAll(message);
  if (!decoded.ok) return decoded;
  return {
    ok: true,
    records: decoded.records.map(({ schema, value }, index) => {
      const record = { schema, value, message, index } as DecodedRecord;
      return redactor ? redactedRecord(record, redactor) : record;
    }),
  };
}

/**
 * The records of one batch message share it: refusing one of them dead-letters the message once (with the
 * first reason), and the DLQ holds the whole message. Replaying it is safe: consumers are idempotent.
 */
function onePerMessage(letters: DeadLetter[]): DeadLetter[] {
  const seen = new Set<IncomingMessage>();
  return letters.filter(({ message }) => !seen.has(message) && Boolean(seen.add(message)));
}
