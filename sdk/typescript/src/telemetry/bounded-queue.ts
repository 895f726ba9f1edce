/**
 * FIFO with a hard size bound. When full, the oldest item is dropped and counted: an agent whose telemetry
 * sink is down must keep running with flat memory, and the newest events are the most useful ones. Pure.
 */
export class BoundedQueue<T> {
  private items: T[] = [];
  dropped = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length;
  }

  /** Appends; returns how many old items were dropped to make room. */
  push(item: T): number {
    this.items.push(item);
    return this.trim();
  }

  /** Removes and returns up to `max` items from the front. */
  take(max: number): T[] {
    return this.items.splice(0, max);
  }

  /** Puts a batch that failed to send back in front, keeping its order; the bound still holds. */
  requeue(batch: readonly T[]): number {
    this.items = [...batch, ...this.items];
    return this.trim();
  }

  private trim(): number {
    const excess = this.items.length - this.capacity;
    if (excess <= 0) return 0;
    this.items.splice(0, excess);
    this.dropped += excess;
    return excess;
  }
}
