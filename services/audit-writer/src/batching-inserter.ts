/**
 * The two stages of storing one flush. `prepare` of a flush runs while the flush before it is being stored
 * (it builds on that flush as if stored: see AuditWriter); `store` runs one flush at a time, in order.
 */
export interface FlushStages<T, P> {
  prepare(rows: T[]): Promise<P>;
  store(prepared: P): Promise<void>;
  /** A flush failed: every flush behind it is dropped too, so forget what was prepared on top of it. */
  reset(): void;
}

/**
 * Groups rows from concurrent partition batches into flushes, by size or time, whichever comes first:
 * ClickHouse prefers few large inserts. `add` resolves only when its rows are stored (or rejects when their
 * flush failed), so the caller commits its offsets after the rows are durable.
 *
 * Flushes are pipelined: while one is stored, the next is prepared. A failure fails every flush already
 * queued or gathering behind it, without storing them: they were prepared on top of the failed one, and their
 * rows come after its rows in their partitions, which the bus delivers again from the failed batch on. Rows
 * added after the failure start afresh.
 */
export class BatchingInserter<T, P> {
  private gathering: Flush<T> = newFlush(0);
  private readonly queue: Array<Flush<T>> = [];
  private timer: NodeJS.Timeout | undefined;
  /** The gathering flush waited `maxWaitMs`: it goes as soon as the stages can take it. */
  private due = false;
  private preparing = false;
  /** The store of the last prepared flush (never rejects: a failure is handled inside). */
  private storing: Promise<void> = Promise.resolve();
  /** Bumped by every failure: a flush of an older epoch is dropped. */
  private epoch = 0;
  private lastError: unknown;

  constructor(
    private readonly stages: FlushStages<T, P>,
    private readonly maxRows = 20_000,
    private readonly maxWaitMs = 100,
  ) {}

  add(rows: T[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const flush = this.gathering;
      flush.rows.push(...rows);
      flush.waiters.push({ resolve, reject });
      if (flush.rows.length >= this.maxRows) {
        this.queue.push(this.cut());
        this.pump();
      } else {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.due = true;
          this.pump();
        }, this.maxWaitMs);
      }
    });
  }

  private pump(): void {
    if (!this.preparing) void this.prepareQueued();
  }

  /** Ends the gathering flush. */
  private cut(): Flush<T> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.due = false;
    const flush = this.gathering;
    this.gathering = newFlush(this.epoch);
    return flush;
  }

  /**
   * The next flush to prepare: a full one, or the one gathering once its wait is over. Rows gather on while
   * the stages are busy, so under load a flush holds what arrived during the store before it.
   */
  private next(): Flush<T> | undefined {
    if (this.queue.length > 0) return this.queue.shift();
    if (this.due && this.gathering.waiters.length > 0) return this.cut();
    return undefined;
  }

  /** Prepares the queued flushes in order, each while the one before it is stored. */
  private async prepareQueued(): Promise<void> {
    this.preparing = true;
    for (let flush = this.next(); flush; flush = this.next()) {
      if (this.dropIfStale(flush)) continue;
      let prepared: P;
      try {
        prepared = await this.stages.prepare(flush.rows);
        // The prepared flush is all its store needs: the rows need not live (and be moved by the garbage
        // collector) until it is stored.
        flush.rows = [];
      } catch (error) {
        await this.storing;
        // Dropped already if the store before it failed meanwhile: that failure stands for both.
        if (!this.dropIfStale(flush)) this.fail(flush, error);
        continue;
      }
      const previous = this.storing;
      const current = flush;
      this.storing = (async () => {
        await previous;
        if (this.dropIfStale(current)) return;
        try {
          await this.stages.store(prepared);
        } catch (error) {
          this.fail(current, error);
          return;
        }
        for (const w of current.waiters) w.resolve();
      })();
      // One flush stored and one prepared at a time: prepare the next once this one's turn to store came.
      await previous;
    }
    this.preparing = false;
  }

  private dropIfStale(flush: Flush<T>): boolean {
    if (flush.epoch === this.epoch) return false;
    for (const w of flush.waiters) w.reject(this.lastError);
    return true;
  }

  private fail(flush: Flush<T>, error: unknown): void {
    this.epoch++;
    this.lastError = error;
    this.stages.reset();
    for (const w of flush.waiters) w.reject(error);
    // Rows still gathering were added before the failure: behind it in their partitions.
    for (const w of this.cut().waiters) w.reject(error);
  }
}

interface Flush<T> {
  epoch: number;
  rows: T[];
  waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
}

function newFlush<T>(epoch: number): Flush<T> {
  return { epoch, rows: [], waiters: [] };
}
