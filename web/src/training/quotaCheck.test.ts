import { describe, expect, it } from 'vitest';
import type { Schemas } from '../api/client';
import { quotaCheck } from './quotaCheck';

const quota = (scope: string, subject: string, limits: Schemas['QuotaLimits'], usage: Partial<Schemas['QuotaUsage']>): Schemas['QuotaView'] => ({
  scope,
  subject_id: subject,
  limits,
  period: '2026-12',
  usage: { gpu_hours: 0, cost: 0, committed_gpu_hours: 0, committed_cost: 0, gpus_in_use: 0, running_jobs: 0, running_evaluations: 0, ...usage },
  exhausted: false,
  alerted: false,
  updated_by: 'usr_admin',
  updated_at: 0,
});

describe('quota check', () => {
  const me = { userId: 'usr_me', organizationId: 'org_1' };
  it("counts what is spent, what waiting jobs will spend and this job's estimate against each limit that applies", () => {
    const quotas = [
      quota('organization', 'org_1', { budget_per_month: 100 }, { cost: 60, committed_cost: 25 }),
      quota('user', 'usr_me', { gpu_hours_per_month: 10, alert_at: 0.5 }, { gpu_hours: 2 }),
      quota('user', 'usr_someone_else', { budget_per_month: 1 }, { cost: 5 }),
      quota('project', 'prj_1', { budget_per_month: 1 }, { cost: 5 }),
    ];
    expect(quotaCheck(quotas, me, { gpuHours: 4, cost: 20 })).toEqual([
      { scope: 'organization', what: 'budget', used: 85, job: 20, limit: 100, over: true, alert: true },
      { scope: 'user', what: 'gpu_hours', used: 2, job: 4, limit: 10, over: false, alert: true },
    ]);
    expect(quotaCheck(quotas, me, { gpuHours: 1, cost: 1 }).map((l) => [l.over, l.alert])).toEqual([
      [false, true],
      [false, false],
    ]);
  });
});
