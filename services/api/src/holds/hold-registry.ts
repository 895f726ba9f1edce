import type { AvroCodec } from '@thoth/common/bus/avro-codec';
import type { Bus, CompactedView } from '@thoth/common/bus/bus';
import { agentKey } from '@thoth/common/bus/topics';
import { urlSafeToken } from '@thoth/common/ids';
import type { Logger } from '@thoth/common/logger';
import type { HoldRecord } from '@thoth/common/records';
import type { BackgroundPublisher } from '../background-publisher.ts';

export type NewHold = Omit<
  HoldRecord,
  'token' | 'status' | 'created_at' | 'expires_at' | 'resolved_at' | 'resolved_by' | 'comment'
>;

export class HoldConflictError extends Error {
  override name = 'HoldConflictError';
}

/**
 * STEP_UP holds, shared by every API replica through the compacted approvals topic (keyed by token).
 * A replica answers polls from memory; a resolution made anywhere reaches it through the topic.
 * An expired pending hold resolves to BLOCK on the first poll after its expiry.
 */
export class HoldRegistry {
  private readonly holds = new Map<string, HoldRecord>();
  private readonly tokenByApproval = new Map<string, string>();
  private view: CompactedView | undefined;

  constructor(
    private readonly deps: {
      bus: Bus;
      codec: AvroCodec;
      topic: string;
      /** Every state of a hold (requested, approved, denied, expired) also goes to the audit trail. */
      eventsTopic: string;
      publisher: BackgroundPublisher;
      log: Logger;
      ttlSeconds: number;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  async start(): Promise<void> {
    this.view = await this.deps.bus.openView(this.deps.topic, (token, value, headers) => {
      if (value === null) {
        this.holds.delete(token);
        return;
      }
      const decoded = this.deps.codec.decode({ value, headers });
      if (decoded.ok && decoded.schema === 'thoth.v1.Hold') this.remember(decoded.value);
      else
        this.deps.log.error(
          { token, reason: decoded.ok ? decoded.schema : decoded.reason },
          'unreadable hold',
        );
    });
  }

  async stop(): Promise<void> {
    await this.view?.close();
  }

  /** Creates a pending hold; published in the background (the enforce answer does not wait for it). */
  create(fields: NewHold, timeoutSeconds = this.deps.ttlSeconds): HoldRecord {
    const now = this.now();
    const hold: HoldRecord = {
      ...fields,
      token: urlSafeToken(24),
      status: 'pending',
      created_at: now,
      expires_at: now + timeoutSeconds * 1_000,
      resolved_at: null,
      resolved_by: null,
      comment: null,
    };
    this.remember(hold);
    this.deps.publisher.enqueue(this.deps.topic, this.deps.codec.encode('thoth.v1.Hold', hold.token, hold));
    this.deps.publisher.enqueue(this.deps.eventsTopic, this.auditEvent(hold));
    return hold;
  }

  /** The hold as a poll must see it: a pending hold past its expiry is expired (and recorded so). */
  get(token: string): HoldRecord | undefined {
    const hold = this.holds.get(token);
    if (hold?.status !== 'pending' || hold.expires_at > this.now()) return hold;
    const expired: HoldRecord = {
      ...hold,
      status: 'expired',
      resolved_at: this.now(),
      resolved_by: 'system:expiry',
    };
    this.holds.set(token, expired);
    this.deps.publisher.enqueue(this.deps.topic, this.deps.codec.encode('thoth.v1.Hold', token, expired));
    this.deps.publisher.enqueue(this.deps.eventsTopic, this.auditEvent(expired));
    return expired;
  }

  /** Resolves a pending hold (the approvals API calls this); durable before it returns. */
  async resolve(
    token: string,
    status: 'approved' | 'denied',
    resolvedBy: string,
    comment: string | null,
  ): Promise<HoldRecord> {
    const hold = this.get(token);
    if (!hold) throw new HoldConflictError(`no hold ${token}`);
    if (hold.status !== 'pending') throw new HoldConflictError(`hold is already ${hold.status}`);
    // The hold's pending record may still be queued: it must reach the topic first, or the compacted topic
    // would keep "pending" as the hold's last word.
    await this.deps.publisher.settle();
    const resolved: HoldRecord = {
      ...hold,
      status,
      resolved_at: this.now(),
      resolved_by: resolvedBy,
      comment,
    };
    await Promise.all([
      this.deps.bus.publish(this.deps.topic, [this.deps.codec.encode('thoth.v1.Hold', token, resolved)]),
      this.deps.bus.publish(this.deps.eventsTopic, [this.auditEvent(resolved)]),
    ]);
    this.holds.set(token, resolved);
    return resolved;
  }

  byApprovalId(approvalId: string): HoldRecord | undefined {
    const token = this.tokenByApproval.get(approvalId);
    return token === undefined ? undefined : this.get(token);
  }

  /** A tenant's approvals, newest first, as a person sees them (a pending one past its expiry is expired). */
  list(
    tenantId: string,
    status: HoldRecord['status'] | undefined,
    page: number,
    perPage: number,
  ): { data: HoldRecord[]; total: number } {
    const all = [...this.holds.keys()]
      .map((token) => this.get(token)!)
      .filter((h) => h.tenant_id === tenantId && (status === undefined || h.status === status))
      .sort((a, b) => b.created_at - a.created_at);
    return { data: all.slice((page - 1) * perPage, page * perPage), total: all.length };
  }

  /** The hold as an event of the audit trail (keyed by agent, like every event). */
  private auditEvent(hold: HoldRecord) {
    return this.deps.codec.encode('thoth.v1.Hold', agentKey(hold.tenant_id, hold.agent_id), hold);
  }

  /** A resolution never goes back to pending (a late copy of the pending record must not undo it). */
  private remember(hold: HoldRecord): void {
    const known = this.holds.get(hold.token);
    if (known && known.status !== 'pending' && hold.status === 'pending') return;
    this.holds.set(hold.token, hold);
    this.tokenByApproval.set(hold.approval_id, hold.token);
  }
}
