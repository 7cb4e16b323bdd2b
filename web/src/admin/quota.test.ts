import { describe, expect, it } from 'vitest';
import { buildQuotaLimits, quotaFields, usedPercent } from './quota';

describe('buildQuotaLimits', () => {
  it('keeps 0 as a limit, leaves empty fields out and turns the alert percent into a share', () => {
    expect(buildQuotaLimits({ scope: 'organization', subject_id: 'org_1', gpu_hours_per_month: 0, budget_per_month: null, max_gpus: 4, alert_at_percent: 75 })).toEqual({
      gpu_hours_per_month: 0,
      max_gpus: 4,
      alert_at: 0.75,
    });
  });

  it('round-trips through the fields of a stored quota', () => {
    const limits = { budget_per_month: 250, max_concurrent_jobs: 2, alert_at: 0.9 };
    const view = { scope: 'project', subject_id: 'prj_1', limits } as Parameters<typeof quotaFields>[0];
    expect(buildQuotaLimits(quotaFields(view))).toEqual(limits);
  });
});

describe('usedPercent', () => {
  it('is null without a limit, full at or beyond a limit, and 100 for a zero limit', () => {
    expect(usedPercent(3, null)).toBeNull();
    expect(usedPercent(1, 3)).toBe(33.3);
    expect(usedPercent(5, 4)).toBe(100);
    expect(usedPercent(0, 0)).toBe(100);
  });
});
