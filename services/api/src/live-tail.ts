import { randomUUID } from 'node:crypto';
import type { AvroCodec } from '@thoth/common/bus/avro-codec';
import type { Bus, Subscription } from '@thoth/common/bus/bus';
import type { Logger } from '@thoth/common/logger';

export interface TailEvent {
  type: 'event' | 'decision';
  tenantId: string;
  agentId: string;
  data: Record<string, unknown>;
}

type Listener = (event: TailEvent) => void;

/**
 * New events and decisions as they reach the bus, fanned out to live subscribers (GET /v1/stream). Each API
 * process reads the events topic in a group of its own, from the end, and never needs its offsets again.
 */
export class LiveTail {
  private readonly listeners = new Set<{ tenantId: string; agentId?: string; listener: Listener }>();
  private subscription: Subscription | undefined;

  constructor(private readonly deps: { bus: Bus; codec: AvroCodec; topic: string; log: Logger }) {}

  async start(): Promise<void> {
    this.subscription = await this.deps.bus.subscribe({
      group: `${this.deps.topic}.live-tail.${randomUUID()}`,
      topics: [this.deps.topic],
      fromBeginning: false,
      handler: async (batch) => {
        if (this.listeners.size === 0) return;
        for (const message of batch.messages) {
          const decoded = this.deps.codec.decode(message);
          if (!decoded.ok) continue;
          if (decoded.schema === 'thoth.v1.DecisionEvent')
            this.emit({
              type: 'decision',
              tenantId: decoded.value.tenant_id,
              agentId: decoded.value.agent_id,
              data: { ...decoded.value },
            });
          else if (decoded.schema === 'thoth.v1.BehavioralEvent')
            this.emit({
              type: 'event',
              tenantId: decoded.value.tenant_id,
              agentId: decoded.value.agent_id,
              data: { ...decoded.value },
            });
        }
      },
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
  }

  /** Subscribes to a tenant's stream (optionally one agent); returns the unsubscribe function. */
  listen(tenantId: string, agentId: string | undefined, listener: Listener): () => void {
    const entry = { tenantId, agentId, listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
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
