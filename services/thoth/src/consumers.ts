import { AuditWriter } from '@thoth/audit-writer';
import { BaselinesConsumer, baselineSettings } from '@thoth/baselines';
import { topicNames } from '@thoth/contracts';
import { ApprovalNotifier } from '@thoth/notifier';
import type { AnalyticsStore, Bus, Config, Logger } from '@thoth/platform';
import { AvroCodec, configuredRedactor, SigningKey } from '@thoth/platform';
import { loadSinkConfig, SiemExporter } from '@thoth/siem-export';
import type { ConsumerName } from './service-names.ts';

export interface ConsumerDeps {
  config: Config;
  log: Logger;
  bus: Bus;
  /** The trail's store; the audit writer and the baselines need it. */
  store: AnalyticsStore | undefined;
  wanted: ReadonlySet<ConsumerName>;
}

export interface Consumers {
  /** Drains and stops every consumer started here: in-flight batches land and commit first. */
  stop(): Promise<void>;
}

/**
 * Starts the consumers of `wanted` on this thread. A process that also serves the API runs this on a thread of
 * its own (consumers-thread.ts), so their work never holds the enforce path's event loop.
 */
export async function startConsumers(deps: ConsumerDeps): Promise<Consumers> {
  const { config, log, bus, store, wanted } = deps;
  const topics = topicNames(config.THOTH_TOPIC_PREFIX);
  const codec = new AvroCodec();
  const redactor = configuredRedactor(config);
  const started: Array<{ stop(): Promise<void> }> = [];

  if (store && wanted.has('audit-writer')) {
    const auditWriter = new AuditWriter({
      bus,
      codec,
      store,
      eventsTopic: topics.events,
      log,
      signingKey: SigningKey.loadOrCreate(SigningKey.pathIn(config.THOTH_DATA_DIR)),
      controlTopic: topics.control,
      checkpointIntervalMs: config.THOTH_CHECKPOINT_INTERVAL_SECONDS * 1_000,
      flushRows: config.THOTH_AUDIT_FLUSH_ROWS,
      flushMs: config.THOTH_AUDIT_FLUSH_MS,
      flushIntervalMs: config.THOTH_AUDIT_FLUSH_INTERVAL_MS,
      redactor,
    });
    await auditWriter.start();
    started.push(auditWriter);
  }

  if (store && wanted.has('baselines')) {
    const baselines = new BaselinesConsumer({
      bus,
      codec,
      store,
      eventsTopic: topics.events,
      directivesTopic: topics.directives,
      log,
      settings: baselineSettings(config),
    });
    await baselines.start();
    started.push(baselines);
  }

  if (wanted.has('approval-notifier') && config.THOTH_WEBHOOK_URL && config.THOTH_WEBHOOK_SECRET) {
    const notifier = new ApprovalNotifier({
      bus,
      codec,
      eventsTopic: topics.events,
      log,
      url: config.THOTH_WEBHOOK_URL,
      secret: config.THOTH_WEBHOOK_SECRET,
      format: config.THOTH_WEBHOOK_FORMAT,
      maxAttempts: config.THOTH_WEBHOOK_MAX_ATTEMPTS,
      publicUrl: config.THOTH_PUBLIC_URL,
    });
    await notifier.start();
    started.push(notifier);
  }

  if (wanted.has('siem-export') && config.THOTH_SIEM_CONFIG) {
    const siemExporter = new SiemExporter({
      bus,
      codec,
      eventsTopic: topics.events,
      log,
      sinks: loadSinkConfig(config.THOTH_SIEM_CONFIG),
      redactor,
    });
    await siemExporter.start();
    started.push(siemExporter);
  }

  return {
    // The reverse of the start order: exports and the notifier first, the audit writer last.
    stop: async () => {
      for (const consumer of started.reverse()) await consumer.stop();
    },
  };
}
