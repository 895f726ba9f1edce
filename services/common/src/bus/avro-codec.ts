import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import type { RecordTypes, SchemaName } from '../records.ts';
import type { Headers, IncomingMessage, OutgoingMessage } from './bus.ts';

export const SCHEMA_HEADER = 'thoth-schema';
export const FINGERPRINT_HEADER = 'thoth-schema-fingerprint';

const SCHEMA_DIR = fileURLToPath(new URL('../../../../schemas/avro/', import.meta.url));

export type Decoded =
  | { [N in SchemaName]: { ok: true; schema: N; value: RecordTypes[N] } }[SchemaName]
  | { ok: false; reason: string };

/**
 * Avro codec for every record on the bus. Each message names its schema and carries the schema's SHA-256
 * fingerprint (first 16 hex digits) in headers, so a consumer can tell the record types on one topic apart
 * and refuse bytes written with a schema it does not know instead of misreading them.
 */
export class AvroCodec {
  private readonly byName = new Map<string, { type: avro.Type; fingerprint: string }>();
  private readonly byFingerprint = new Map<
    string,
    { name: SchemaName; type: avro.Type; resolver?: ReturnType<avro.Type['createResolver']> }
  >();

  constructor(schemaDir = SCHEMA_DIR) {
    for (const { type, fingerprint } of readSchemas(schemaDir)) {
      const name = type.name as SchemaName;
      this.byName.set(name, { type, fingerprint });
      this.byFingerprint.set(fingerprint, { name, type });
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

  decode(message: Pick<IncomingMessage, 'value' | 'headers'>): Decoded {
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
    try {
      const value = known.type.fromBuffer(message.value, known.resolver) as RecordTypes[typeof known.name];
      return { ok: true, schema: known.name, value } as Decoded;
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
