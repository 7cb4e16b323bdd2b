import { describe, expect, it } from 'vitest';
import type { JobEvent } from './events';
import { describeEvent, filterEvents } from './eventLog';

const events: JobEvent[] = [
  { seq: 4, kind: 'log', step: 3, time_ms: 4, data: { level: 'warning', message: 'Gradient overflow, step skipped' } },
  { seq: 3, kind: 'progress', step: 3, time_ms: 3, data: { loss: 1.25, learning_rate: 0.0002, grad_norm: 0.5, tokens_per_second: 310 } },
  { seq: 2, kind: 'checkpoint', step: 2, time_ms: 2, data: { step: 2, path: 'checkpoints/step-2' } },
  { seq: 1, kind: 'system', time_ms: 1, data: { cpu_percent: 180, rss_bytes: 2 * 1024 ** 3 } },
];

describe('event log', () => {
  it('describes progress with its gradient norm', () => {
    expect(describeEvent(events[1] as JobEvent)).toContain('grad_norm 0.5');
  });

  it('finds events by every word of the search, in any case, and by kind', () => {
    expect(filterEvents(events, { text: 'OVERFLOW skipped', kinds: [] }).map((e) => e.seq)).toEqual([4]);
    expect(filterEvents(events, { text: 'overflow nothing', kinds: [] })).toEqual([]);
    expect(filterEvents(events, { text: 'step-2', kinds: [] }).map((e) => e.seq)).toEqual([2]);
    expect(filterEvents(events, { text: '', kinds: ['progress', 'system'] }).map((e) => e.seq)).toEqual([3, 1]);
    expect(filterEvents(events, { text: '3', kinds: ['log'] }).map((e) => e.seq)).toEqual([4]);
    expect(filterEvents(events, { text: ' ', kinds: [] })).toHaveLength(4);
  });
});
