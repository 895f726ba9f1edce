import type { AvroCodec } from '@thoth/common/bus/avro-codec';
import type { Bus, CompactedView } from '@thoth/common/bus/bus';
import type { Logger } from '@thoth/common/logger';
import type { SessionRiskRecord } from '@thoth/common/records';
import type { BackgroundPublisher } from './background-publisher.ts';
import { joinSessionRisk, type SessionRisk } from './decision/index.ts';
import { SessionStore } from './session-store.ts';

export interface SharedSessionStoreDeps {
  bus: Bus;
  codec: AvroCodec;
  publisher: BackgroundPublisher;
  /** The compacted sessions topic. */
  topic: string;
  /** The tenant's session-risk half-life in force: joining two views decays them to one time. */
  halfLifeMs: (tenantId: string) => number;
  log: Logger;
  max?: number;
}

/**
 * Session risk that holds across API replicas. Each replica decides from its own memory, as a single process
 * does; what it decided is published (once per session per event-loop turn, off the answer's path) to the
 * compacted sessions topic, and every replica joins the updates it reads there into its memory
 * (`joinSessionRisk`). A session whose calls are spread over replicas then escalates as it would on one, as
 * long as its next call comes after the previous call's update has travelled (the bus's latency, tens of ms:
 * docs/deploy.md); calls of one session decided at the same moment on two replicas both count, the riskier
 * view wins.
 */
export class SharedSessionStore extends SessionStore {
  private readonly dirty = new Set<string>();
  private view: CompactedView | undefined;

  constructor(private readonly deps: SharedSessionStoreDeps) {
    super(deps.max);
  }

  /** Reads the topic from its start (recent sessions of every replica), then follows it. */
  async start(): Promise<void> {
    this.view = await this.deps.bus.openView(
      this.deps.topic,
      (key, value, headers) => {
        if (value === null) return;
        const decoded = this.deps.codec.decode({ value, headers });
        if (!decoded.ok || decoded.schema !== 'thoth.v1.SessionRisk') {
          this.deps.log.error(
            { key, reason: decoded.ok ? decoded.schema : decoded.reason },
            'unreadable session risk',
          );
          return;
        }
        const r = decoded.value;
        const remote: SessionRisk = {
          risk: r.risk,
          blocked: r.blocked,
          calls: r.calls,
          updatedAtMs: r.updated_at,
        };
        // super.set: joining what was read is not a decision of this replica, so it is not published again.
        super.set(key, joinSessionRisk(this.get(key), remote, this.deps.halfLifeMs(r.tenant_id)));
      },
      // The store keeps the sessions (bounded); the view need not hold every key the topic ever had.
      { retain: false },
    );
  }

  /** Closes the view; `publishPending` first, before the publisher drains. */
  async stop(): Promise<void> {
    await this.view?.close();
  }

  override set(key: string, session: SessionRisk): void {
    super.set(key, session);
    if (this.dirty.size === 0) setImmediate(() => this.publishPending());
    this.dirty.add(key);
  }

  /** Queues the latest state of each session decided since the last call. */
  publishPending(): void {
    for (const key of this.dirty) {
      const session = this.get(key);
      if (!session) continue;
      const [tenantId, agentId, sessionId] = SessionStore.ids(key);
      const record: SessionRiskRecord = {
        tenant_id: tenantId,
        agent_id: agentId,
        session_id: sessionId,
        risk: session.risk,
        blocked: session.blocked,
        calls: session.calls,
        updated_at: session.updatedAtMs,
      };
      this.deps.publisher.enqueue(
        this.deps.topic,
        this.deps.codec.encode('thoth.v1.SessionRisk', key, record),
      );
    }
    this.dirty.clear();
  }
}
