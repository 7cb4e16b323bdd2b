// A bar chart of counts (a histogram's buckets, languages, kinds) drawn with ECharts.
import { useMemo } from 'react';
import { useEChart } from '../app/useEChart';
import type { Bar } from './histogram';

export function BarChart({ bars, label, height = 220 }: { bars: Bar[]; label: string; height?: number }) {
  const option = useMemo(
    () => ({
      animation: false,
      grid: { left: 48, right: 16, top: 16, bottom: 48 },
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'category', data: bars.map((b) => b.label), axisLabel: { rotate: bars.length > 6 ? 30 : 0 } },
      yAxis: { type: 'value', minInterval: 1 },
      series: [{ type: 'bar', name: label, data: bars.map((b) => b.count), itemStyle: { color: '#1668dc' } }],
    }),
    [bars, label],
  );
  const element = useEChart(option);
  return <div ref={element} role="img" aria-label={label} data-bars={bars.length} style={{ width: '100%', height }} />;
}
