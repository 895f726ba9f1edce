import { randomUUID } from 'node:crypto';
import type { ReceiptVerificationMode } from './receipts.ts';

export type EnforcementMode = 'observe' | 'progressive' | 'step_up' | 'block';
const ENFORCEMENT_MODES: readonly EnforcementMode[] = ['observe', 'progressive', 'step_up', 'block'];
const RECEIPT_MODES: readonly ReceiptVerificationMode[] = ['off', 'warn', 'enforce'];

/** Where the SDK's warnings go (default: `console.warn`). */
export interface ThothLogger {
  warn(message: string): void;
}

export interface KafkaTelemetryOptions {
  brokers: string[];
  /** Topic the events are produced to: the server's events topic (`<THOTH_TOPIC_PREFIX>.events`); Avro, keyed `<tenant>/<agent>`. */
  topic: string;
  clientId?: string;
  /** Passed to `new Kafka(...)` as is (ssl, sasl, connectionTimeout, …). */
  kafkaConfig?: Record<string, unknown>;
}

export interface TelemetryOptions {
  /** `http` (default): POST /v1/events/batch. `kafka`: produce with kafkajs (an optional peer dependency). */
  transport?: 'http' | 'kafka';
  /** Where the `http` transport sends events when ingest is not the enforcer's URL. Default: `apiUrl`. */
  apiUrl?: string;
  kafka?: KafkaTelemetryOptions;
  /** Events kept while the sink is slow or down; beyond it the oldest are dropped and counted. */
  maxQueueSize?: number;
  batchSize?: number;
  /** How long an event may wait for companions before its batch is sent. */
  flushIntervalMs?: number;
}

export interface ThothOptions {
  agentId: string;
  tenantId: string;
  /** Tools the agent is approved to use; an empty list leaves scope unchecked. */
  approvedScope?: string[];
  /** Default: `THOTH_API_URL`. */
  apiUrl?: string | undefined;
  /** Default: `THOTH_API_KEY`. */
  apiKey?: string | undefined;
  userId?: string;
  enforcement?: EnforcementMode;
  /** Default: a new random id per instrumented agent (per `wrapTool` call). */
  sessionId?: string;
  /** Default true: when the enforcer cannot answer, the tool runs (a 401/403 always blocks). */
  failOpen?: boolean;
  /** Deadline of one enforce request. Default 5,000 ms. */
  timeoutMs?: number;
  /** Longest wait for a human approval. Default: the hold's own `step_up_timeout_seconds`, else 15 min. */
  stepUpTimeoutMs?: number;
  /** Default 5,000 ms. */
  stepUpPollIntervalMs?: number;
  purpose?: string;
  dataClassification?: string;
  environment?: string;
  /** Sent as `model_provider` with every enforce request. */
  modelProvider?: string;
  /** `false` turns behavioral events off. */
  telemetry?: TelemetryOptions | false;
  logger?: ThothLogger;
  /**
   * Verify the receipt of every enforce answer (docs/receipts.md) with the keys of `GET /v1/keys/receipt`.
   * `off` (default); `warn`: log a failed verification and act on the answer; `enforce`: a failed verification
   * blocks the call (code `receipt_invalid`, whatever `failOpen` says).
   */
  verifyReceipts?: ReceiptVerificationMode;
}

export interface ResolvedTelemetry {
  transport: 'http' | 'kafka';
  apiUrl: URL | undefined;
  kafka: KafkaTelemetryOptions | undefined;
  maxQueueSize: number;
  batchSize: number;
  flushIntervalMs: number;
}

export interface ThothConfig {
  agentId: string;
  tenantId: string;
  approvedScope: string[];
  apiUrl: URL;
  apiKey: string;
  userId: string;
  enforcement: EnforcementMode;
  sessionId: string;
  failOpen: boolean;
  timeoutMs: number;
  stepUpTimeoutMs: number | undefined;
  stepUpPollIntervalMs: number;
  purpose: string | undefined;
  dataClassification: string | undefined;
  environment: string;
  modelProvider: string | undefined;
  telemetry: ResolvedTelemetry | false;
  logger: ThothLogger;
  verifyReceipts: ReceiptVerificationMode;
}

