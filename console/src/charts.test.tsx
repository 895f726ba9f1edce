import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { QuantileChart, RateBandChart } from './charts.tsx';
import { callRateSeries, quantileBars, rateSummary } from './lib/chart-model.ts';

const END = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('RateBandChart', () => {
  it('charts calls per window against the band, with the key figures for screen readers', () => {
    // 3 calls in the last window, 12 in the one before (a spike), one earlier.
    const times = [
      ...Array.from({ length: 3 }, (_, i) => END - 1_000 - i),
      ...Array.from({ length: 12 }, (_, i) => END - 11_000 - i),
      END - 300_000,
    ];
    const series = callRateSeries(times, { mean: 2, stddev: 1 }, 10, END - 1, 60);
    render(<RateBandChart series={series} />);
    const chart = screen.getByRole('img');
    expect(chart.getAttribute('aria-label')).toContain('Call rate against the baseline band');
    const summary = screen.getByTestId('rate-summary').textContent ?? '';
    expect(summary).toContain('latest 3, peak 12');
    expect(summary).toContain('usual band 0–4 calls per 10 s window (mean 2 ± 2σ)');
    expect(summary).toContain('1 window above the band');
    expect(chart.getAttribute('aria-describedby')).toBe(screen.getByTestId('rate-summary').id);
  });

  it('with no calls: still the band, and says there were none', () => {
    render(<RateBandChart series={callRateSeries([], { mean: 5, stddev: 2 }, 10, END, 30)} />);
    expect(screen.getByRole('img')).toBeTruthy();
    expect(screen.getByTestId('rate-summary').textContent).toContain('No calls in the last 30 windows');
  });

  it('while the baseline has learned no rate window: no band, and says so', () => {
    render(
      <RateBandChart
        series={callRateSeries([END - 1_000], { mean: 0, stddev: 0, windows: 0 }, 10, END - 1, 10)}
      />,
    );
    const summary = screen.getByTestId('rate-summary').textContent ?? '';
    expect(summary).toContain('latest 1, peak 1; no usual band yet');
    expect(summary).not.toContain('above the band');
    expect(summary).not.toContain('Shaded');
  });

  it('with nothing known (every window cut off): no chart, only the text', () => {
    const series = callRateSeries([END], { mean: 1, stddev: 0 }, 10, END, 5, true);
    expect(series.calls.every((c) => c === null)).toBe(true);
    render(<RateBandChart series={series} />);
    expect(screen.queryByRole('img')).toBeNull();
    expect(screen.getByTestId('rate-summary').textContent).toContain('No calls in the last 0 windows');
  });
});

describe('QuantileChart', () => {
  it('charts a numeric argument’s quantiles, described in text', () => {
    render(
      <QuantileChart
        name="wire · amount"
        quantiles={{ samples: 40, min: 1, p50: 20, p90: 95.5, p99: 400, max: 9000 }}
      />,
    );
    expect(screen.getByRole('img').getAttribute('aria-label')).toContain('Distribution of wire · amount');
    expect(screen.getByTestId('quantile-summary').textContent).toBe(
      'wire · amount: 40 samples; min 1, median 20, p90 95.5, p99 400, max 9000.',
    );
  });

  it('without samples: no chart, and says so', () => {
    render(<QuantileChart name="wire · amount" quantiles={{ samples: 0 }} />);
    expect(screen.queryByRole('img')).toBeNull();
    expect(screen.getByTestId('quantile-summary').textContent).toBe('wire · amount: no samples yet.');
  });
});

describe('chart models', () => {
  it('bucket calls into windows, leaving windows before a cut-off read unknown', () => {
    const s = callRateSeries(
      [END - 25_000, END - 5_000, END - 4_000],
      { mean: 1, stddev: 1 },
      10,
      END - 1,
      4,
      true,
    );
    expect(s.x).toEqual([END / 1000 - 40, END / 1000 - 30, END / 1000 - 20, END / 1000 - 10]);
    expect(s.calls).toEqual([null, null, 0, 2]);
    expect(s.low[0]).toBe(0);
    expect(s.high[0]).toBe(3);
    expect(rateSummary(s)).toContain('over the last 2 windows');
  });

  it('quantile bars skip what the API left out', () => {
    expect(quantileBars({ samples: 3, min: 1, max: 5 })).toEqual({ labels: ['min', 'max'], values: [1, 5] });
  });
});
