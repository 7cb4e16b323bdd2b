// A line chart of metric series (server-downsampled), drawn with ECharts loaded on first use so
// that it stays out of the initial JavaScript.
import { useEffect, useRef } from 'react';
import type { Schemas } from '../api/client';

type Series = Schemas['MetricSeriesView'];

async function loadECharts() {
  return (await import('./echarts')).echarts;
}

/** `x`: the optimizer step (training curves) or the point's time (usage). */
export function MetricChart({ series, label, height = 260, x = 'step' }: { series: Series[]; label: string; height?: number; x?: 'step' | 'time' }) {
  const element = useRef<HTMLDivElement>(null);
  const chart = useRef<{ setOption: (o: unknown) => void; resize: () => void; dispose: () => void } | null>(null);

  useEffect(() => {
    let disposed = false;
    const observer = new ResizeObserver(() => chart.current?.resize());
    void loadECharts().then((echarts) => {
      if (disposed || !element.current) return;
      chart.current = echarts.init(element.current);
      observer.observe(element.current);
    });
    return () => {
      disposed = true;
      observer.disconnect();
      chart.current?.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    const draw = () =>
      chart.current?.setOption({
        animation: false,
        grid: { left: 56, right: 16, top: 32, bottom: 32 },
        tooltip: { trigger: 'axis' },
        legend: { top: 0 },
        xAxis: x === 'step' ? { type: 'value', name: 'step', min: 'dataMin' } : { type: 'time' },
        yAxis: { type: 'value', scale: true },
        series: series.map((s) => ({ name: s.name, type: 'line', showSymbol: s.points.length <= 60, data: s.points.map((p) => [x === 'step' ? p.step : p.time_ms, p.value]) })),
      });
    if (chart.current) draw();
    else {
      const timer = setInterval(() => chart.current && (draw(), clearInterval(timer)), 100);
      return () => clearInterval(timer);
    }
  }, [series, x]);

  return <div ref={element} role="img" aria-label={label} data-points={series.reduce((n, s) => n + s.points.length, 0)} style={{ width: '100%', height }} />;
}
