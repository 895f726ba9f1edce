import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type ApiService, startApiService } from '@thoth/api';
import { AuditWriter } from '@thoth/audit-writer';
import { BaselinesConsumer } from '@thoth/baselines';
import { topicNames, topicSpecs, urlSafeToken } from '@thoth/contracts';
import type { Bus, Config, Logger } from '@thoth/platform';
import {
  AvroCodec,
  collectProcessMetrics,
  consumerLag,
  KafkaBus,
  MemoryBus,
  reserveCpuForApiThread,
  SigningKey,
  Store,
  startMetricsServer,
} from '@thoth/platform';
import { loadSinkConfig } from '@thoth/siem-export';
import { startConsumerThread } from './consumer-thread-host.ts';
import { type Consumers, startConsumers } from './consumers.ts';
import { CONSUMER_SERVICES, wantedServices } from './service-names.ts';
import type { StartFacts } from './start-summary.ts';

export interface Runtime {
  config: Config;
  bus: Bus;
  store: Store | undefined;
  api: ApiService | undefined;
  adminToken: string;
  /** What runs where, for the start-up summary (start-summary.ts). */
  facts: StartFacts;
  /** Drains and stops everything, consumers last so in-flight events land. */
  stop(): Promise<void>;
}

/**
 * Starts Thoth. Embedded mode: in-process bus + chDB, every service in this process. Distributed mode: Kafka
 * + a ClickHouse server, the services named in THOTH_SERVICES. Same code either way, only the bus and the
 * store connection differ.
 */
