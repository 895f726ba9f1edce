import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FORMATS, type FormatName, type FormatOptions } from './formats/formats.ts';
import { DEFAULT_LEEF_DELIMITER, LEEF_DELIMITERS } from './formats/leef.ts';
import { OCSF_VERSION, OCSF_VERSIONS } from './formats/ocsf.ts';
import { SEVERITIES } from './siem-event.ts';

/**
 * The SIEM sinks file (THOTH_SIEM_CONFIG, YAML or JSON): one entry per sink, each scoped to a tenant (or `*`),
 * with its transport, credentials and filters. Credentials may be written `env:VARIABLE` so the secret lives in
 * the environment, not in the file. Read once at start; an invalid file fails start naming the sink and the field.
 */
const id = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'letters, digits, _ and - only (at most 64)');
const port = z.number().int().min(1).max(65_535);
const path = z.string().min(1);

const filters = z
  .object({
    /** TOOL_CALL_PRE, TOOL_CALL_POST, TOOL_CALL_BLOCK, DECISION, APPROVAL, FINDING, … (absent: all). */
    event_types: z.array(z.string().min(1)).min(1).optional(),
    decisions: z
      .array(z.enum(['ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY', 'DEFER']))
      .min(1)
      .optional(),
    min_severity: z.enum(SEVERITIES).optional(),
  })
  .strict()
  .default({});

const delivery = {
  filters,
  format: z.enum(FORMATS).optional(),
  /** The OCSF version the `ocsf` format declares and is valid for. */
  ocsf_version: z.enum(OCSF_VERSIONS).default(OCSF_VERSION),
  /** The `leef` format's attribute delimiter (LEEF 2.0 declares it in its header). */
  leef_delimiter: z
    .string()
    .refine((d) => d.length === 1 && LEEF_DELIMITERS.includes(d), `one of ${LEEF_DELIMITERS}`)
    .default(DEFAULT_LEEF_DELIMITER),
  /** Events per delivery (one Kafka batch at most this big; one syslog connection / HEC request per batch). */
  batch_size: z.number().int().min(1).max(10_000).default(500),
  /** Backoff while the sink fails: doubles from `initial` up to `max`. */
  backoff_initial_ms: z.number().int().min(10).default(500),
  backoff_max_ms: z.number().int().min(100).default(30_000),
};

/** What every sink has: its id (its consumer group's suffix), its tenant (or `*`), delivery settings. */
const common = { id, tenant: z.string().min(1), ...delivery };

function sinkSchema(env: Record<string, string | undefined>) {
  // `env:NAME` → the variable's value; a missing variable is an error on this field.
  const secret = z
    .string()
    .min(1)
    .transform((value, ctx) => {
      if (!value.startsWith('env:')) return value;
      const name = value.slice(4);
      const resolved = env[name];
      if (!resolved) {
        ctx.addIssue({ code: 'custom', message: `environment variable ${name} is not set` });
        return z.NEVER;
      }
      return resolved;
    });
  const tlsFiles = {
    /** CA bundle the receiver's certificate must chain to (absent: the system's CAs). */
    ca_file: path.optional(),
    /** Client certificate and key, for receivers that require mutual TLS. */
    cert_file: path.optional(),
    key_file: path.optional(),
  };
  return z.discriminatedUnion('type', [
    z
      .object({
        ...common,
        type: z.literal('syslog'),
        host: z.string().min(1),
        port,
        /** RFC 5425 (TLS); false: plain TCP (RFC 6587 octet counting either way). */
        tls: z.boolean().default(true),
        ...tlsFiles,
        /** Name checked against the receiver's certificate (default: host). */
        server_name: z.string().min(1).optional(),
        /** RFC 5424 facility (default 13, log audit) and APP-NAME. */
        facility: z.number().int().min(0).max(23).default(13),
        app_name: z
          .string()
          .regex(/^[!-~]{1,48}$/, 'printable ASCII, no spaces, at most 48')
          .default('thoth'),
        hostname: z
          .string()
          .regex(/^[!-~]{1,255}$/, 'printable ASCII, no spaces')
          .default(hostname()),
        timeout_ms: z.number().int().min(100).default(10_000),
        /**
         * Largest syslog message, in octets: longer events are cut to fit, marked. Default 8096, the most a
         * stock rsyslog takes whole (its default "8k"; a longer frame arrives cut or split into two records).
         * RFC 5425 receivers must take 2048.
         */
        max_message_size: z.number().int().min(2_048).max(1_048_576).default(8_096),
      })
      .strict(),
    z
      .object({
        ...common,
        type: z.literal('hec'),
        /** Base URL of the collector, e.g. https://splunk.example:8088 */
        url: z.url(),
        token: secret,
        index: z.string().min(1).optional(),
        source: z.string().min(1).default('thoth'),
        sourcetype: z.string().min(1).optional(),
        host: z.string().min(1).default(hostname()),
        gzip: z.boolean().default(true),
        /** Indexer acknowledgement: a batch counts as delivered only once Splunk says it is indexed. */
        ack: z.boolean().default(false),
        ack_timeout_ms: z.number().int().min(100).default(60_000),
        ack_poll_ms: z.number().int().min(10).default(1_000),
        ca_file: path.optional(),
        timeout_ms: z.number().int().min(100).default(10_000),
      })
      .strict(),
    z
      .object({
        ...common,
        type: z.literal('webhook'),
        url: z.url(),
        /** HMAC-SHA256 key of the X-Thoth-Signature header (same scheme as approval webhooks). */
        secret: secret.refine((s) => s.length >= 16, 'at least 16 characters'),
        ca_file: path.optional(),
        timeout_ms: z.number().int().min(100).default(10_000),
      })
      .strict(),
    z
      .object({
        ...common,
        type: z.literal('file'),
        /** Directory of the NDJSON files; closed files are renamed from `.ndjson.part` to `.ndjson`. */
        dir: path,
        prefix: id.default('thoth'),
        max_bytes: z
          .number()
          .int()
          .min(1_024)
          .default(64 * 1024 * 1024),
        max_age_seconds: z.number().int().min(1).default(300),
      })
      .strict(),
  ]);
}

