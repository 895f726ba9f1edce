/**
 * Timestamps for one session's events that strictly increase. The audit trail stores milliseconds, and a
 * fast tool's PRE and POST often fall in the same millisecond; ordering by `occurred_at` must still show
 * PRE before POST.
 */
export class EventClock {
  private last = 0;

  constructor(private readonly now: () => number = Date.now) {}

  next(): Date {
    this.last = Math.max(this.now(), this.last + 1);
    return new Date(this.last);
  }
}
