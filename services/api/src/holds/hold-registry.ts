import type { ApprovalVote, HoldRecord } from '@thoth/contracts';
import { agentKey, urlSafeToken } from '@thoth/contracts';
import type { AvroCodec, Bus, CompactedView, Logger } from '@thoth/platform';
import type { BackgroundPublisher } from '../background-publisher.ts';
import { type Principal, principalRecord } from '../http/principal.ts';
import { addsOneVote, sameState, voteRefusal, votesOf, withVote } from './approval-rules.ts';

export type NewHold = Omit<
  HoldRecord,
  'token' | 'status' | 'created_at' | 'expires_at' | 'resolved_at' | 'resolved_by' | 'comment' | 'votes'
>;

export class HoldConflictError extends Error {
  override name = 'HoldConflictError';
}

/** This principal may not vote on this hold (separation of duties, approver groups, one person once). */
export class HoldVoteRefusedError extends Error {
  override name = 'HoldVoteRefusedError';
}

/** How often a vote that lost the topic's compare-and-set to another vote is tried again on the newer state. */
const VOTE_ATTEMPTS = 5;

/** A resolution was published but did not come back through the approvals topic in time: its outcome is unknown. */
export class HoldUnconfirmedError extends Error {
  override name = 'HoldUnconfirmedError';
}

/** Names the resolution a Hold message carries, so the replica that published it can tell whether it won. */
const RESOLUTION_HEADER = 'thoth-resolution-id';

/**
 * STEP_UP holds, shared by every API replica through the compacted approvals topic (keyed by token).
 * A replica answers polls from memory; a resolution made anywhere reaches it through the topic.
 * An expired pending hold resolves to BLOCK on the first poll after its expiry.
 *
 * Resolving is a compare-and-set on the topic: every replica applies the topic in order and takes a hold's
 * first resolution there (approved, denied or expired) as its last word, ignoring any later one. A replica
 * that publishes a resolution waits until its own message comes back through the topic and so learns, like
 * every other replica, whether it won; only the winner goes to the audit trail. Two replicas that resolve the
 * same hold at once thus agree on one winner, and the other request is answered 409.
 *
 * Votes (a hold may need several approvers) are linearized the same way: a record adding a vote counts only if it
 * extends, by exactly that vote, the votes the topic had applied before it. A vote that loses to another vote is
 * checked again against the newer state (the same person may have voted meanwhile, or the hold resolved) and
 * published again; the hold resolves at its required approvals, its first denial, or its expiry.
 */
