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

/**
 * A handler that iterates the batch's records, each decoded when it is reached (see BatchRecords). It iterates
 * them all, or throws: a batch whose records were not all reached fails.
 */
export type RecordStreamHandler = (
  records: Iterable<DecodedRecord>,
  batch: Batch,
) => Promise<DeadLetter[] | undefined>;

interface RecordSubscriptionBase {
  bus: Bus;
  codec: AvroCodec;
  group: string;
  topics: string[];
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

export interface RecordSubscriptionOptions extends RecordSubscriptionBase {
  handler: RecordBatchHandler;
}

export interface RecordStreamOptions extends RecordSubscriptionBase {
  handler: RecordStreamHandler;
}

/**
 * Subscribes a group to Avro records: the handler gets every record of the batch's messages (a batch message,
 * `AvroCodec.encodeBatch`, holds many), each with the message it came in. A message that cannot be decoded, or
 * that the handler refuses, is published to the topic's DLQ twin with the reason and its origin in headers; it
 * never stalls the partition and never crashes the consumer. The DLQ publish happens before the batch commits,
 * so nothing is lost.
 */
export function subscribeRecords(options: RecordSubscriptionOptions): Promise<Subscription> {
  return subscribeRecordStream({
    ...options,
    handler: (records, batch) => {
      const all = [...records];
      return all.length > 0 ? options.handler(all, batch) : Promise.resolve(undefined);
    },
  });
}

/**
 * `subscribeRecords` for a handler that is done with each record as soon as it reached it (the audit writer
 * encodes it into its flush): the records are decoded a message at a time as the handler iterates them, so at
 * most one message's records are alive at once instead of the batch's thousands, which a garbage collection
 * in the middle of the batch would otherwise copy.
 */
export function subscribeRecordStream(options: RecordStreamOptions): Promise<Subscription> {
  const { bus } = options;
  return bus.subscribe({
    group: options.group,
    topics: options.topics,
    fromBeginning: options.fromBeginning,
    maxBatchSize: options.maxBatchSize,
    maxInFlightBatches: options.maxInFlightBatches,
    handler: async (batch) => {
      const records = new BatchRecords(options, batch);
      const refused = await options.handler(records, batch);
      if (!records.done)
        throw new Error(`the handler of group ${options.group} left records of the batch unread`);
      const dead = [...records.dead, ...onePerMessage(refused ?? [])];
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
 * A batch's records, decoded a message at a time as they are iterated (once). The messages that cannot be
 * decoded are noted in `dead`. Holds no decoded record itself: what the handler lets go of is garbage at once.
 */
class BatchRecords implements Iterable<DecodedRecord> {
  readonly dead: DeadLetter[] = [];
  /** Every message was reached. */
  done = false;
  private started = false;

  constructor(
    private readonly options: RecordSubscriptionBase,
    private readonly batch: Batch,
  ) {}

  *[Symbol.iterator](): Iterator<DecodedRecord> {
    if (this.started) throw new Error("a batch's records are iterated once");
    this.started = true;
    const { codec, redactor, schemas } = this.options;
    for (const message of this.batch.messages) {
      if (schemas && !schemas.includes(message.headers[SCHEMA_HEADER] as SchemaName)) continue;
      const decoded = decodeRecords(codec, message, redactor);
      if (decoded.ok) yield* decoded.records;
      else this.dead.push({ message, reason: decoded.reason });
    }
    this.done = true;
  }
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
