// The audit log's filters as the API's query: only what was given; dates are whole local days
// (since from the day's start, until to its end), in Unix seconds.
export type AuditFilters = {
  action?: string;
  actor_id?: string;
  target_id?: string;
  outcome?: 'success' | 'failure' | 'denied';
  /** `YYYY-MM-DD`, as the date inputs give them. */
  since?: string;
  until?: string;
};

export function auditQuery(f: AuditFilters) {
  const seconds = (date: string, time: string) => Math.floor(new Date(`${date}T${time}`).getTime() / 1000);
  return {
    ...(f.action?.trim() ? { action: f.action.trim() } : {}),
    ...(f.actor_id ? { actor_id: f.actor_id } : {}),
    ...(f.target_id?.trim() ? { target_id: f.target_id.trim() } : {}),
    ...(f.outcome ? { outcome: f.outcome } : {}),
    ...(f.since ? { since: seconds(f.since, '00:00:00') } : {}),
    ...(f.until ? { until: seconds(f.until, '23:59:59') } : {}),
  };
}
