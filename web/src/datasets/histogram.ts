// A stored distribution's display buckets as chart bars: each labelled by its range, the empty
// buckets at either end dropped (the edges are fixed for every dataset, so most are empty).
import type { Schemas } from '../api/client';

export type Bar = { label: string; count: number };

export function bars(report: Schemas['DistributionReport'], format: (n: number) => string = String): Bar[] {
  const buckets = report.buckets;
  const first = buckets.findIndex((b) => b.count > 0);
  if (first < 0) return [];
  let last = buckets.length - 1;
  while (last > first && (buckets[last]?.count ?? 0) === 0) last--;
  return buckets.slice(first, last + 1).map((b) => ({
    label: b.upper == null ? `≥ ${format(b.lower)}` : b.upper - b.lower === 1 ? format(b.lower) : `${format(b.lower)}–${format(b.upper - 1)}`,
    count: b.count,
  }));
}
