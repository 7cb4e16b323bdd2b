// A line chart of metric series (server-downsampled), drawn with ECharts loaded on first use so
// that it stays out of the initial JavaScript.
import { useMemo } from 'react';
import type { Schemas } from '../api/client';
import { useEChart } from '../app/useEChart';

type Series = Schemas['MetricSeriesView'];

/** `x`: the optimizer step (training curves) or the point's time (usage). */
export function MetricChart({ series, label, height = 260, x = 'step' }: { series: Series[]; label: string; height?: number; x?: 'step' | 'time' }) {
  const option = useMemo(
    () => ({
      animation: false,
      grid: { left: 56, right: 16, top: 32, bottom: 32 },
      tooltip: { trigger: 'axis' },
      legend: { top: 0 },
      xAxis: x === 'step' ? { type: 'value', name: 'step', min: 'dataMin' } : { type: 'time' },
      yAxis: { type: 'value', scale: true },
      series: series.map((s) => ({ name: s.name, type: 'line', showSymbol: s.points.length <= 60, data: s.points.map((p) => [x === 'step' ? p.step : p.time_ms, p.value]) })),
    }),
    [series, x],
  );
  const element = useEChart(option);
  return <div ref={element} role="img" aria-label={label} data-points={series.reduce((n, s) => n + s.points.length, 0)} style={{ width: '100%', height }} />;
}
