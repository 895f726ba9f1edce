/**
 * Groups rows from concurrent partition batches into one insert, by size or time, whichever comes first:
 * ClickHouse prefers few large inserts. `add` resolves only when its rows are stored (or rejects when the
 * insert failed), so the caller commits its offsets after the rows are durable. One insert runs at a time.
 */
export class BatchingInserter<T> {
  private pending: Array<{ rows: T[]; resolve: () => void; reject: (e: unknown) => void }> = [];
  private pendingRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly insert: (rows: T[]) => Promise<void>,
    private readonly maxRows = 20_000,
    private readonly maxWaitMs = 100,
  ) {}

  add(rows: T[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ rows, resolve, reject });
      this.pendingRows += rows.length;
      if (this.pendingRows >= this.maxRows) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    if (batch.length === 0) return;
    this.running = this.running.then(async () => {
      try {
        await this.insert(batch.flatMap((b) => b.rows));
        for (const b of batch) b.resolve();
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    });
  }
}
