// An ECharts instance bound to an element: loaded on first use (so ECharts stays out of the
// initial JavaScript), resized with its element, disposed with it, and given `option` whenever
// that changes.
import { useEffect, useRef } from 'react';

type Chart = { setOption: (o: unknown, notMerge?: boolean) => void; resize: () => void; dispose: () => void };

async function loadECharts() {
  return (await import('../training/echarts')).echarts;
}

export function useEChart(option: unknown) {
  const element = useRef<HTMLDivElement>(null);
  const chart = useRef<Chart | null>(null);

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
    const draw = () => chart.current?.setOption(option, true);
    if (chart.current) draw();
    else {
      const timer = setInterval(() => chart.current && (draw(), clearInterval(timer)), 100);
      return () => clearInterval(timer);
    }
  }, [option]);

  return element;
}
