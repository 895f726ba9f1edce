import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RecordTypes, SchemaName } from '@thoth/contracts';
import avro from 'avsc';
import type { Headers, IncomingMessage, OutgoingMessage } from './bus.ts';

export const SCHEMA_HEADER = 'thoth-schema';
export const FINGERPRINT_HEADER = 'thoth-schema-fingerprint';
/** On a batch message only: how many records its value holds (an Avro array of the named schema). */
export const RECORD_COUNT_HEADER = 'thoth-record-count';
/** A batch message stays below this, far from Kafka's default 1 MB message limit. */
export const MAX_BATCH_MESSAGE_BYTES = 512 * 1024;

const SCHEMA_DIR = fileURLToPath(new URL('../../../../schemas/avro/', import.meta.url));

export type DecodedValue = { [N in SchemaName]: { schema: N; value: RecordTypes[N] } }[SchemaName];
export type Decoded = ({ ok: true } & DecodedValue) | { ok: false; reason: string };
export type DecodedMessage = { ok: true; records: DecodedValue[] } | { ok: false; reason: string };

interface KnownSchema {
  name: SchemaName;
  type: avro.Type;
  resolver?: ReturnType<avro.Type['createResolver']>;
  /** The Avro array of this schema, for batch messages (built on first use). */
  array?: { type: avro.Type; resolver?: ReturnType<avro.Type['createResolver']> };
  writer: avro.Type;
}

/**
 * Avro codec for every record on the bus. Each message names its schema and carries the schema's SHA-256
 * fingerprint (first 16 hex digits) in headers, so a consumer can tell the record types on one topic apart
 * and refuse bytes written with a schema it does not know instead of misreading them.
 */
export class AvroCodec {
  private readonly byName = new Map<string, { type: avro.Type; fingerprint: string }>();
  private readonly byFingerprint = new Map<string, KnownSchema>();

  constructor(schemaDir = SCHEMA_DIR) {
    for (const { type, fingerprint } of readSchemas(schemaDir)) {
      const name = type.name as SchemaName;
      this.byName.set(name, { type, fingerprint });
      this.byFingerprint.set(fingerprint, { name, type, writer: type });
    }
    // Records written with an earlier version of a schema (schemas/avro/previous/) stay readable: Avro schema
    // resolution turns them into the current shape (new fields take their defaults).
    for (const { type: writer, fingerprint, file } of readSchemas(join(schemaDir, 'previous'))) {
      const current = this.byName.get(writer.name as SchemaName);
      if (!current) throw new Error(`${file}: no current schema named ${writer.name}`);
      this.byFingerprint.set(fingerprint, {
        name: writer.name as SchemaName,
        type: current.type,
        resolver: current.type.createResolver(writer),
        writer,
      });
    }
  }

  fingerprint(name: SchemaName): string {
    return this.schema(name).fingerprint;
  }

  encode<N extends SchemaName>(
    name: N,
    key: string,
    value: RecordTypes[N],
    headers: Headers = {},
  ): OutgoingMessage {
    const { type, fingerprint } = this.schema(name);
    return {
      key,
      value: type.toBuffer(value),
      headers: { ...headers, [SCHEMA_HEADER]: name, [FINGERPRINT_HEADER]: fingerprint },
    };
  }

  /**
   * Many records of one schema and one key as few messages: each value is the Avro array of up to
   * `maxBytes` of them, with RECORD_COUNT_HEADER. One message instead of one per record is what makes batch
   * ingest cheap: the Kafka client's work is per message (encoding, CRC, partitioning), not per byte. A record
   * larger than `maxBytes` travels alone in its own batch message.
   */
  encodeBatch<N extends SchemaName>(
    name: N,
    key: string,
    values: readonly RecordTypes[N][],
    headers: Headers = {},
    maxBytes = MAX_BATCH_MESSAGE_BYTES,
  ): OutgoingMessage[] {
    const { type, fingerprint } = this.schema(name);
    const messages: OutgoingMessage[] = [];
    // The message's records are encoded one after the other into the scratch buffer, [0, bytes), and copied
    // out once per message. avsc's toBuffer would encode a record twice when it is over 1 KB (its shared buffer's
    // size: a decision event is about 2 KB), and allocate, zero and copy each record on its own.
    let count = 0;
    let bytes = 0;
    const flush = () => {
      if (count === 0) return;
      messages.push({
        key,
        value: avroArray(scratch, count, bytes),
        headers: {
          ...headers,
          [SCHEMA_HEADER]: name,
          [FINGERPRINT_HEADER]: fingerprint,
          [RECORD_COUNT_HEADER]: String(count),
        },
      });
      count = 0;
      bytes = 0;
    };
    for (const value of values) {
      const end = encodeInto(type, value, bytes);
      if (count > 0 && end > maxBytes) {
        // Over the limit: the record opens the next message.
        const start = bytes;
        flush();
        scratch.copyWithin(0, start, end);
        bytes = end - start;
      } else bytes = end;
      count++;
    }
    flush();
    // A record of megabytes grew it: the next batches do not need that much kept.
    if (scratch.length > SCRATCH_KEPT_BYTES) scratch = Buffer.allocUnsafe(SCRATCH_START_BYTES);
    return messages;
  }

