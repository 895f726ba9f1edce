import { useEffect, useId, useMemo, useRef, useSyncExternalStore } from 'react';
import uPlot from 'uplot';
import {
  BAND_SIGMAS,
  type Quantiles,
  quantileBars,
  quantileSummary,
  type RateSeries,
  rateSummary,
} from './lib/chart-model.ts';

/** The theme on <html> (data-theme): charts draw on a canvas, so they are rebuilt with its colors. */
function subscribeTheme(onChange: () => void) {
  const observer = new MutationObserver(onChange);
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
  return () => observer.disconnect();
}
const themeName = () => document.documentElement.dataset.theme ?? 'light';
export const useThemeName = () => useSyncExternalStore(subscribeTheme, themeName);

interface Palette {
  text: string;
  muted: string;
  grid: string;
  accent: string;
  bad: string;
  ok: string;
}

function palette(element: Element): Palette {
  const style = getComputedStyle(element);
  const v = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    text: v('--text', '#1b1f24'),
    muted: v('--muted', '#5d6670'),
    grid: v('--border', '#d8dde3'),
    accent: v('--accent', '#2456c7'),
    bad: v('--bad', '#b42323'),
    ok: v('--ok', '#1f7a45'),
  };
}

/** Whether this DOM draws on a canvas (a test DOM does not: uPlot would fail drawing, after its constructor). */
let canvasWorks: boolean | undefined;
const canDraw = () => {
  canvasWorks ??= document.createElement('canvas').getContext('2d') !== null;
  return canvasWorks;
};

/** A 6-digit hex color with an alpha (canvas takes #rrggbbaa); other forms as they are. */
const withAlpha = (color: string, alpha: string) =>
  /^#[0-9a-f]{6}$/i.test(color) ? `${color}${alpha}` : color;

/**
 * A uPlot chart in a div, built with the theme's colors and rebuilt when the theme or `shape` changes; new data
 * is drawn in place. Where no canvas exists (a test DOM), nothing is drawn and the text summary stands alone.
 */
function Plot({
  options,
  data,
  shape,
  height,
  label,
  summaryId,
}: {
  options: (p: Palette, width: number) => uPlot.Options;
  data: uPlot.AlignedData;
  shape: string;
  height: number;
  label: string;
  summaryId: string;
}) {
  const holder = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const theme = useThemeName();
  // biome-ignore lint/correctness/useExhaustiveDependencies: rebuilt only for a new theme, shape or height
  useEffect(() => {
    const element = holder.current;
    if (!element || !canDraw()) return;
    const width = () => Math.max(240, element.clientWidth);
    let plot: uPlot;
    try {
      plot = new uPlot(options(palette(element), width()), data, element);
    } catch {
      element.replaceChildren();
      return;
    }
    chart.current = plot;
    const resize =
      typeof ResizeObserver === 'undefined'
        ? undefined
        : new ResizeObserver(() => plot.setSize({ width: width(), height }));
    resize?.observe(element);
    return () => {
      resize?.disconnect();
      plot.destroy();
      chart.current = null;
    };
  }, [theme, shape, height]);
  useEffect(() => {
    chart.current?.setData(data);
  }, [data]);
  return <div className="chart" ref={holder} role="img" aria-label={label} aria-describedby={summaryId} />;
}

/** Calls per rate window over time, against the baseline's usual band (shaded between its low and high). */
export function RateBandChart({ series, height = 200 }: { series: RateSeries; height?: number }) {
  const summaryId = useId();
  const summary = rateSummary(series);
  const empty = series.calls.every((c) => c === null);
  const data = useMemo<uPlot.AlignedData>(() => [series.x, series.low, series.high, series.calls], [series]);
  return (
    <figure className="chart-figure" data-testid="rate-chart">
      {!empty && (
        <Plot
          label={`Call rate against the baseline band. ${summary}`}
          summaryId={summaryId}
          height={height}
          shape="rate"
          data={data}
          options={(p, width) => ({
            width,
            height,
            scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
            series: [
              {},
              { label: 'usual low', stroke: withAlpha(p.ok, '99'), width: 1, dash: [4, 4] },
              { label: 'usual high', stroke: withAlpha(p.ok, '99'), width: 1, dash: [4, 4] },
              { label: 'calls', stroke: p.accent, width: 2, spanGaps: false },
            ],
            bands: [{ series: [2, 1], fill: withAlpha(p.ok, '2e') }],
            axes: [
              { stroke: p.muted, grid: { stroke: p.grid, width: 1 }, ticks: { stroke: p.grid } },
              {
                stroke: p.muted,
                grid: { stroke: p.grid, width: 1 },
                ticks: { stroke: p.grid },
                label: `calls / ${series.windowSeconds} s`,
              },
            ],
            legend: { show: true },
          })}
        />
      )}
      <figcaption id={summaryId} className="muted small" data-testid="rate-summary">
        {summary}
        {series.learnedWindows > 0 ? ` Shaded: the usual band, mean ± ${BAND_SIGMAS}σ.` : ''}
      </figcaption>
    </figure>
  );
}

/** A numeric argument's distribution: one bar per quantile the baseline gives (min, median, p90, p99, max). */
export function QuantileChart({
  name,
  quantiles,
  height = 140,
}: {
  name: string;
  quantiles: Quantiles;
  height?: number;
}) {
  const summaryId = useId();
  const summary = quantileSummary(name, quantiles);
  const { labels, values } = useMemo(() => quantileBars(quantiles), [quantiles]);
  const data = useMemo<uPlot.AlignedData>(() => [labels.map((_, i) => i), values], [labels, values]);
  return (
    <figure className="chart-figure" data-testid="quantile-chart">
      {values.length > 0 && (
        <Plot
          label={`Distribution of ${name}. ${summary}`}
          summaryId={summaryId}
          height={height}
          shape={labels.join(',')}
          data={data}
          options={(p, width) => ({
            width: Math.min(width, 420),
            height,
            legend: { show: false },
            scales: {
              x: { time: false, range: [-0.5, labels.length - 0.5] },
              y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
            },
            series: [
              {},
              {
                label: name,
                stroke: p.accent,
                fill: withAlpha(p.accent, '66'),
                width: 1,
                paths: uPlot.paths.bars?.({ size: [0.6, 48] }),
                points: { show: false },
              },
            ],
            axes: [
              {
                stroke: p.muted,
                grid: { show: false },
                ticks: { stroke: p.grid },
                splits: () => labels.map((_, i) => i),
                values: (_u, splits) => splits.map((i) => labels[i] ?? ''),
              },
              {
                stroke: p.muted,
                grid: { stroke: p.grid, width: 1 },
                ticks: { stroke: p.grid },
                // Wide enough for the longest label (argument values run to millions).
                size: (_u, values) => 18 + 7 * Math.max(3, ...(values ?? []).map((v) => String(v).length)),
              },
            ],
          })}
        />
      )}
      <figcaption id={summaryId} className="muted small" data-testid="quantile-summary">
        {summary}
      </figcaption>
    </figure>
  );
}
