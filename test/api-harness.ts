import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Topics, topicNames, topicSpecs } from '@thoth/contracts';
import type { Bus, IncomingMessage, Store } from '@thoth/platform';
import { AvroCodec, type DecodedValue, loadConfig, MemoryBus } from '@thoth/platform';
import { type ApiService, startApiService } from '../services/api/src/api-service.ts';
import { describeMismatch, type ResponseMismatch } from '../services/api/src/http/response-validation.ts';
import { policySetFrom } from '../services/api/src/policy-source.ts';
import { quietLog, uniquePrefix } from './helpers.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestApi {
  service: ApiService;
  bus: Bus;
  codec: AvroCodec;
  topics: Topics;
  /** A key of tenant `acme-corp` with execute, write and read. */
  key: string;
  /** Every message published on the events topic so far (decoded later by tests). */
  events: IncomingMessage[];
  /** Every record of those messages, decoded (an ingest batch message holds many). */
  records(): DecodedValue[];
  inject: ApiService['app']['inject'];
  /**
   * Responses that broke their route's declared schemas (each was answered as a 500 `response_mismatch`);
   * `close()` fails when there is any.
   */
  responseMismatches: ResponseMismatch[];
  close(): Promise<void>;
}

/**
 * An API service on an in-memory bus (or the given one), with a tenant policy and a ready key. Every response is
 * checked against the schemas its route declares (the OpenAPI document's): see `responseMismatches`.
 */
export async function startTestApi(
  options: {
    policy?: unknown;
    env?: Record<string, string>;
    bus?: Bus;
    prefix?: string;
    store?: Store;
    /**
     * Check every response against its schemas (default). A test that measures how long the API holds its event
     * loop turns it off: the check parses and walks each answer on that same loop, and it is not the API's work.
     */
    checkResponses?: boolean;
  } = {},
): Promise<TestApi> {
  const dataDir = mkdtempSync(join(tmpdir(), 'thoth-api-'));
  const config = loadConfig({ THOTH_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...options.env });
  const bus = options.bus ?? new MemoryBus({ defaultPartitions: 3 });
  const topics = topicNames(options.prefix ?? uniquePrefix('api'));
  await bus.ensureTopics(topicSpecs(topics, 3));
  const codec = new AvroCodec();
  const responseMismatches: ResponseMismatch[] = [];
  const service = await startApiService({
    config,
    log: quietLog,
    bus,
    codec,
    topics,
    adminToken: ADMIN_TOKEN,
    policies: options.policy ? policySetFrom(options.policy) : undefined,
    store: options.store,
    isReady: () => true,
    onResponseMismatch:
      options.checkResponses === false ? undefined : (mismatch) => responseMismatches.push(mismatch),
  });
  const { apiKey } = await service.control.commands.createApiKey({
    tenantId: 'acme-corp',
    name: 'test',
    permissions: ['execute', 'write', 'read'],
    createdBy: 'test',
  });
  const events: IncomingMessage[] = [];
  const subscription = await bus.subscribe({
    group: `observer-${topics.events}`,
    topics: [topics.events],
    handler: async (batch) => void events.push(...batch.messages),
  });
  return {
    service,
    bus,
    codec,
    topics,
    key: apiKey,
    events,
    records: () =>
      events.flatMap((m) => {
        const decoded = codec.decodeAll(m);
        if (!decoded.ok) throw new Error(`undecodable message on the events topic: ${decoded.reason}`);
        return decoded.records;
      }),
    inject: service.app.inject.bind(service.app),
    responseMismatches,
    close: async () => {
      await subscription.stop();
      await service.stop();
      if (!options.bus) await bus.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (responseMismatches.length > 0)
        throw new Error(
          `responses that break their route's declared schemas (docs at /docs/json):\n${responseMismatches
            .map(describeMismatch)
            .join('\n')}`,
        );
    },
  };
}

/** A realistic enforce body (TypeScript SDK shape); override what the test is about. */
export function enforceBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    agent_id: 'invoice-processor-v2',
    tenant_id: 'acme-corp',
    tool_name: 'search_docs',
    session_id: `session-${Math.random().toString(36).slice(2)}`,
    user_id: 'system',
    session_tool_calls: ['search_docs'],
    approved_scope: ['search_docs', 'submit_payment'],
    enforcement_mode: 'progressive',
    environment: 'prod',
    tool_args: { args: ['quarterly report'], kwargs: {} },
    ...overrides,
  };
}
