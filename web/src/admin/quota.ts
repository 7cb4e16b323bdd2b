// Quotas in the browser: the form's fields as the API's limits, and how much of a limit is used.
import type { Schemas } from '../api/client';

export type Scope = 'organization' | 'project' | 'user';

export type QuotaFields = {
  scope: Scope;
  subject_id: string;
  gpu_hours_per_month?: number | null;
  budget_per_month?: number | null;
  max_concurrent_jobs?: number | null;
  max_gpus?: number | null;
  /** Percent (1–100) in the form; a share (0.01–1) in the API. */
  alert_at_percent?: number | null;
};

/** Only the limits given; an empty field is no limit (0 is a limit: nothing may run). */
export function buildQuotaLimits(f: QuotaFields): Schemas['QuotaLimits'] {
  const limits: Schemas['QuotaLimits'] = {};
  if (f.gpu_hours_per_month != null) limits.gpu_hours_per_month = f.gpu_hours_per_month;
  if (f.budget_per_month != null) limits.budget_per_month = f.budget_per_month;
  if (f.max_concurrent_jobs != null) limits.max_concurrent_jobs = f.max_concurrent_jobs;
  if (f.max_gpus != null) limits.max_gpus = f.max_gpus;
  if (f.alert_at_percent != null) limits.alert_at = f.alert_at_percent / 100;
  return limits;
}

/** The form's fields for an existing quota (to edit it). */
export function quotaFields(q: Schemas['QuotaView']): QuotaFields {
  const l = q.limits;
  return {
    scope: q.scope as Scope,
    subject_id: q.subject_id,
    gpu_hours_per_month: l.gpu_hours_per_month ?? null,
    budget_per_month: l.budget_per_month ?? null,
    max_concurrent_jobs: l.max_concurrent_jobs ?? null,
    max_gpus: l.max_gpus ?? null,
    alert_at_percent: l.alert_at != null ? Math.round(l.alert_at * 100) : null,
  };
}

/** Percent of a limit used (capped at 100 for the bar), or null without a limit. */
export function usedPercent(used: number, limit?: number | null): number | null {
  if (limit == null) return null;
  if (limit <= 0) return 100;
  return Math.min(100, Math.round((used / limit) * 1000) / 10);
}
