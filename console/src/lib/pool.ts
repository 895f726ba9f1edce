/**
 * Runs `work` over `items` with at most `concurrency` at a time, in order of the list; a failed item does not
 * stop the others. Stops starting new items once `signal` aborts. Pure (no React): tested without a browser.
 */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<unknown>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length && !signal?.aborted) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch {
        // the item's own state (a query's error) reports it
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
}
