import { z } from 'zod';
import { customPatternsProblem, DEFAULT_REDACTION_GROUPS, REDACTION_GROUPS } from './redaction.ts';

/**
 * Every environment variable Thoth reads, in one schema. Read once at start (`loadConfig`); an invalid value
 * fails start with a message naming the variable. The README's configuration table mirrors this file.
 */
const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const port = z.coerce.number().int().min(0).max(65_535);

export const configSchema = z
  .object({
    THOTH_MODE: z.enum(['embedded', 'distributed']).default('embedded'),
    /** Which services this process runs: `all`, or a comma list of `api`, `audit-writer`, `approval-notifier`,
     * `siem-export`, `baselines`. */
    THOTH_SERVICES: csv.default(['all']),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: port.default(8080),
    /** This process's own `GET /metrics` (Prometheus text) and `GET /healthz` listener on HOST, apart from the
     * API's port (docs/metrics.md); 0 = any free port (logged). */
    THOTH_METRICS_PORT: port.default(9464),
    /**
     * Where the metrics listener binds. Apart from HOST: exposing the API (HOST=0.0.0.0) must not also publish
     * /metrics (tenant ids, pending approvals) to whoever reaches the API; a scraper elsewhere sets it.
     */
    THOTH_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    THOTH_DATA_DIR: z.string().min(1).default('./.thoth'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    KAFKA_BROKERS: csv.optional(),
    KAFKA_CLIENT_ID: z.string().min(1).default('thoth'),
    /** Prefix of every topic name (`<prefix>.events`, …): lets several deployments or tests share a broker. */
    THOTH_TOPIC_PREFIX: z
      .string()
      .regex(/^[a-zA-Z0-9._-]+$/, 'letters, digits, dot, underscore and dash only')
      .default('thoth'),
    THOTH_TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(1024).default(6),
    KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(7).default(1),
    /** How long the broker waits before it gives a silent consumer's partitions to another member: after a
     * crash, a restarted consumer resumes once this passed. Lower means faster failover, more false alarms. */
    KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000).max(300_000).default(30_000),

    CLICKHOUSE_URL: z.url().optional(),
    CLICKHOUSE_USER: z.string().default('default'),
    CLICKHOUSE_PASSWORD: z.string().default(''),
    CLICKHOUSE_DATABASE: z
      .string()
      .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'a plain identifier')
      .default('thoth'),
    /** How often the audit writer signs each tenant's evidence-chain heads. */
    THOTH_CHECKPOINT_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(60),
    /** The audit writer stores one insert per this many rows, or per this many ms, whichever comes first. */
    THOTH_AUDIT_FLUSH_ROWS: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
    THOTH_AUDIT_FLUSH_MS: z.coerce.number().int().min(1).max(60_000).default(20),
    /** …but under a steady stream at most one insert cut by time per this many ms (each insert costs chDB ~10 ms). */
    THOTH_AUDIT_FLUSH_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(250),
    /**
     * Nice value (0–19) of the consumers' thread in a process that also serves the API (with THOTH_API_OWN_CPU, of
     * chDB's and libuv's threads too): under contention the kernel runs the enforce path first. 0: the same.
     */
    THOTH_CONSUMERS_NICE: z.coerce.number().int().min(0).max(19).default(5),
    /**
     * Embedded (the API and the consumers in one process, the in-process bus): the API's thread keeps one CPU and
     * every other thread keeps off it while the consumers keep up (Linux, two CPUs or more; util-linux's
     * `taskset`): api-cpu.ts, docs/performance.md.
     */
    THOTH_API_OWN_CPU: bool.default(true),
    /** Retention of the audit trail, applied as a ClickHouse TTL. */
    THOTH_EVENTS_TTL_DAYS: z.coerce.number().int().min(1).default(365),

    THOTH_ADMIN_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
    THOTH_POLICY_FILE: z.string().min(1).optional(),
    THOTH_HOLD_TTL_SECONDS: z.coerce.number().int().min(1).default(900),
    /** Requests per second allowed per API key (token bucket; burst = 2 × rate). */
    THOTH_RATE_LIMIT_PER_KEY: z.coerce.number().int().min(1).default(2000),
    /** Outbound webhook for step-up approvals (new pending approval, each resolution). */
    THOTH_WEBHOOK_URL: z.url().optional(),
    /** HMAC-SHA256 key of the X-Thoth-Signature header. */
    THOTH_WEBHOOK_SECRET: z.string().min(16, 'at least 16 characters').optional(),
    THOTH_WEBHOOK_FORMAT: z.enum(['json', 'slack']).default('json'),
    THOTH_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
    /**
     * Proxies whose X-Forwarded-For/-Proto the API believes: `true` (any: only when the API port is reachable
     * through the proxy alone), or a comma list of addresses and CIDR ranges. Default: none.
     */
    THOTH_TRUST_PROXY: z
      .string()
      .transform((v): boolean | string[] =>
        v === 'true'
          ? true
          : v === 'false'
            ? false
            : v
                .split(',')
                .map((x) => x.trim())
                .filter(Boolean),
      )
      .optional(),
    THOTH_BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(5 * 1024 * 1024),
    /**
     * How decision receipts are signed (docs/receipts.md): `merkle`, one signature per tenant per turn of the
     * event loop over a Merkle tree of its decisions, or `per-decision`, one signature each.
     */
    THOTH_RECEIPTS: z.enum(['merkle', 'per-decision']).default('merkle'),
    /**
     * Share each session's risk between API replicas through the sessions topic (progressive escalation then
     * counts a session's calls whichever replica decided them). Default: on in distributed mode.
     */
    THOTH_SHARED_SESSIONS: bool.optional(),
    /** Print the generated admin token at start in embedded mode (never in distributed mode). */
    THOTH_PRINT_ADMIN_TOKEN: bool.default(true),

    // ── Control plane and security: per-tenant rate limits, key usage, secret redaction (docs/control-plane.md)
    /** Requests per second allowed per tenant, all its keys together (a tenant record may override it). */
    THOTH_RATE_LIMIT_PER_TENANT: z.coerce.number().int().min(1).default(10_000),
    /** How often each API replica publishes the last-used time of the keys it saw. */
    THOTH_KEY_USAGE_FLUSH_SECONDS: z.coerce.number().int().min(1).max(3_600).default(30),
    /** Redaction pattern groups applied before events are stored or exported; `none` turns redaction off. */
    THOTH_REDACT_PATTERNS: csv
      .default([...DEFAULT_REDACTION_GROUPS])
      .transform((groups) => (groups.includes('none') ? [] : groups))
      .pipe(z.array(z.enum(REDACTION_GROUPS))),
    /** Extra redaction regexes, a JSON array of strings, e.g. ["ACME-[0-9]{6}"]. */
    THOTH_REDACT_CUSTOM_PATTERNS: z
      .string()
      .transform((text, ctx) => {
        try {
          const list: unknown = JSON.parse(text);
          if (Array.isArray(list) && list.every((x) => typeof x === 'string')) {
            const problem = customPatternsProblem(list);
            if (problem === undefined) return list as string[];
            ctx.addIssue({ code: 'custom', message: problem });
            return z.NEVER;
          }
        } catch {}
        ctx.addIssue({ code: 'custom', message: 'a JSON array of regular-expression strings' });
        return z.NEVER;
      })
      .default([]),
    /** Most decision events one policy dry run replays (on the API process: ~20 µs each, so keep it modest). */
    THOTH_DRY_RUN_MAX_EVENTS: z.coerce.number().int().min(1).max(10_000_000).default(20_000),

    /** YAML or JSON file configuring single sign-on (OpenID Connect) for the console and CLI (docs/sso.md). */
    THOTH_SSO_CONFIG: z.string().min(1).optional(),
    /** Thoth's public base URL (e.g. https://thoth.example.com): links to the console in notifications. */
    THOTH_PUBLIC_URL: z.url().optional(),
    // --- SIEM exports (services/siem-export, docs/siem.md) ---
    /** YAML or JSON file of SIEM sinks; the siem-export service runs under `all` only when it is set. */
    THOTH_SIEM_CONFIG: z.string().min(1).optional(),
    /** Replaced by THOTH_METRICS_PORT: refused rather than ignored, so a deployment that set it learns where its
     * metrics moved instead of finding them on another port. */
    THOTH_SIEM_METRICS_PORT: z
      .string()
      .refine(() => false, 'renamed: set THOTH_METRICS_PORT (every process serves its metrics there)')
      .optional(),

    // --- Behavioral baselines (services/baselines, docs/baselines.md) ---
    /** An agent's learning period ends once it made this many calls AND this many seconds passed since its
     * first call; findings of the learning period are recorded but never escalate. */
    THOTH_BASELINE_LEARNING_CALLS: z.coerce.number().int().min(0).default(200),
    THOTH_BASELINE_LEARNING_SECONDS: z.coerce.number().int().min(0).default(0),
    /** Samples a profile (a tool's calls, an argument's values, a tool's transitions) needs before its
     * detectors speak. */
    THOTH_BASELINE_MIN_SAMPLES: z.coerce.number().int().min(1).default(30),
    /** The call-rate detector counts calls per window of this length. */
    THOTH_BASELINE_RATE_WINDOW_SECONDS: z.coerce.number().min(0.1).max(3_600).default(10),
    /** Accumulated anomaly score (0-100, decaying) at which the agent's directive becomes warn/step_up/block. */
    THOTH_BASELINE_WARN_SCORE: z.coerce.number().int().min(1).max(100).default(20),
    THOTH_BASELINE_STEP_UP_SCORE: z.coerce.number().int().min(1).max(100).default(50),
    THOTH_BASELINE_BLOCK_SCORE: z.coerce.number().int().min(1).max(100).default(80),
    /** Half-life of the accumulated anomaly score: a quiet agent de-escalates on its own. */
    THOTH_BASELINE_DECAY_HALF_LIFE_SECONDS: z.coerce.number().int().min(1).default(600),
    /** One detector reports one subject (a tool, an argument, an hour) at most once per this many seconds,
     * unless it got stronger. */
    THOTH_BASELINE_FINDING_COOLDOWN_SECONDS: z.coerce.number().int().min(0).default(60),
    /** Time zone of the hour-of-day profile (IANA name). */
    THOTH_BASELINE_TIMEZONE: z
      .string()
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'an IANA time zone, e.g. UTC or Europe/Paris')
      .default('UTC'),
    // --- end behavioral baselines ---
  })
  .superRefine((c, ctx) => {
    if (c.THOTH_WEBHOOK_URL && !c.THOTH_WEBHOOK_SECRET)
      ctx.addIssue({
        code: 'custom',
        path: ['THOTH_WEBHOOK_SECRET'],
        message: 'required with THOTH_WEBHOOK_URL',
      });
    if (
      !(
        c.THOTH_BASELINE_WARN_SCORE < c.THOTH_BASELINE_STEP_UP_SCORE &&
        c.THOTH_BASELINE_STEP_UP_SCORE < c.THOTH_BASELINE_BLOCK_SCORE
      )
    )
      ctx.addIssue({
        code: 'custom',
        path: ['THOTH_BASELINE_STEP_UP_SCORE'],
        message: 'baseline scores must rise: warn < step_up < block',
      });
    if (c.THOTH_MODE !== 'distributed') {
      // One process has nobody to share with, and the in-process bus keeps a topic's whole log.
      if (c.THOTH_SHARED_SESSIONS)
        ctx.addIssue({
          code: 'custom',
          path: ['THOTH_SHARED_SESSIONS'],
          message: 'only in distributed mode (API replicas share session risk through Kafka)',
        });
      return;
    }
    if (!c.KAFKA_BROKERS?.length)
      ctx.addIssue({
        code: 'custom',
        path: ['KAFKA_BROKERS'],
        message: 'required when THOTH_MODE=distributed',
      });
    if (!c.THOTH_ADMIN_TOKEN)
      ctx.addIssue({
        code: 'custom',
        path: ['THOTH_ADMIN_TOKEN'],
        message: 'required when THOTH_MODE=distributed (replicas must share it)',
      });
  });

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws a ConfigError listing every invalid variable by name. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "not set", as in most shells' `VAR= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(present);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '');
    return `  ${issue.path.join('.') || '(config)'}: ${expectedForm(issue, name)}${receivedPart(name, present[name])}`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

