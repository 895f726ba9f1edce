import { ADMIN_AGENT_ID, type AdminEvent, agentKey } from '@thoth/contracts';
import type { AvroCodec, Bus, Logger, OutgoingMessage } from '@thoth/platform';
import { backoffMs } from '@thoth/platform';

/** Control-topic keys of admin events not yet relayed to the events topic. */
export const OUTBOX_PREFIX = 'admin-outbox/';

export interface AdminOutboxDeps {
  bus: Bus;
  codec: AvroCodec;
  controlTopic: string;
  eventsTopic: string;
  log: Logger;
}

/**
 * The admin-audit outbox. A control-plane change and its admin event are written to the control topic in ONE
 * publish (its single partition appends them together), before the change is acknowledged; the event then waits
 * there, under `admin-outbox/<event id>`, until it is relayed to the events topic (the tenant's `_admin` chain)
 * and deleted with a tombstone. A crash at any point leaves the event in the outbox, and every API replica
 * relays what it finds there when it starts: an acknowledged change is never without its audit record. Two
 * replicas may both relay one event; the audit writer stores an event id once.
 */
export class AdminOutbox {
  /** Events being relayed by this process (key → retry timer, once a try failed). */
  private readonly relaying = new Map<string, NodeJS.Timeout | undefined>();
  private stopped = false;

  constructor(private readonly deps: AdminOutboxDeps) {}

  /** The outbox record of `event`, to publish in the same write as the change it records. */
  entry(event: AdminEvent): OutgoingMessage {
    return this.deps.codec.encode('thoth.v1.AdminEvent', `${OUTBOX_PREFIX}${event.event_id}`, event);
  }

  /** An outbox record seen on the control topic (or just written): relays it unless this process already is. */
  relay(key: string, event: AdminEvent): void {
    if (this.stopped || this.relaying.has(key)) return;
    this.relaying.set(key, undefined);
    void this.attempt(key, event, 0);
  }

  /** The record's tombstone was seen: relayed (by this replica or another); nothing more to do. */
  settled(key: string): void {
    clearTimeout(this.relaying.get(key));
    this.relaying.delete(key);
  }

  /** How many events this process is relaying (for tests and metrics). */
  get pending(): number {
    return this.relaying.size;
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.relaying.values()) clearTimeout(timer);
    this.relaying.clear();
  }

  private async attempt(key: string, event: AdminEvent, attempt: number): Promise<void> {
    if (this.stopped || !this.relaying.has(key)) return;
    try {
      const message = this.deps.codec.encode(
        'thoth.v1.AdminEvent',
        agentKey(event.tenant_id, ADMIN_AGENT_ID),
        event,
      );
      await this.deps.bus.publish(this.deps.eventsTopic, [message]);
      await this.deps.bus.publish(this.deps.controlTopic, [{ key, value: null }]);
      this.relaying.delete(key);
    } catch (error) {
      // Still in the outbox: retried here, and by any replica that starts meanwhile.
      const delayMs = backoffMs(attempt, 250, 30_000);
      this.deps.log.error(
        { err: error, event_id: event.event_id, attempt },
        'admin event not relayed; retrying',
      );
      if (this.stopped || !this.relaying.has(key)) return;
      const timer = setTimeout(() => void this.attempt(key, event, attempt + 1), delayMs);
      timer.unref();
      this.relaying.set(key, timer);
    }
  }
}