  /** A message of one record (what `encode` writes). A batch message is refused: read it with `decodeAll`. */
  decode(message: Pick<IncomingMessage, 'value' | 'headers'>): Decoded {
    if (message.headers[RECORD_COUNT_HEADER] !== undefined)
      return {
        ok: false,
        reason: `a batch message (${RECORD_COUNT_HEADER} header) where one record was expected`,
      };
    const decoded = this.decodeAll(message);
    if (!decoded.ok) return decoded;
    return { ok: true, ...decoded.records[0]! };
  }

  /** Every record of a message: the one record `encode` wrote, or the records of an `encodeBatch` message. */
  decodeAll(message: Pick<IncomingMessage, 'value' | 'headers'>): DecodedMessage {
    const fingerprint = message.headers[FINGERPRINT_HEADER];
    if (!fingerprint) return { ok: false, reason: `missing ${FINGERPRINT_HEADER} header` };
    const known = this.byFingerprint.get(fingerprint);
    if (!known)
      return {
        ok: false,
        reason: `unknown schema fingerprint ${fingerprint} (${message.headers[SCHEMA_HEADER] ?? 'no schema name'})`,
      };
    if (message.value === null)
      return { ok: false, reason: 'null value (tombstone) where a record was expected' };
    const count = message.headers[RECORD_COUNT_HEADER];
    try {
      if (count === undefined) {
        const value = known.type.fromBuffer(message.value, known.resolver) as RecordTypes[typeof known.name];
        return { ok: true, records: [{ schema: known.name, value } as DecodedValue] };
      }
      const array = arrayOf(known);
      const values = array.type.fromBuffer(message.value, array.resolver) as Array<
        RecordTypes[typeof known.name]
      >;
      if (String(values.length) !== count)
        return {
          ok: false,
          reason: `batch of ${known.name}: ${RECORD_COUNT_HEADER} says ${count}, it holds ${values.length}`,
        };
      return { ok: true, records: values.map((value) => ({ schema: known.name, value }) as DecodedValue) };
    } catch (error) {
      return { ok: false, reason: `undecodable ${known.name}: ${(error as Error).message}` };
    }
  }

  /** The 16-hex-digit fingerprint of every schema this codec reads, current and previous versions. */
  readableFingerprints(): string[] {
    return [...this.byFingerprint.keys()];
  }

  private schema(name: SchemaName): { type: avro.Type; fingerprint: string } {
    const found = this.byName.get(name);
    if (!found) throw new Error(`no Avro schema named ${name} in ${SCHEMA_DIR}`);
    return found;
  }
}

function arrayOf(known: KnownSchema): NonNullable<KnownSchema['array']> {
  if (!known.array) {
    const type = avro.Type.forSchema({ type: 'array', items: known.type });
    known.array = known.resolver
      ? { type, resolver: type.createResolver(avro.Type.forSchema({ type: 'array', items: known.writer })) }
      : { type };
  }
  return known.array;
}

/** Where encodeBatch encodes a message's records (grown when a message needs more; one per thread). */
const SCRATCH_START_BYTES = 64 * 1024;
/** Past this (a batch message is at most 512 KB, plus a record larger than that), it starts over after the call. */
const SCRATCH_KEPT_BYTES = 2 * 1024 * 1024;
let scratch = Buffer.allocUnsafe(SCRATCH_START_BYTES);

/** Encodes `value` into the scratch buffer at `at` (growing it as needed) and returns where it ends. */
function encodeInto(type: avro.Type, value: unknown, at: number): number {
  for (;;) {
    const end = type.encode(value, scratch, at);
    // avsc answers a negative number when the buffer is too small: minus the bytes it lacked.
    if (end >= 0) return end;
    const grown = Buffer.allocUnsafe(Math.max(2 * scratch.length, scratch.length - end));
    scratch.copy(grown, 0, 0, at);
    scratch = grown;
  }
}

/**
 * The Avro binary encoding of an array of `count` items already encoded in `items[0, bytes)`: one block (count,
 * items), then 0.
 */
function avroArray(items: Buffer, count: number, bytes: number): Buffer {
  const head = AVRO_LONG.toBuffer(count);
  const out = Buffer.allocUnsafe(head.length + bytes + 1);
  head.copy(out, 0);
  items.copy(out, head.length, 0, bytes);
  out[head.length + bytes] = END_OF_ARRAY;
  return out;
}

/** A block's count is an Avro long (zigzag varint); a count of 0 (the byte 0) ends the array. */
const AVRO_LONG = avro.Type.forSchema('long');
const END_OF_ARRAY = 0;

/** The schema's SHA-256 Avro fingerprint (of its canonical form), first 16 hex digits: what messages carry. */
export function schemaFingerprint(type: avro.Type): string {
  return type.fingerprint('sha256').toString('hex').slice(0, 16);
}

function readSchemas(dir: string): Array<{ type: avro.Type; fingerprint: string; file: string }> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .map((file) => {
      const type = avro.Type.forSchema(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      return { type, fingerprint: schemaFingerprint(type), file };
    });
}
