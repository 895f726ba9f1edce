import { randomUUID } from 'node:crypto';
import type { SessionRiskRecord } from '@thoth/contracts';
import type { AvroCodec, Bus, CompactedView, Logger } from '@thoth/platform';
import type { BackgroundPublisher } from './background-publisher.ts';
import { decayedSessionRisk, type SessionRisk, sumSessionRisk } from './decision/index.ts';
import { type SessionRiskStore, SessionStore } from './session-store.ts';

export interface SharedSessionStoreDeps {
  bus: Bus;
  codec: AvroCodec;
  publisher: BackgroundPublisher;
  /** The compacted sessions topic. */
  topic: string;
  /** The tenant's session-risk half-life in force: contributions decay with it. */
  halfLifeMs: (tenantId: string) => number;
  log: Logger;
  /** This process's id on the topic (default: a new one per start). */
  replicaId?: string;
  max?: number;
}

/** A session as this replica knows it: what its own decisions added, and what each other replica's added. */
interface Entry {
  tenantId: string;
  own: SessionRisk | undefined;
  others: Map<string, SessionRisk> | undefined;
}

/**
 * Session risk that holds across API replicas. Each replica decides from memory, as one process does. What a
 * replica's decisions ADD to a session (its contribution: the risk added below the cap, decayed; its calls and
 * blocks) is published to the compacted sessions topic, keyed by session and replica, after the turn's answers
 * are written; every replica keeps the others' latest contributions and decides from the sum (`sumSessionRisk`).
 *
 * Decay is linear, so the sum is exactly the risk one process deciding every call would hold: a session whose
 * calls are spread over replicas escalates as on one, as long as its next call comes after the previous call's
 * update travelled (the bus's latency: docs/deploy.md). Calls decided at the same moment on two replicas each
 * see the session without the other, then both count. Each contribution has one writer, so compaction keeps its
 * latest value, a restarted replica reads every other's, and a replica's clock only stamps its own.
 */
export class SharedSessionStore implements SessionRiskStore {
  readonly replicaId: string;
  private readonly entries = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private view: CompactedView | undefined;

  /** How the topic keys of this replica's contributions end (`topicKey`). */
  private readonly ownKeySuffix: string;

  constructor(private readonly deps: SharedSessionStoreDeps) {
    this.replicaId = deps.replicaId ?? randomUUID();
    this.ownKeySuffix = `,${JSON.stringify(this.replicaId)}]`;
  }

  /** Reads the topic from its start (recent contributions of every replica), then follows it. */
  async start(): Promise<void> {
    this.view = await this.deps.bus.openView(
      this.deps.topic,
      (key, value, headers) => {
        // This replica's own contribution is in memory already (newer than anything it published): its echo is
        // recognised by the key's last element, without decoding it.
        if (value === null || key.endsWith(this.ownKeySuffix)) return;
        const decoded = this.deps.codec.decode({ value, headers });
        if (!decoded.ok || decoded.schema !== 'thoth.v1.SessionRisk') {
          this.deps.log.error(
            { key, reason: decoded.ok ? decoded.schema : decoded.reason },
            'unreadable session risk',
          );
          return;
        }
        const r = decoded.value;
        const sessionKey = SessionStore.key(r.tenant_id, r.agent_id, r.session_id);
        const entry = this.entry(sessionKey, r.tenant_id);
        entry.others ??= new Map();
        const known = entry.others.get(r.replica_id);
        if (known && known.updatedAtMs > r.updated_at) return;
        entry.others.set(r.replica_id, {
          risk: r.risk,
          blocked: r.blocked,
          calls: r.calls,
          updatedAtMs: r.updated_at,
        });
      },
      // This store keeps the sessions (bounded); the view need not hold every key the topic ever had.
      { retain: false },
    );
  }

  /** Closes the view; `publishPending` first, before the publisher drains. */
  async stop(): Promise<void> {
    await this.view?.close();
  }

  get(key: string): SessionRisk | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (!entry.others) return entry.own;
    const all = entry.own ? [entry.own, ...entry.others.values()] : entry.others.values();
    return sumSessionRisk(all, this.deps.halfLifeMs(entry.tenantId));
  }

  /**
   * Stores the session after a decision: `after` is the session's total as the decision left it, so this
   * replica's contribution grows by what the decision added to the total `get` gave it (called just before, in
   * the same turn: nothing runs in between).
   */
  set(key: string, after: SessionRisk): void {
    const before = this.get(key);
    const entry = this.entry(key);
    const halfLifeMs = this.deps.halfLifeMs(entry.tenantId);
    const own = entry.own;
    // Never back in time, whatever the clock says: decay would otherwise count some time twice.
    const at = Math.max(after.updatedAtMs, own?.updatedAtMs ?? Number.NEGATIVE_INFINITY);
    const added = Math.max(0, after.risk - decayedSessionRisk(before, after.updatedAtMs, halfLifeMs));
    entry.own = {
      risk: decayedSessionRisk(own, at, halfLifeMs) + added,
      blocked: (own?.blocked ?? 0) + Math.max(0, after.blocked - (before?.blocked ?? 0)),
      calls: (own?.calls ?? 0) + Math.max(0, after.calls - (before?.calls ?? 0)),
      updatedAtMs: at,
    };
    this.dirty.add(key);
  }

  /** Queues this replica's contribution to each session decided since the last call (Enforcer.publishPending). */
  publishPending(): void {
    for (const key of this.dirty) {
      const own = this.entries.get(key)?.own;
      if (!own) continue;
      const [tenantId, agentId, sessionId] = SessionStore.ids(key);
      const record: SessionRiskRecord = {
        tenant_id: tenantId,
        agent_id: agentId,
        session_id: sessionId,
        replica_id: this.replicaId,
        risk: own.risk,
        blocked: own.blocked,
        calls: own.calls,
        updated_at: own.updatedAtMs,
      };
      // The session's key (a JSON array) with this replica's id as its last element.
      const topicKey = `${key.slice(0, -1)}${this.ownKeySuffix}`;
      this.deps.publisher.enqueue(
        this.deps.topic,
        this.deps.codec.encode('thoth.v1.SessionRisk', topicKey, record),
      );
    }
    this.dirty.clear();
  }

  /** The session's entry, most recently used last; past `max` sessions the least recently used is forgotten. */
  private entry(key: string, tenantId?: string): Entry {
    let entry = this.entries.get(key);
    if (entry) this.entries.delete(key);
    else entry = { tenantId: tenantId ?? SessionStore.ids(key)[0], own: undefined, others: undefined };
    this.entries.set(key, entry);
    if (this.entries.size > (this.deps.max ?? 200_000)) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined && oldest !== key) this.entries.delete(oldest);
    }
    return entry;
  }
}