/** A mistake in the options, raised when instrumenting — never later, inside a tool call. */
export class ThothConfigError extends Error {
  override readonly name = 'ThothConfigError';
}

const consoleLogger: ThothLogger = { warn: (message) => console.warn(message) };

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new ThothConfigError(`${name} must be a positive number`);
  return value;
}

/** Options plus environment → one validated config. Pure apart from the random default session id. */
export function resolveConfig(
  options: ThothOptions,
  env: Record<string, string | undefined> = process.env,
): ThothConfig {
  const apiUrlText = options.apiUrl || env.THOTH_API_URL;
  if (!apiUrlText)
    throw new ThothConfigError(
      'Thoth API URL missing: pass `apiUrl` or set THOTH_API_URL (e.g. http://127.0.0.1:8080)',
    );
  const apiUrl = parseApiUrl(apiUrlText, 'Thoth API URL');
  const apiKey = options.apiKey || env.THOTH_API_KEY;
  if (!apiKey) throw new ThothConfigError('Thoth API key missing: pass `apiKey` or set THOTH_API_KEY');
  if (!options.agentId) throw new ThothConfigError('`agentId` is required');
  if (!options.tenantId) throw new ThothConfigError('`tenantId` is required');
  const enforcement = options.enforcement ?? 'progressive';
  if (!ENFORCEMENT_MODES.includes(enforcement))
    throw new ThothConfigError(`enforcement must be one of ${ENFORCEMENT_MODES.join(', ')}`);
  const verifyReceipts = options.verifyReceipts ?? 'off';
  if (!RECEIPT_MODES.includes(verifyReceipts))
    throw new ThothConfigError(`verifyReceipts must be one of ${RECEIPT_MODES.join(', ')}`);

  return {
    agentId: options.agentId,
    tenantId: options.tenantId,
    approvedScope: [...(options.approvedScope ?? [])],
    apiUrl,
    apiKey,
    userId: options.userId || 'system',
    enforcement,
    sessionId: options.sessionId || randomUUID(),
    failOpen: options.failOpen ?? true,
    timeoutMs: positive('timeoutMs', options.timeoutMs, 5_000),
    stepUpTimeoutMs:
      options.stepUpTimeoutMs === undefined
        ? undefined
        : positive('stepUpTimeoutMs', options.stepUpTimeoutMs, 0),
    stepUpPollIntervalMs: positive('stepUpPollIntervalMs', options.stepUpPollIntervalMs, 5_000),
    purpose: options.purpose,
    dataClassification: options.dataClassification,
    environment: options.environment || 'prod',
    modelProvider: options.modelProvider,
    telemetry: resolveTelemetry(options.telemetry),
    logger: options.logger ?? consoleLogger,
    verifyReceipts,
  };
}

function parseApiUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ThothConfigError(`${what} is not a URL: ${text}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ThothConfigError(`${what} must be http(s): ${text}`);
  return url;
}

function resolveTelemetry(options: TelemetryOptions | false | undefined): ResolvedTelemetry | false {
  if (options === false) return false;
  const transport = options?.transport ?? 'http';
  if (transport === 'kafka' && (!options?.kafka?.brokers.length || !options.kafka.topic))
    throw new ThothConfigError(
      'telemetry.transport "kafka" needs telemetry.kafka.brokers and telemetry.kafka.topic',
    );
  return {
    transport,
    apiUrl: options?.apiUrl ? parseApiUrl(options.apiUrl, 'telemetry.apiUrl') : undefined,
    kafka: options?.kafka,
    maxQueueSize: Math.floor(positive('telemetry.maxQueueSize', options?.maxQueueSize, 10_000)),
    batchSize: Math.floor(positive('telemetry.batchSize', options?.batchSize, 100)),
    flushIntervalMs: positive('telemetry.flushIntervalMs', options?.flushIntervalMs, 200),
  };
}
