import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type ApiService, startApiService } from '@thoth/api/api-service';
import { AuditWriter } from '@thoth/audit-writer/audit-writer';
import { baselineSettings } from '@thoth/baselines/agent-baseline';
import { BaselinesConsumer } from '@thoth/baselines/baselines-consumer';
import { AvroCodec } from '@thoth/common/bus/avro-codec';
import type { Bus } from '@thoth/common/bus/bus';
import { KafkaBus } from '@thoth/common/bus/kafka-bus';
import { MemoryBus } from '@thoth/common/bus/memory-bus';
import { topicNames, topicSpecs } from '@thoth/common/bus/topics';
import type { Config } from '@thoth/common/config';
import { urlSafeToken } from '@thoth/common/ids';
import type { Logger } from '@thoth/common/logger';
import { configuredRedactor } from '@thoth/common/record-redaction';
import { SigningKey } from '@thoth/common/signing-key';
import { Store } from '@thoth/common/store/store';
import { ApprovalNotifier } from '@thoth/notifier/approval-notifier';
import { SiemExporter } from '@thoth/siem-export/siem-exporter';
import { loadSinkConfig } from '@thoth/siem-export/sink-config';

export interface Runtime {
  config: Config;
  bus: Bus;
  store: Store | undefined;
  api: ApiService | undefined;
  auditWriter: AuditWriter | undefined;
  adminToken: string;
  /** Drains and stops everything, consumers last so in-flight events land. */
  stop(): Promise<void>;
}

const SERVICES = ['api', 'audit-writer', 'approval-notifier', 'siem-export', 'baselines'] as const;
type ServiceName = (typeof SERVICES)[number];

/**
 * Starts Thoth. Embedded mode: in-process bus + chDB, every service in this process. Distributed mode: Kafka
 * + a ClickHouse server, the services named in THOTH_SERVICES. Same code either way, only the bus and the
 * store connection differ.
 */
export async function startRuntime(config: Config, log: Logger): Promise<Runtime> {
  const dataDir = resolve(config.THOTH_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const wanted = new Set<ServiceName>(
    config.THOTH_SERVICES.includes('all') ? SERVICES : (config.THOTH_SERVICES as ServiceName[]),
  );
  for (const name of wanted)
    if (!SERVICES.includes(name))
      throw new Error(`THOTH_SERVICES: unknown service "${name}" (known: all, ${SERVICES.join(', ')})`);

  const onError = (error: unknown, context: string) => log.error({ err: error }, context);
  const bus: Bus =
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
  const topics = topicNames(config.THOTH_TOPIC_PREFIX);
  await bus.ensureTopics(topicSpecs(topics, config.THOTH_TOPIC_PARTITIONS));
  const codec = new AvroCodec();
  const adminToken = config.THOTH_ADMIN_TOKEN ?? embeddedAdminToken(dataDir);

  let ready = false;
  let store: Store | undefined;
  let auditWriter: AuditWriter | undefined;
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
  if (store && wanted.has('audit-writer')) {
    auditWriter = new AuditWriter({
      bus,
      codec,
      store,
      eventsTopic: topics.events,
      log,
      signingKey,
      controlTopic: topics.control,
      checkpointIntervalMs: config.THOTH_CHECKPOINT_INTERVAL_SECONDS * 1_000,
      flushRows: config.THOTH_AUDIT_FLUSH_ROWS,
      flushMs: config.THOTH_AUDIT_FLUSH_MS,
      redactor: configuredRedactor(config),
    });
    await auditWriter.start();
  }

  let baselines: BaselinesConsumer | undefined;
  if (store && wanted.has('baselines')) {
    baselines = new BaselinesConsumer({
      bus,
      codec,
      store,
      eventsTopic: topics.events,
      directivesTopic: topics.directives,
      log,
      settings: baselineSettings(config),
    });
    await baselines.start();
  }

  // The notifier runs where it is asked for; under `all` only when a webhook is configured.
  let notifier: ApprovalNotifier | undefined;
  const notifierAsked = config.THOTH_SERVICES.includes('approval-notifier');
  if (notifierAsked && !config.THOTH_WEBHOOK_URL)
    throw new Error('THOTH_SERVICES lists approval-notifier but THOTH_WEBHOOK_URL is not set');
  if (wanted.has('approval-notifier') && config.THOTH_WEBHOOK_URL && config.THOTH_WEBHOOK_SECRET) {
    notifier = new ApprovalNotifier({
      bus,
      codec,
      approvalsTopic: topics.approvals,
      log,
      url: config.THOTH_WEBHOOK_URL,
      secret: config.THOTH_WEBHOOK_SECRET,
      format: config.THOTH_WEBHOOK_FORMAT,
      maxAttempts: config.THOTH_WEBHOOK_MAX_ATTEMPTS,
    });
    await notifier.start();
  }

  // SIEM exports run where asked for; under `all` only when a sinks file is configured.
  let siemExporter: SiemExporter | undefined;
  if (config.THOTH_SERVICES.includes('siem-export') && !config.THOTH_SIEM_CONFIG)
    throw new Error('THOTH_SERVICES lists siem-export but THOTH_SIEM_CONFIG is not set');
  if (wanted.has('siem-export') && config.THOTH_SIEM_CONFIG) {
    siemExporter = new SiemExporter({
      bus,
      codec,
      eventsTopic: topics.events,
      log,
      sinks: loadSinkConfig(config.THOTH_SIEM_CONFIG),
      metrics: { host: config.HOST, port: config.THOTH_SIEM_METRICS_PORT },
      redactor: configuredRedactor(config),
    });
    await siemExporter.start();
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
    await api.app.listen({ host: config.HOST, port: config.PORT });
  }
  ready = true;

  return {
    config,
    bus,
    store,
    api,
    auditWriter,
    adminToken,
    stop: async () => {
      ready = false;
      await api?.stop();
      await notifier?.stop();
      await siemExporter?.stop();
      await baselines?.stop();
      await auditWriter?.stop();
      await bus.close();
      await store?.close();
    },
  };
}

/** Embedded mode without THOTH_ADMIN_TOKEN: one generated at first start and kept in the data directory. */
function embeddedAdminToken(dataDir: string): string {
  const path = join(dataDir, 'admin-token');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const token = `thoth_admin_${urlSafeToken(32)}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return token;
}
