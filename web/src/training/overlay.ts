// Several runs' curves on one chart: each job's series of one metric, named after the job (a
// name two jobs share gets the job's id appended, so that legends stay apart).
import type { Schemas } from '../api/client';

type Series = Schemas['MetricSeriesView'];
export type JobMetrics = { id: string; name: string; series: Series[] };

export function overlay(jobs: JobMetrics[], metric: string): Series[] {
  const counts = new Map<string, number>();
  for (const j of jobs) counts.set(j.name, (counts.get(j.name) ?? 0) + 1);
  return jobs.flatMap((j) => {
    const s = j.series.find((x) => x.name === metric);
    if (!s || s.points.length === 0) return [];
    return [{ name: (counts.get(j.name) ?? 0) > 1 ? `${j.name} (${j.id})` : j.name, points: s.points }];
  });
}
