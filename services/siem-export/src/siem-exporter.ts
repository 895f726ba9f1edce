import type { AvroCodec, Bus, Logger, Redactor, Subscription } from '@thoth/platform';
import { backoffMs, type DeadLetter, type DecodedRecord, Signal, subscribeRecords } from '@thoth/platform';
import { formatEvent } from './formats/formats.ts';
import { exposeSinks, newCounters, type SinkCounters } from './metrics.ts';
import { toSiemEvent } from './siem-event.ts';
import { type SinkConfig, sinkFormat, sinkFormatOptions } from './sink-config.ts';
import { sinkWants } from './sink-filter.ts';
import { createTransport } from './transports/create-transport.ts';
import type { DeliveryItem, Transport } from './transports/transport.ts';

export interface SiemExporterDeps {
  bus: Bus;
  codec: AvroCodec;
  eventsTopic: string;
  log: Logger;
  sinks: SinkConfig[];
  /** Redacts behavioral events that reached the topic without the API's redaction (record-redaction.ts). */
  redactor?: Redactor;
  /** Tests may hand a sink another transport; default: the one its configuration names. */
  transportFor?: (sink: SinkConfig) => Transport;
}

/**
 * Exports the events topic to SIEMs. Each sink is its own consumer group (`<events topic>.siem.<sink id>`), so a
 * slow or broken SIEM never delays enforcement, the audit trail or another sink.
 *
 * At-least-once with bounded memory: the handler returns — and the bus commits — only once the sink holds the
 * batch. While the sink fails, the same batch is retried with capped exponential backoff inside the handler; the
 * consumer fetches nothing more meanwhile (one batch per partition in flight), then resumes where it stopped.
 * Events that cannot be formatted, or that the sink refuses for their content, go to the DLQ with the reason.
 */
export class SiemExporter {
  private readonly workers: SinkWorker[];
  /** Takes the sinks off the process's metrics (docs/metrics.md) once stopped. */
  private unexpose: (() => void) | undefined;

  constructor(private readonly deps: SiemExporterDeps) {
    this.workers = deps.sinks.map(
      (sink) =>
        new SinkWorker(
          sink,
          deps.transportFor?.(sink) ?? createTransport(sink, `thoth:${sinkFormat(sink)}`),
          deps,
        ),
    );
  }

  async start(): Promise<void> {
    for (const worker of this.workers) await worker.start();
    this.unexpose = exposeSinks(
      this.workers.map((w) => ({
        labels: { sink: w.sink.id, type: w.sink.type, tenant: w.sink.tenant },
        counters: w.counters,
        lag: () => this.deps.bus.lag(w.group, this.deps.eventsTopic).catch(() => undefined),
      })),
    );
  }

  counters(sinkId: string): SinkCounters | undefined {
    return this.workers.find((w) => w.sink.id === sinkId)?.counters;
  }

  /** Stops every sink: an undelivered batch stays uncommitted and is delivered after the next start. */
  async stop(): Promise<void> {
    this.unexpose?.();
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}

class SinkWorker {
  readonly counters = newCounters();
  readonly group: string;
  private subscription: Subscription | undefined;
  private stopping = false;
  private readonly wake = new Signal();

  constructor(
    readonly sink: SinkConfig,
    private readonly transport: Transport,
    private readonly deps: SiemExporterDeps,
  ) {
    // Named after the topic (which carries THOTH_TOPIC_PREFIX), so deployments sharing a broker never mix.
    this.group = `${deps.eventsTopic}.siem.${sink.id}`;
  }

  async start(): Promise<void> {
    this.subscription = await subscribeRecords({
      bus: this.deps.bus,
      codec: this.deps.codec,
      group: this.group,
      topics: [this.deps.eventsTopic],
      maxBatchSize: this.sink.batch_size,
      redactor: this.deps.redactor,
      handler: (records) => this.handle(records),
      onDeadLetter: (letter) =>
        this.deps.log.warn(
          { sink: this.sink.id, reason: letter.reason, offset: letter.message.offset },
          'SIEM event sent to DLQ',
        ),
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake.notify();
    // Closing the transport first cuts a delivery that waits on a dead receiver; its batch stays uncommitted.
    await this.transport.close();
    await this.subscription?.stop();
  }

  private async handle(records: DecodedRecord[]): Promise<DeadLetter[]> {
    const dead: DeadLetter[] = [];
    const items: DeliveryItem[] = [];
    const origins: DecodedRecord[] = [];
    const format = sinkFormat(this.sink);
    const formatOptions = sinkFormatOptions(this.sink);
    for (const record of records) {
      const event = toSiemEvent(record);
      if ('unsupported' in event) {
        dead.push({ message: record.message, reason: event.unsupported });
        continue;
      }
      if (!sinkWants(this.sink, event)) {
        this.counters.filtered++;
        continue;
      }
      try {
        items.push({ event, formatted: formatEvent(format, event, formatOptions) });
        origins.push(record);
      } catch (error) {
        dead.push({
          message: record.message,
          reason: `cannot format as ${format}: ${(error as Error).message}`,
        });
      }
    }
    if (items.length > 0) {
      const { rejected } = await this.deliverUntilAccepted(items);
      for (const r of rejected) dead.push({ message: origins[r.index]!.message, reason: r.reason });
      this.counters.delivered += items.length - rejected.length;
    }
    this.counters.deadLettered += dead.length;
    return dead;
  }

  private async deliverUntilAccepted(items: DeliveryItem[]) {
    for (let attempt = 0; ; attempt++) {
      // Leaving without a delivery: the bus does not commit, the batch comes back after the restart.
      if (this.stopping)
        throw new Error(`sink ${this.sink.id} stopping with ${items.length} events undelivered`);
      try {
        const result = await this.transport.deliver(items);
        this.counters.up = 1;
        return result;
      } catch (error) {
        this.counters.failed += items.length;
        this.counters.up = 0;
        // A stop that came while this delivery was in flight already notified: waiting now would sleep the
        // whole backoff into the shutdown.
        if (this.stopping)
          throw new Error(`sink ${this.sink.id} stopping with ${items.length} events undelivered`);
        const delayMs = backoffMs(attempt, this.sink.backoff_initial_ms, this.sink.backoff_max_ms);
        this.deps.log.warn(
          {
            sink: this.sink.id,
            events: items.length,
            attempt: attempt + 1,
            retryInMs: delayMs,
            err: (error as Error).message,
          },
          'SIEM delivery failed; retrying the batch',
        );
        await this.wake.wait(delayMs);
        if (!this.stopping) this.counters.retried += items.length;
      }
    }
  }
}
