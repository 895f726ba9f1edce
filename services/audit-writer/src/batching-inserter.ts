/**
 * The stages of storing one flush. Rows are gathered into a flush that `open` made (the caller writes into it
 * as they arrive); `prepare` of a flush runs while the flush before it is being stored (it builds on that flush
 * as if stored: see AuditWriter); `store` runs one flush at a time, in order.
 */
export interface FlushStages<G, P> {
  /** A new, empty flush to gather rows into. */
  open(): G;
  prepare(flush: G): Promise<P>;
  store(prepared: P): Promise<void>;
  /** A flush failed: every flush behind it is dropped too, so forget what was gathered or prepared on top of it. */
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
export class BatchingInserter<G, P> {
  private gathering: Flush<G> | undefined;
  private readonly queue: Array<Flush<G>> = [];
  private timer: NodeJS.Timeout | undefined;
  /** The gathering flush waited `maxWaitMs`: it goes as soon as the stages can take it. */
  private due = false;
  private preparing = false;
  /** The store of the last prepared flush (never rejects: a failure is handled inside). */
  private storing: Promise<void> = Promise.resolve();
  /** Bumped by every failure: a flush of an older epoch is dropped. */
  private epoch = 0;
  private lastError: unknown;
  /** When the last flush was cut (performance.now()). */
  private lastCutAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly stages: FlushStages<G, P>,
    private readonly maxRows = 20_000,
    private readonly maxWaitMs = 100,
    /**
     * A flush cut by time starts at least this long after the one before it was cut (by size, by time or by a
     * failure). Each insert has a cost of its own whatever its size (chDB: about 10 ms of CPU, a new part to
     * write and merge), so under a steady stream of rows a flush every `maxWaitMs` would spend most of the
     * store's CPU on that: this bounds the inserts a second instead. A row arriving after a quiet spell still
     * waits only `maxWaitMs`.
     */
    private readonly minIntervalMs = 0,
  ) {}

  /**
   * Lets `gather` write one batch's rows into the gathering flush (it answers how many it added), and resolves
   * once that flush is stored. A batch that added none still waits for its flush: rows it skipped as duplicates
   * of a flush not stored yet are durable only once that flush is, and flushes are stored in order.
   */
  add(gather: (flush: G) => number): Promise<void> {
    this.gathering ??= { epoch: this.epoch, content: this.stages.open(), rows: 0, waiters: [] };
    const flush = this.gathering;
    flush.rows += gather(flush.content!);
    return new Promise((resolve, reject) => {
      flush.waiters.push({ resolve, reject });
      if (flush.rows >= this.maxRows) {
        this.queue.push(this.cut()!);
        this.pump();
      } else {
        this.timer ??= setTimeout(
          () => {
            this.timer = undefined;
            this.due = true;
            this.pump();
          },
          Math.max(this.maxWaitMs, this.lastCutAt + this.minIntervalMs - performance.now()),
        );
      }
    });
  }

  private pump(): void {
    if (!this.preparing) void this.prepareQueued();
  }

  /** Ends the gathering flush. */
  private cut(): Flush<G> | undefined {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.due = false;
    const flush = this.gathering;
    this.gathering = undefined;
    if (flush) this.lastCutAt = performance.now();
    return flush;
  }

  /**
   * The next flush to prepare: a full one, or the one gathering once its wait is over. Rows gather on while
   * the stages are busy, so under load a flush holds what arrived during the store before it.
   */
  private next(): Flush<G> | undefined {
    if (this.queue.length > 0) return this.queue.shift();
    if (this.due && this.gathering) return this.cut();
    return undefined;
  }

  /** Prepares the queued flushes in order, each while the one before it is stored. */
  private async prepareQueued(): Promise<void> {
    this.preparing = true;
    for (let flush = this.next(); flush; flush = this.next()) {
      if (this.dropIfStale(flush)) continue;
      let prepared: P;
      try {
        prepared = await this.stages.prepare(flush.content!);
        // The prepared flush is all its store needs: what was gathered need not live (and be moved by the
        // garbage collector) until it is stored.
        flush.content = undefined;
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

  private dropIfStale(flush: Flush<G>): boolean {
    if (flush.epoch === this.epoch) return false;
    for (const w of flush.waiters) w.reject(this.lastError);
    return true;
  }

  private fail(flush: Flush<G>, error: unknown): void {
    this.epoch++;
    this.lastError = error;
    this.stages.reset();
    for (const w of flush.waiters) w.reject(error);
    // Rows still gathering were added before the failure: behind it in their partitions.
    for (const w of this.cut()?.waiters ?? []) w.reject(error);
  }
}

interface Flush<G> {
  epoch: number;
  /** What was gathered; let go once prepared. */
  content: G | undefined;
  rows: number;
  waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
}
