-- Quotas and budgets per organization, project or user: the limits (JSON: GPU-hours and spend
-- per calendar month, jobs and GPUs at once, the alert threshold) and the month whose alert
-- was sent.
CREATE TABLE quotas (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    limits TEXT NOT NULL,
    alerted_period TEXT,
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (organization_id, scope, subject_id)
);
