/** Decisions per minute by outcome, for the overview chart. Pure: tested without a browser. */
export const OUTCOMES = ['ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY', 'DEFER'] as const;

export interface PerMinute {
  /** Minute starts, epoch seconds, ascending, no gaps. */
  minutes: number[];
  counts: Record<(typeof OUTCOMES)[number], number[]>;
}

export function decisionsPerMinute(
  decisions: readonly { at: number; decision: string | null }[],
  nowMs: number,
  spanMinutes = 30,
): PerMinute {
  const last = Math.floor(nowMs / 60_000);
  const first = last - spanMinutes + 1;
  const minutes = Array.from({ length: spanMinutes }, (_, i) => (first + i) * 60);
  const counts = Object.fromEntries(
    OUTCOMES.map((o) => [o, new Array<number>(spanMinutes).fill(0)]),
  ) as PerMinute['counts'];
  for (const d of decisions) {
    const slot = Math.floor(d.at / 60_000) - first;
    const outcome = d.decision as (typeof OUTCOMES)[number] | null;
    if (slot < 0 || slot >= spanMinutes || !outcome || !(outcome in counts)) continue;
    counts[outcome][slot] = (counts[outcome][slot] ?? 0) + 1;
  }
  return { minutes, counts };
}