export class HoldRegistry {
  /** Each hold as the topic ordered its records: pending, then its first resolution. */
  private readonly holds = new Map<string, HoldRecord>();
  /** The resolution id of the record that resolved each hold (to publish it again, see `repair`). */
  private readonly winners = new Map<string, string>();
  private readonly tokenByApproval = new Map<string, string>();
  /** Pending holds this replica found past their expiry: answered expired until the topic resolves them. */
  private readonly expiredHere = new Map<string, HoldRecord>();
  /** Resolutions this replica published, by resolution id: told whether they won once the topic applied them. */
  private readonly outcomes = new Map<string, (won: boolean) => void>();
  /** Votes of this replica on each hold, one after the other (the topic linearizes those of other replicas). */
  private readonly voting = new Map<string, Promise<unknown>>();
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
      /** How long a resolution waits for its own message to come back through the topic. */
      confirmTimeoutMs?: number;
    },
  ) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  async start(): Promise<void> {
    this.view = await this.deps.bus.openView(this.deps.topic, (token, value, headers) => {
      if (value === null) {
        this.holds.delete(token);
        this.winners.delete(token);
        return;
      }
      const decoded = this.deps.codec.decode({ value, headers });
      if (decoded.ok && decoded.schema === 'thoth.v1.Hold')
        this.apply(decoded.value, headers[RESOLUTION_HEADER] ?? '');
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
      votes: [],
    };
    // Pending is safe to know before the topic has it: it never overrides a resolution.
    this.apply(hold, '');
    this.deps.publisher.enqueue(this.deps.topic, this.deps.codec.encode('thoth.v1.Hold', hold.token, hold));
    this.deps.publisher.enqueue(this.deps.eventsTopic, this.auditEvent(hold));
    return hold;
  }

  /**
   * The hold as a poll must see it: a pending hold past its expiry is expired. The expiry is published like any
   * resolution (once per replica); if an approval or denial came first on the topic, that one stands.
   */
  get(token: string): HoldRecord | undefined {
    const hold = this.holds.get(token);
    if (hold?.status !== 'pending' || hold.expires_at > this.now()) return hold;
    const known = this.expiredHere.get(token);
    if (known) return known;
    const expired: HoldRecord = {
      ...hold,
      status: 'expired',
      resolved_at: this.now(),
      resolved_by: 'system:expiry',
    };
    this.expiredHere.set(token, expired);
    const id = urlSafeToken(16);
    this.outcomes.set(id, (won) => {
      if (won) this.deps.publisher.enqueue(this.deps.eventsTopic, this.auditEvent(expired));
      // A vote came first on the topic: the next poll expires the hold as it now stands.
      else this.expiredHere.delete(token);
    });
    this.deps.publisher.enqueue(this.deps.topic, this.encode(expired, id));
    return expired;
  }

  /**
   * Resolves a pending hold outright with one vote (`resolvedBy` a principal, or an operator's label): for holds
   * that need one approval. See `vote`.
   */
  async resolve(
    token: string,
    status: 'approved' | 'denied',
    resolvedBy: Principal | string,
    comment: string | null,
  ): Promise<HoldRecord> {
    return this.vote(token, {
      principal: resolvedBy,
      decision: status === 'approved' ? 'approve' : 'deny',
      comment,
    });
  }

  /**
   * Records one vote on a pending hold (the approvals API calls this): durable and confirmed on the topic before
   * it returns, with the hold as it stands after it (still pending when more approvals are needed).
   * HoldVoteRefusedError when this principal may not vote; HoldConflictError when the hold is resolved already;
   * HoldUnconfirmedError when the topic did not bring the vote back in time.
   */
  async vote(
    token: string,
    input: { principal: Principal | string; decision: 'approve' | 'deny'; comment: string | null },
  ): Promise<HoldRecord> {
    this.pendingHold(token);
    // Votes of this replica on one hold go one after the other; each then races only other replicas' votes.
    const previous = this.voting.get(token) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.voteOnce(token, input));
    this.voting.set(token, mine);
    try {
      return await mine;
    } finally {
      if (this.voting.get(token) === mine) this.voting.delete(token);
    }
  }

  private async voteOnce(
    token: string,
    input: { principal: Principal | string; decision: 'approve' | 'deny'; comment: string | null },
  ): Promise<HoldRecord> {
    // The hold's pending record may still be queued: it must reach the topic first, or the compacted topic
    // would keep "pending" as the hold's last word.
    await this.deps.publisher.settle();
    for (let attempt = 1; ; attempt++) {
      // Resolved meanwhile through the topic: no need to publish a vote that cannot count.
      const hold = this.pendingHold(token);
      const refused = voteRefusal(hold, input.principal);
      if (refused) throw new HoldVoteRefusedError(refused);
      const vote: ApprovalVote = {
        vote_id: urlSafeToken(16),
        principal: principalRecord(input.principal),
        decision: input.decision,
        comment: input.comment,
        at: this.now(),
        args_digest: hold.args_digest,
        policy_version: hold.policy_version ?? 0,
      };
      const next = withVote(hold, vote);
      const id = urlSafeToken(16);
      // Waiting before publishing: the in-process bus applies a message before `publish` resolves. A win that
      // comes back after the request stopped waiting still reaches the audit trail.
      const outcome = this.outcomeOf(id, () =>
        this.deps.publisher.enqueue(this.deps.eventsTopic, this.auditEvent(next)),
      );
      try {
        await this.deps.bus.publish(this.deps.topic, [this.encode(next, id)]);
      } catch (error) {
        outcome.cancel();
        throw error;
      }
      if (!(await outcome.won)) {
        // Another vote (or the expiry) came first on the topic: decide again on what it left.
        if (attempt < VOTE_ATTEMPTS) continue;
        throw new HoldConflictError('the approval kept changing while voting; read it and vote again');
      }
      // Only votes that counted go to the audit trail: it holds each vote and one resolution per hold. The vote
      // is durable on the approvals topic already; if the trail's publish fails, the publisher retries it.
      try {
        await this.deps.bus.publish(this.deps.eventsTopic, [this.auditEvent(next)]);
      } catch (error) {
        this.deps.log.warn({ err: error, token }, 'vote audit event: publish failed, queued for retry');
        this.deps.publisher.enqueue(this.deps.eventsTopic, this.auditEvent(next));
      }
      return next;
    }
  }

  byApprovalId(approvalId: string): HoldRecord | undefined {
    const token = this.tokenByApproval.get(approvalId);
    return token === undefined ? undefined : this.get(token);
  }

  /**
   * Pending holds per tenant, not yet past their expiry, in one pass with no side effect (for /metrics: a scrape
   * must neither publish expiries nor cost more than reading the map once).
   */
  pendingCounts(): Map<string, number> {
    const now = this.now();
    const counts = new Map<string, number>();
    for (const hold of this.holds.values())
      if (hold.status === 'pending' && hold.expires_at > now)
        counts.set(hold.tenant_id, (counts.get(hold.tenant_id) ?? 0) + 1);
    return counts;
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

  /** The hold if it is pending; else HoldConflictError. */
  private pendingHold(token: string): HoldRecord {
    const hold = this.get(token);
    if (!hold) throw new HoldConflictError(`no hold ${token}`);
    if (hold.status !== 'pending') throw new HoldConflictError(`hold is already ${hold.status}`);
    return hold;
  }

  /**
   * Whether resolution `id` won, once the topic brought it back (bounded: HoldUnconfirmedError after that;
   * `onLateWin` runs if it then wins after all).
   */
  private outcomeOf(id: string, onLateWin: () => void): { won: Promise<boolean>; cancel: () => void } {
    let timer: NodeJS.Timeout | undefined;
    const won = new Promise<boolean>((resolve, reject) => {
      this.outcomes.set(id, (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      });
      timer = setTimeout(() => {
        this.outcomes.set(id, (lateWin) => {
          if (lateWin) onLateWin();
        });
        reject(new HoldUnconfirmedError('the resolution was published but not confirmed in time'));
      }, this.deps.confirmTimeoutMs ?? 10_000);
    });
    return {
      won,
      cancel: () => {
        clearTimeout(timer);
        this.outcomes.delete(id);
      },
    };
  }

  /**
   * Applies one record of the approvals topic, in topic order (`resolutionId`: its RESOLUTION_HEADER, empty on
   * pending records and on records written before resolutions carried one). This is the compare-and-set every
   * replica runs alike: a record counts if it is the hold's first, adds exactly one vote to a pending hold, or
   * expires a pending hold whose votes it knew; a copy of the state already known counts as what it is.
   */
  private apply(hold: HoldRecord, resolutionId: string): void {
    const known = this.holds.get(hold.token);
    let won: boolean;
    if (known === undefined) won = true;
    else if (sameState(known, hold)) won = true;
    else if (known.status !== 'pending') won = false;
    else if (hold.status === 'expired') won = votesOf(known).length === votesOf(hold).length;
    else won = addsOneVote(known, hold);
    const changes = won && (known === undefined || !sameState(known, hold));
    if (changes) {
      this.holds.set(hold.token, hold);
      this.tokenByApproval.set(hold.approval_id, hold.token);
      this.winners.set(hold.token, resolutionId);
      if (hold.status !== 'pending') this.expiredHere.delete(hold.token);
    }
    const tell = this.outcomes.get(resolutionId);
    if (!tell) return;
    this.outcomes.delete(resolutionId);
    if (!won) this.repair(hold.token);
    tell(won);
  }

  /**
   * After a losing record of ours: the topic is compacted, and a replica that starts later reads only the hold's
   * last record there, which is now the loser. Publishing the state that stands again makes it the last word; if
   * that copy in turn arrives behind a newer vote, it loses too and is repaired the same way.
   * (A replica that dies between its loser and this repair leaves the loser last; the window is this one call.)
   */
  private repair(token: string): void {
    const winner = this.holds.get(token);
    if (!winner) return;
    const id = urlSafeToken(16);
    this.outcomes.set(id, () => {});
    this.deps.publisher.enqueue(this.deps.topic, this.encode(winner, id));
  }

  private encode(hold: HoldRecord, resolutionId: string) {
    return this.deps.codec.encode('thoth.v1.Hold', hold.token, hold, { [RESOLUTION_HEADER]: resolutionId });
  }

  /** The hold as an event of the audit trail (keyed by agent, like every event). */
  private auditEvent(hold: HoldRecord) {
    return this.deps.codec.encode('thoth.v1.Hold', agentKey(hold.tenant_id, hold.agent_id), hold);
  }
}