function fileSchema(env: Record<string, string | undefined>) {
  return z
    .object({ sinks: z.array(sinkSchema(env)) })
    .strict()
    .superRefine((file, ctx) => {
      const seen = new Set<string>();
      file.sinks.forEach((sink, i) => {
        if (seen.has(sink.id))
          ctx.addIssue({
            code: 'custom',
            path: ['sinks', i, 'id'],
            message: `duplicate sink id "${sink.id}"`,
          });
        seen.add(sink.id);
        if (sink.type === 'syslog' && Boolean(sink.cert_file) !== Boolean(sink.key_file))
          ctx.addIssue({
            code: 'custom',
            path: ['sinks', i, sink.cert_file ? 'key_file' : 'cert_file'],
            message: 'a client certificate needs both cert_file and key_file',
          });
        if (sink.backoff_max_ms < sink.backoff_initial_ms)
          ctx.addIssue({
            code: 'custom',
            path: ['sinks', i, 'backoff_max_ms'],
            message: 'must be at least backoff_initial_ms',
          });
      });
    });
}

export type SinkConfig = z.infer<ReturnType<typeof sinkSchema>>;
export type SinkType = SinkConfig['type'];

/** The format a sink sends when the file does not say. */
export const DEFAULT_FORMAT: Record<SinkType, FormatName> = {
  syslog: 'cef',
  hec: 'ocsf',
  webhook: 'ocsf',
  file: 'ocsf',
};

export function sinkFormat(sink: SinkConfig): FormatName {
  return sink.format ?? DEFAULT_FORMAT[sink.type];
}

export function sinkFormatOptions(sink: SinkConfig): FormatOptions {
  return { ocsfVersion: sink.ocsf_version, leefDelimiter: sink.leef_delimiter };
}

export class SinkConfigError extends Error {
  override name = 'SinkConfigError';
}

/** Validates an already-parsed sinks document; throws a SinkConfigError listing every bad field by path. */
export function parseSinkConfig(
  document: unknown,
  env: Record<string, string | undefined> = process.env,
): SinkConfig[] {
  const parsed = fileSchema(env).safeParse(document);
  if (parsed.success) return parsed.data.sinks;
  const lines = parsed.error.issues.map((i) => `  ${whereIn(document, i.path)}: ${i.message}`);
  throw new SinkConfigError(`THOTH_SIEM_CONFIG: invalid SIEM sinks file:\n${lines.join('\n')}`);
}

/** `sinks.1.port (sink "qradar")`: the path, and the sink's id when it has one, so a long file is easy to fix. */
function whereIn(document: unknown, path: readonly PropertyKey[]): string {
  const at = path.map(String).join('.') || '(file)';
  if (path[0] !== 'sinks' || typeof path[1] !== 'number') return at;
  const sinks = (document as { sinks?: unknown } | null)?.sinks;
  const id = Array.isArray(sinks) ? (sinks[path[1]] as { id?: unknown } | null)?.id : undefined;
  return typeof id === 'string' && id !== '' ? `${at} (sink "${id}")` : at;
}

/**
 * Reads a file a sink names (a CA bundle, a client certificate or key) at start, so a missing or unreadable one
 * fails start naming the sink and the field, not as a bare ENOENT at the first delivery.
 */
export function readSinkFile(
  sink: SinkConfig,
  field: 'ca_file' | 'cert_file' | 'key_file',
): Buffer | undefined {
  const path = (sink as Partial<Record<typeof field, string>>)[field];
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new SinkConfigError(`SIEM sink "${sink.id}": ${field} ${path} cannot be read (${reason})`);
  }
}

/** Reads a YAML or JSON sinks file (JSON is YAML too). */
export function loadSinkConfig(
  file: string,
  env: Record<string, string | undefined> = process.env,
): SinkConfig[] {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new SinkConfigError(`THOTH_SIEM_CONFIG: SIEM sinks file ${file}: ${(error as Error).message}`);
  }
  return parseSinkConfig(document, env);
}
