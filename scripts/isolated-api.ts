import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiService } from '../services/api/src/api-service.ts';
import { TENANT } from './enforce-load.ts';

export interface IsolatedApi {
  service: ApiService;
  port: number;
  /** A key of TENANT with execute, write and read. */
  key: string;
  stop(): Promise<void>;
}

/**
 * The API alone, as the benchmarks compare against it: `startApiService` on an in-memory bus, a reader that
 * commits the events as the audit writer would (so the bus lets go of them), rate limits out of the way (one
 * key drives the whole load; every request still goes through the limiter), listening on a free loopback port.
 * Loaded lazily by the benchmark's child process, so the parent never loads the service.
 */
export async function startIsolatedApi(options: {
  prefix: string;
  policy?: unknown;
  /** More settings (config.ts names), e.g. THOTH_MODE=distributed to measure what sharing session risk costs. */
  settings?: Record<string, string>;
}): Promise<IsolatedApi> {
  const { startApiService } = await import('../services/api/src/api-service.ts');
  const { policySetFrom } = await import('../services/api/src/policy-source.ts');
  const { AvroCodec } = await import('@thoth/platform');
  const { loadConfig } = await import('@thoth/platform');
  const { createLogger } = await import('@thoth/platform');

  const dataDir = mkdtempSync(join(tmpdir(), `thoth-${options.prefix}-`));
  const config = loadConfig({
    THOTH_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    THOTH_RATE_LIMIT_PER_KEY: '1000000000',
    THOTH_RATE_LIMIT_PER_TENANT: '1000000000',
    ...options.settings,
  });
  const { bus, topics } = await busWithEventsReader(options.prefix);
  const service = await startApiService({
    config,
    log: createLogger('silent'),
    bus,
    codec: new AvroCodec(),
    topics,
    adminToken: 'bench-admin-token-0123456789abcdef',
    policies: options.policy === undefined ? undefined : policySetFrom(options.policy),
    isReady: () => true,
  });
  const { apiKey } = await service.control.commands.createApiKey({
    tenantId: TENANT,
    name: 'bench',
    permissions: ['execute', 'write', 'read'],
    createdBy: 'bench',
  });
  await service.app.listen({ port: 0, host: '127.0.0.1' });
  const address = service.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    service,
    port: address.port,
    key: apiKey,
    stop: async () => {
      await service.stop();
      await bus.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * An in-memory bus with Thoth's topics under `prefix`, and a reader that commits the decision events as the
 * audit writer would, so the bus lets go of them and a run measures the API, not a growing heap.
 */
export async function busWithEventsReader(prefix: string) {
  const { MemoryBus } = await import('@thoth/platform');
  const { topicNames, topicSpecs } = await import('@thoth/contracts');
  const bus = new MemoryBus({ defaultPartitions: 3 });
  const topics = topicNames(prefix);
  await bus.ensureTopics(topicSpecs(topics, 3));
  await bus.subscribe({
    group: `${topics.events}.reader`,
    topics: [topics.events],
    fromBeginning: false,
    handler: async () => {},
  });
  return { bus, topics };
}