/** Variables whose value must never be echoed back in an error. */
const SECRET_VARIABLES = new Set(['THOTH_ADMIN_TOKEN', 'CLICKHOUSE_PASSWORD', 'THOTH_WEBHOOK_SECRET']);

function receivedPart(name: string, value: string | undefined): string {
  if (value === undefined) return '';
  if (SECRET_VARIABLES.has(name)) return ' (value not shown: it is a secret)';
  return ` (got "${value.length > 80 ? `${value.slice(0, 80)}…` : value}")`;
}

/**
 * The expected form in words: zod's own messages ("expected number, received NaN") name neither the form a
 * person should write nor the range, so the common cases are spelled out here.
 */
function expectedForm(issue: z.core.$ZodIssue, name: string): string {
  const isPort = name === 'PORT' || name.endsWith('_PORT');
  if (isPort && issue.code !== 'custom') return 'expected a port number from 0 to 65535';
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'number' || issue.expected === 'int') return 'expected a whole number';
      return `expected ${issue.expected}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'too_small':
      if (issue.origin === 'number') return `expected a number ≥ ${String(issue.minimum)}`;
      if (issue.origin === 'string') return issue.message;
      return issue.message;
    case 'too_big':
      if (issue.origin === 'number') return `expected a number ≤ ${String(issue.maximum)}`;
      return issue.message;
    case 'invalid_format':
      if (issue.format === 'url') return 'expected a URL, e.g. http://127.0.0.1:8123';
      return `expected ${issue.message}`;
    default:
      return issue.message;
  }
}
