import { describe, expect, it } from 'vitest';
import type { Schemas } from '../api/client';
import { bars } from './histogram';

const report = (buckets: [number, number | null, number][]) =>
  ({ count: 0, sum: 0, buckets: buckets.map(([lower, upper, count]) => ({ lower, upper, count })) }) as Schemas['DistributionReport'];

describe('bars', () => {
  it('drops the empty buckets at either end and labels ranges, single values and the open end', () => {
    const r = report([[0, 1, 0], [1, 2, 3], [2, 5, 0], [5, 10, 7], [10, null, 1]]);
    expect(bars(r)).toEqual([
      { label: '1', count: 3 },
      { label: '2–4', count: 0 },
      { label: '5–9', count: 7 },
      { label: '≥ 10', count: 1 },
    ]);
  });

  it('is empty for a distribution of nothing', () => {
    expect(bars(report([[0, 1, 0], [1, null, 0]]))).toEqual([]);
  });
});
