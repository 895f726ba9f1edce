import type { ThothConfig } from '../options.ts';
import { HttpEventTransport } from './http-transport.ts';
import { KafkaEventTransport } from './kafka-transport.ts';
import { TelemetrySender, type TelemetryStats } from './telemetry-sender.ts';
import type { TelemetryTransport } from './transport.ts';

/**
 * One sender per destination, shared by every instrumented agent and tool that sends there, so `flush()`
 * has one place to look and many `wrapTool` calls do not each start their own queue.
 */
const senders = new Map<string, TelemetrySender>();
let exitHookInstalled = false;

export function telemetrySenderFor(config: ThothConfig): TelemetrySender | undefined {
  const telemetry = config.telemetry;
  if (telemetry === false) return undefined;
  const id =
    telemetry.transport === 'kafka' && telemetry.kafka
      ? `kafka\n${telemetry.kafka.brokers.join(',')}\n${telemetry.kafka.topic}`
      : `http\n${(telemetry.apiUrl ?? config.apiUrl).href}\n${config.apiKey}`;
  let sender = senders.get(id);
  if (!sender) {
    const transport: TelemetryTransport =
      telemetry.transport === 'kafka' && telemetry.kafka
        ? new KafkaEventTransport(telemetry.kafka)
        : new HttpEventTransport(telemetry.apiUrl ?? config.apiUrl, config.apiKey);
    sender = new TelemetrySender(transport, {
      maxQueueSize: telemetry.maxQueueSize,
      batchSize: telemetry.batchSize,
      flushIntervalMs: telemetry.flushIntervalMs,
      logger: config.logger,
    });
    senders.set(id, sender);
    installExitHook();
  }
  return sender;
}

function sum(all: TelemetryStats[]): TelemetryStats {
  return all.reduce(
    (total, one) => ({
      sent: total.sent + one.sent,
      dropped: total.dropped + one.dropped,
      rejected: total.rejected + one.rejected,
      pending: total.pending + one.pending,
    }),
    { sent: 0, dropped: 0, rejected: 0, pending: 0 },
  );
}

/** Sends every queued event (all destinations); resolves with the totals once done or after `timeoutMs`. */
export async function flush(timeoutMs = 5_000): Promise<TelemetryStats> {
  return sum(await Promise.all([...senders.values()].map((sender) => sender.flush(timeoutMs))));
}

/** Flushes, then closes transports (a Kafka producer disconnects). Instrumented tools keep working. */
export async function shutdown(timeoutMs = 5_000): Promise<TelemetryStats> {
  const all = [...senders.values()];
  senders.clear();
  return sum(await Promise.all(all.map((sender) => sender.close(timeoutMs))));
}

export function telemetryStats(): TelemetryStats {
  return sum([...senders.values()].map((sender) => sender.stats()));
}

/**
 * `beforeExit` fires when the event loop runs dry — the natural end of a script — and allows async work,
 * so the last events are sent without the agent doing anything. One attempt per batch of leftovers: a
 * sink that is down must not keep the process alive in a loop. (`process.exit()` and signals skip
 * `beforeExit`; call `await flush()` before those.)
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  let flushing = false;
  let lastAttemptPending = -1;
  process.on('beforeExit', () => {
    const pending = telemetryStats().pending;
    if (flushing || pending === 0 || pending === lastAttemptPending) return;
    flushing = true;
    lastAttemptPending = pending;
    void flush().finally(() => {
      flushing = false;
      lastAttemptPending = telemetryStats().pending;
    });
  });
}
