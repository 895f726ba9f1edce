import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export const formatTime = (ms: number) =>
  ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 23) : '—';

export function DecisionBadge({ decision }: { decision: string | null | undefined }) {
  if (!decision) return <span className="muted">—</span>;
  return <span className={`badge badge-${decision.toLowerCase()}`}>{decision}</span>;
}

/** Pretty JSON of something the API sent (already redacted by the server). */
export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <section aria-label={label}>
      <pre className="json">{JSON.stringify(value, null, 2)}</pre>
    </section>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p role="alert" className="error">
      {error instanceof Error ? error.message : String(error)}
    </p>
  );
}

/** Parses a JSON text field of a record ("…_json"), or gives it back as is. */
export function parseJsonField(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export interface Series {
  label: string;
  values: (number | null)[];
  color: string;
}

/**
 * A time-series chart (uPlot: ~50 KB, canvas, draws 100k points in milliseconds; picked over ECharts for size
 * and over Observable Plot for speed on live data). `x` in epoch seconds.
 */
export function TimeChart({
  x,
  series,
  height = 180,
  label,
  stepped = false,
}: {
  x: number[];
  series: Series[];
  height?: number;
  label: string;
  stepped?: boolean;
}) {
  const holder = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const shape = series.map((s) => `${s.label}:${s.color}`).join('|');
  // biome-ignore lint/correctness/useExhaustiveDependencies: rebuilt only when the series' shape changes
  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const opts: uPlot.Options = {
      width: Math.max(320, element.clientWidth),
      height,
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          ...(stepped ? { paths: uPlot.paths.stepped?.({ align: 1 }) } : {}),
        })),
      ],
      axes: [{ stroke: 'currentColor' }, { stroke: 'currentColor' }],
      legend: { show: true },
    };
    chart.current = new uPlot(opts, [x, ...series.map((s) => s.values)], element);
    const resize = new ResizeObserver(() =>
      chart.current?.setSize({ width: Math.max(320, element.clientWidth), height }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.current?.destroy();
      chart.current = null;
    };
  }, [shape, height, stepped]);
  useEffect(() => {
    chart.current?.setData([x, ...series.map((s) => s.values)]);
  }, [x, series]);
  return <div className="chart" ref={holder} role="img" aria-label={label} />;
}

export const DECISION_COLORS: Record<string, string> = {
  ALLOW: '#2e9d5b',
  BLOCK: '#d64545',
  STEP_UP: '#d99a1c',
  MODIFY: '#6b6bd6',
  DEFER: '#8a8a8a',
};