export async function startRuntime(config: Config, log: Logger): Promise<Runtime> {
  const dataDir = resolve(config.THOTH_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const wanted = wantedServices(config.THOTH_SERVICES);

  // First, so a port in use fails the start at once. Every shape of process serves its metrics here (docs/metrics.md).
  let ready = false;
  collectProcessMetrics();
  // Its /healthz, like the API's, answers 200 once everything here started: a consumer-only process's health check.
  const metrics = await startMetricsServer(config.THOTH_METRICS_HOST, config.THOTH_METRICS_PORT, () => ready);
  log.info({ port: metrics.port }, `metrics on http://${config.THOTH_METRICS_HOST}:${metrics.port}/metrics`);

  const onError = (error: unknown, context: string) => log.error({ err: error }, context);
  const bus: KafkaBus | MemoryBus =
    config.THOTH_MODE === 'distributed'
      ? new KafkaBus({
          brokers: config.KAFKA_BROKERS ?? [],
          clientId: config.KAFKA_CLIENT_ID,
          defaultPartitions: config.THOTH_TOPIC_PARTITIONS,
          replicationFactor: config.KAFKA_REPLICATION_FACTOR,
          sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
          onError,
          // A consumer that stopped for good must not leave a process that looks alive: exit, get restarted.
          onFatal: (error, context) => {
            log.fatal({ err: error }, context);
            process.exit(1);
          },
          onLog: (level, message) => log[level]({ component: 'kafkajs' }, message),
        })
      : new MemoryBus({
          dir: join(dataDir, 'bus'),
          defaultPartitions: config.THOTH_TOPIC_PARTITIONS,
          onError,
        });
  // The groups subscribed in this process, the consumers' thread's included (it subscribes through this bus).
  const removeLagSource = consumerLag.sources.add(async () =>
    (await bus.consumerLags()).map(({ group, topic, partition, lag }) => ({
      labels: { group, topic, partition: String(partition) },
      value: lag,
    })),
  );
  const topics = topicNames(config.THOTH_TOPIC_PREFIX);
  await bus.ensureTopics(topicSpecs(topics, config.THOTH_TOPIC_PARTITIONS));
  const codec = new AvroCodec();
  const adminToken = config.THOTH_ADMIN_TOKEN ?? embeddedAdminToken(dataDir);

  let store: Store | undefined;
  const signingKey = SigningKey.loadOrCreate(SigningKey.pathIn(dataDir));
  if (config.THOTH_MODE === 'distributed' && !config.CLICKHOUSE_URL)
    log.warn('no CLICKHOUSE_URL: this process stores into its own embedded chDB under THOTH_DATA_DIR');
  // The API reads the trail (SOC queries), the audit writer writes it: both need the store.
  if (wanted.has('audit-writer') || wanted.has('api') || wanted.has('baselines')) {
    store = await Store.open(
      {
        clickhouseUrl: config.CLICKHOUSE_URL,
        user: config.CLICKHOUSE_USER,
        password: config.CLICKHOUSE_PASSWORD,
        database: config.CLICKHOUSE_DATABASE,
        dataDir,
      },
      log,
    );
    const ran = await store.migrate(log);
    log.info({ applied: ran.length }, 'ClickHouse migrations up to date');
    if (await store.applyRetention(config.THOTH_EVENTS_TTL_DAYS))
      log.info({ days: config.THOTH_EVENTS_TTL_DAYS }, 'audit-trail retention changed');
  }
  // Under `all`, the notifier runs only when a webhook is configured, SIEM exports only with a sinks file; asked
  // for by name without them, the start fails.
  if (config.THOTH_SERVICES.includes('approval-notifier') && !config.THOTH_WEBHOOK_URL)
    throw new Error('THOTH_SERVICES lists approval-notifier but THOTH_WEBHOOK_URL is not set');
  if (config.THOTH_SERVICES.includes('siem-export') && !config.THOTH_SIEM_CONFIG)
    throw new Error('THOTH_SERVICES lists siem-export but THOTH_SIEM_CONFIG is not set');
  const consumerNames = new Set(CONSUMER_SERVICES.filter((name) => wanted.has(name)));
  let consumers: Consumers | undefined;
  if (consumerNames.size > 0) {
    const consumerDeps = { config, log, bus, store, wanted: consumerNames };
    // Where this process also serves the API, the consumers get a thread of their own: nothing they do may hold
    // the enforce path's event loop. chDB and the in-process bus stay here; the thread reaches them by bridge.
    consumers = wanted.has('api')
      ? await startConsumerThread({
          ...consumerDeps,
          onFatal: (error) => {
            // Drained like a stop (the API's queued decision events, the bus's offsets), then exit 1 to be
            // restarted: SIGTERM runs main.ts's shutdown, which keeps this exit code.
            log.fatal({ err: error }, "the consumers' thread died: draining, then exiting");
            process.exitCode = 1;
            process.kill(process.pid, 'SIGTERM');
          },
        })
      : await startConsumers(consumerDeps);
  }

  let api: ApiService | undefined;
  if (wanted.has('api')) {
    api = await startApiService({
      config,
      log,
      bus,
      codec,
      topics,
      adminToken,
      store,
      signingKey,
      isReady: () => ready,
    });
    await api.app.listen({ host: config.HOST, port: config.PORT }).catch((error: NodeJS.ErrnoException) => {
      // A bare "EADDRINUSE … :8080" names no setting: say which variable to change.
      if (error.code === 'EADDRINUSE')
        throw new Error(
          `PORT: ${config.HOST}:${config.PORT} is already in use (another Thoth?): stop it, or set PORT to a free port`,
        );
      if (error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL')
        throw new Error(`HOST/PORT: cannot listen on ${config.HOST}:${config.PORT} (${error.code})`);
      throw error;
    });
  }
  // After the consumers' thread and chDB's pools exist, so that they start on the other CPUs.
  // Embedded only: the backlog it watches is the in-process bus's.
  const apiCpu =
    api && consumers && config.THOTH_API_OWN_CPU && bus instanceof MemoryBus
      ? await reserveCpuForApiThread(log, {
          backgroundNice: config.THOTH_CONSUMERS_NICE,
          // The consumers whose delay is CPU: a SIEM sink or the notifier waiting on a retry is not.
          backlogMs: () =>
            bus.oldestPendingMs(topics.events, [
              AuditWriter.group(topics.events),
              BaselinesConsumer.group(topics.events),
            ]),
        })
      : undefined;
  ready = true;

  const running = [...wanted].filter(
    (name) =>
      (name !== 'approval-notifier' || config.THOTH_WEBHOOK_URL !== undefined) &&
      (name !== 'siem-export' || config.THOTH_SIEM_CONFIG !== undefined),
  );
  const fallbackPolicy = api?.control.projection.policies.fallbackOrigin();
  const facts: StartFacts = {
    mode: config.THOTH_MODE,
    services: running,
    apiUrl: api ? `http://${config.HOST}:${boundPort(api, config.PORT)}` : undefined,
    console: api?.app.hasRoute({ method: 'GET', url: '/console' }) ?? false,
    metricsPort: metrics.port,
    metricsHost: config.THOTH_METRICS_HOST,
    host: config.HOST,
    policy:
      api && fallbackPolicy
        ? {
            source: fallbackPolicy.kind,
            ...(fallbackPolicy.kind === 'file'
              ? { path: fallbackPolicy.path, sha256: fallbackPolicy.sha256 }
              : {}),
            // A policy for every tenant, or the `*` entry of a per-tenant file.
            ruleCount: api.control.projection.policies.inForce('*').compiled.rules.length,
          }
        : undefined,
    // Parsed once more here (the consumers' thread already validated the file) only to name the sinks.
    sinks:
      running.includes('siem-export') && config.THOTH_SIEM_CONFIG
        ? loadSinkConfig(config.THOTH_SIEM_CONFIG).map((sink) => ({
            id: sink.id,
            type: sink.type,
            ...(sink.format ? { format: sink.format } : {}),
          }))
        : undefined,
    dataDir,
    adminToken: config.THOTH_ADMIN_TOKEN
      ? { kind: 'env' }
      : { kind: 'file', path: join(dataDir, 'admin-token') },
  };

  return {
    config,
    bus,
    store,
    api,
    adminToken,
    facts,
    stop: async () => {
      ready = false;
      await apiCpu?.stop();
      await api?.stop();
      await consumers?.stop();
      await bus.close();
      await store?.close();
      removeLagSource();
      await metrics.close();
    },
  };
}

/** The port the API listens on: PORT, or the one the system chose for PORT=0. */
function boundPort(api: ApiService, configured: number): number {
  const address = api.app.server.address();
  return typeof address === 'object' && address !== null ? address.port : configured;
}

/** Embedded mode without THOTH_ADMIN_TOKEN: one generated at first start and kept in the data directory. */
function embeddedAdminToken(dataDir: string): string {
  const path = join(dataDir, 'admin-token');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const token = `thoth_admin_${urlSafeToken(32)}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return token;
}
