import { randomUUID } from 'node:crypto';
import type { AvroCodec } from '@thoth/common/bus/avro-codec';
import type { Bus, Subscription } from '@thoth/common/bus/bus';
import { decodeRecords } from '@thoth/common/bus/record-consumer';
import type { Logger } from '@thoth/common/logger';
import type { Redactor } from '@thoth/common/redaction';

export interface TailEvent {
  type: 'event' | 'decision';
  tenantId: string;
  agentId: string;
  data: Record<string, unknown>;
}

type Listener = (event: TailEvent) => void;

/** How long the subscription outlives its last listener (a reconnecting console should not churn groups). */
const IDLE_MS = 30_000;

/**
 * New events and decisions as they reach the bus, fanned out to live subscribers (GET /v1/stream). An API
 * replica reads the events topic only while someone listens: the subscription (a group of its own, from the
 * end, offsets never needed again) starts with the first listener and stops a while after the last one left.
 */
export class LiveTail {
  private readonly listeners = new Set<{ tenantId: string; agentId?: string; listener: Listener }>();
  private subscription: Promise<Subscription> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      bus: Bus;
      codec: AvroCodec;
      topic: string;
      log: Logger;
      /** Events that reached the bus without the API's redaction are redacted before they are streamed. */
      redactor: Redactor;
    },
  ) {}

  /** Subscribes to a tenant's stream (optionally one agent); resolves once new events flow to it. */
  async listen(tenantId: string, agentId: string | undefined, listener: Listener): Promise<() => void> {
    const entry = { tenantId, agentId, listener };
    this.listeners.add(entry);
    clearTimeout(this.idleTimer);
    this.subscription ??= this.subscribe();
    await this.subscription;
    return () => {
      this.listeners.delete(entry);
      if (this.listeners.size === 0) this.idleTimer = setTimeout(() => void this.stop(), IDLE_MS);
    };
  }

  async stop(): Promise<void> {
    clearTimeout(this.idleTimer);
    const subscription = this.subscription;
    this.subscription = undefined;
    await (await subscription)?.stop();
  }

  private subscribe(): Promise<Subscription> {
    const started = this.deps.bus.subscribe({
      group: `${this.deps.topic}.live-tail.${randomUUID()}`,
      topics: [this.deps.topic],
      fromBeginning: false,
      handler: async (batch) => {
        for (const message of batch.messages) {
          const decoded = decodeRecords(this.deps.codec, message, this.deps.redactor);
          if (!decoded.ok) continue; // a throwaway group: the consumers that own the topic DLQ it
          for (const record of decoded.records) {
            if (record.schema === 'thoth.v1.DecisionEvent' || record.schema === 'thoth.v1.BehavioralEvent')
              this.emit({
                type: record.schema === 'thoth.v1.DecisionEvent' ? 'decision' : 'event',
                tenantId: record.value.tenant_id,
                agentId: record.value.agent_id,
                data: { ...record.value },
              });
          }
        }
      },
    });
    started.catch((error: unknown) => {
      this.deps.log.error({ err: error }, 'live tail could not subscribe');
      this.subscription = undefined;
    });
    return started;
  }

  private emit(event: TailEvent): void {
    for (const l of this.listeners) {
      if (l.tenantId !== event.tenantId || (l.agentId !== undefined && l.agentId !== event.agentId)) continue;
      try {
        l.listener(event);
      } catch (error) {
        this.deps.log.warn({ err: error }, 'live tail listener failed');
      }
    }
  }
}
