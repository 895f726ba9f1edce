import { redeliveryDelayMs } from './bus.ts';

/**
 * One partition's batches between "handed to the handler" and "committed", shared by both bus adapters so they
 * pipeline, commit and rewind alike (SubscribeOptions.maxInFlightBatches).
 *
 * - Handlers start in offset order, at most `limit` unsettled at once.
 * - Offsets commit in order: a batch commits once it and every batch before it resolved. Commits run one at a
 *   time; a failed commit is reported and the next one covers it (at-least-once: the offset only ever claims
 *   batches whose handlers resolved).
 * - When a handler throws, no batch at or after the first failed one commits, and no new handler starts. The
 *   adapter waits until every handler settled (`settled()`) and `retryDelayMs`, then rewinds its read position
 *   to `failure.offset` and calls `reset()`: the failed batch and everything after it is delivered again, in
 *   order. The delay doubles with each rewind until a handler resolves again.
 */
/** Lanes made by this process: a lane's number makes its deliveries' tokens unique (a reassigned partition). */
let lanesMade = 0;

export class PartitionLane {
  private readonly queue: Entry[] = [];
  private readonly laneNumber = ++lanesMade;
  /** Rewinds of this lane so far: the batches of one delivery are those handed over between two rewinds. */
  private deliveries = 0;
  private committing: Promise<void> = Promise.resolve();
  private earliestFailure: { entry: Entry; error: unknown } | undefined;
  private nextSeq = 0;
  /** Rewinds since a handler last resolved. */
  private rewinds = 0;
  /** Commits scheduled and not done yet. */
  private pendingCommits = 0;

  constructor(
    private readonly limit: number,
    /** Commits "everything before `nextOffset` is handled". */
    private readonly commit: (nextOffset: string) => Promise<void>,
    private readonly onCommitError: (error: unknown) => void,
    /** Told whenever a handler settles (an adapter's loop may be waiting for a failure). */
    private readonly onSettle: () => void,
    /** False once the subscription stops: no handler starts after that. */
    private readonly active: () => boolean,
  ) {}

  /** The token of the batches handed over now (Batch.delivery): it changes with every rewind. */
  get delivery(): string {
    return `${this.laneNumber}.${this.deliveries}`;
  }

  /** The first failed batch (in offset order) since the last reset, and why. */
  get failure(): { offset: string; error: unknown } | undefined {
    const f = this.earliestFailure;
    return f && { offset: f.entry.firstOffset, error: f.error };
  }

  /** A handler is running, or a commit it earned is under way: the partition must not move to another member. */
  get busy(): boolean {
    return this.queue.length > 0 || this.pendingCommits > 0;
  }

  /** How long to wait before delivering the failed batch again. */
  get retryDelayMs(): number {
    return redeliveryDelayMs(this.rewinds);
  }

  /**
   * Waits for room (fewer than `limit` unsettled handlers; with a limit of 1, also for the commit before), then
   * starts `handle` for the batch of offsets `firstOffset..lastOffset`. False when it did not start it: a
   * batch failed, so this one will be delivered again after the rewind; or the subscription stopped.
   */
  async start(firstOffset: string, lastOffset: string, handle: () => Promise<void>): Promise<boolean> {
    while (this.queue.length >= this.limit && !this.earliestFailure && this.active()) {
      await this.queue[0]!.done;
      await this.committing;
    }
    if (this.earliestFailure || !this.active()) return false;
    const entry: Entry = { seq: this.nextSeq++, firstOffset, lastOffset, state: 'running', done: undefined! };
    this.queue.push(entry);
    entry.done = handle().then(
      () => this.settle(entry, undefined, false),
      (error: unknown) => this.settle(entry, error, true),
    );
    return true;
  }

  /** Resolves once every started handler settled and every commit they earned is done. */
  async settled(): Promise<void> {
    // All of them: a later batch may have settled while an earlier one still runs.
    while (this.queue.length > 0) await Promise.all(this.queue.map((entry) => entry.done));
    await this.committing;
  }

  /** After the adapter rewound to `failure.offset` (every handler settled): start afresh. */
  reset(): void {
    if (this.queue.length > 0) throw new Error('PartitionLane.reset with handlers still running');
    if (this.earliestFailure) this.rewinds++;
    this.earliestFailure = undefined;
    this.deliveries++;
  }

  private settle(entry: Entry, error: unknown, failed: boolean): void {
    entry.state = failed ? 'failed' : 'resolved';
    if (!failed) this.rewinds = 0;
    if (failed && (!this.earliestFailure || entry.seq < this.earliestFailure.entry.seq))
      this.earliestFailure = { entry, error };
    // Commit the resolved prefix; stop at the first batch still running or at a failure.
    let committable: Entry | undefined;
    while (this.queue.length > 0 && this.queue[0]!.state !== 'running') {
      const head = this.queue.shift()!;
      if (this.earliestFailure && head.seq >= this.earliestFailure.entry.seq) continue;
      committable = head;
    }
    if (committable) {
      const next = (BigInt(committable.lastOffset) + 1n).toString();
      this.pendingCommits++;
      this.committing = this.committing
        .then(() => this.commit(next))
        .catch(this.onCommitError)
        .finally(() => {
          this.pendingCommits--;
        });
    }
    this.onSettle();
  }
}

interface Entry {
  seq: number;
  firstOffset: string;
  lastOffset: string;
  state: 'running' | 'resolved' | 'failed';
  done: Promise<void>;
}
