import { readdirSync, readFileSync } from 'node:fs';
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
  private readonly byFingerprint = new Map<string, { name: SchemaName; type: avro.Type }>();

  constructor(schemaDir = SCHEMA_DIR) {
    for (const file of readdirSync(schemaDir).filter((f) => f.endsWith('.avsc'))) {
      const type = avro.Type.forSchema(JSON.parse(readFileSync(`${schemaDir}/${file}`, 'utf8')));
      const fingerprint = type.fingerprint('sha256').toString('hex').slice(0, 16);
      const name = type.name as SchemaName;
      this.byName.set(name, { type, fingerprint });
      this.byFingerprint.set(fingerprint, { name, type });
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
      const value = known.type.fromBuffer(message.value) as RecordTypes[typeof known.name];
      return { ok: true, schema: known.name, value } as Decoded;
    } catch (error) {
      return { ok: false, reason: `undecodable ${known.name}: ${(error as Error).message}` };
    }
  }

  private schema(name: SchemaName): { type: avro.Type; fingerprint: string } {
    const found = this.byName.get(name);
    if (!found) throw new Error(`no Avro schema named ${name} in ${SCHEMA_DIR}`);
    return found;
  }
}
