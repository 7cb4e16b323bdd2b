import { describe, expect, it } from 'vitest';
import { overlay } from './overlay';

const point = (step: number, value: number) => ({ step, time_ms: step, value });

describe('overlay', () => {
  it("puts each job's series of a metric on one chart under the job's name", () => {
    const jobs = [
      { id: 'job_a', name: 'lr 2e-4', series: [{ name: 'loss', points: [point(1, 2), point(2, 1.5)] }, { name: 'eval_loss', points: [] }] },
      { id: 'job_b', name: 'lr 1e-4', series: [{ name: 'loss', points: [point(1, 2.1)] }] },
      { id: 'job_c', name: 'lr 1e-4', series: [{ name: 'loss', points: [point(1, 2.2)] }] },
    ];
    expect(overlay(jobs, 'loss').map((s) => [s.name, s.points.length])).toEqual([
      ['lr 2e-4', 2],
      ['lr 1e-4 (job_b)', 1],
      ['lr 1e-4 (job_c)', 1],
    ]);
    // A job without points of the metric draws no line.
    expect(overlay(jobs, 'eval_loss')).toEqual([]);
  });
});
