// The wizard's quota check: for each quota that applies to the caller (the organization's and
// their own), this month's GPU-hours and spend — used, committed by waiting and running jobs,
// and this job's estimate — against the limit. A job past a limit waits (or pauses) until the
// next month or a higher limit; the wizard says so before it is submitted.
import type { Schemas } from '../api/client';

type Quota = Schemas['QuotaView'];
export type QuotaLine = { scope: string; what: 'gpu_hours' | 'budget'; used: number; job: number; limit: number; over: boolean; alert: boolean };

export function quotaCheck(quotas: Quota[], me: { userId: string; organizationId: string }, job: { gpuHours: number; cost: number }): QuotaLine[] {
  const applies = (q: Quota) => (q.scope === 'organization' && q.subject_id === me.organizationId) || (q.scope === 'user' && q.subject_id === me.userId);
  return quotas.filter(applies).flatMap((q) => {
    const alertAt = q.limits.alert_at ?? 0.8;
    const line = (what: QuotaLine['what'], used: number, job: number, limit: number | null | undefined): QuotaLine[] =>
      limit == null ? [] : [{ scope: q.scope, what, used, job, limit, over: used + job > limit, alert: used + job > alertAt * limit }];
    return [
      ...line('gpu_hours', q.usage.gpu_hours + q.usage.committed_gpu_hours, job.gpuHours, q.limits.gpu_hours_per_month),
      ...line('budget', q.usage.cost + q.usage.committed_cost, job.cost, q.limits.budget_per_month),
    ];
  });
}
