-- Runs of evaluations: from the moment a runner takes one until it ends or stops holding it,
-- on one slot of the device its answers come from (0 slots: an external URL, billed by its
-- provider, or a predictions file). They count toward the month's GPU-hours and budget, jobs at
-- once and the usage report like job runs. No foreign key: deleting an evaluation keeps what
-- it cost.
CREATE TABLE evaluation_runs (
    id TEXT PRIMARY KEY,
    evaluation_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    project_id TEXT,
    user_id TEXT NOT NULL,
    runner_instance TEXT NOT NULL,
    gpu_type TEXT NOT NULL,
    gpus INTEGER NOT NULL,
    price_per_gpu_hour REAL NOT NULL,
    started_at INTEGER NOT NULL,
    -- The runner's last renewal: where a run of a runner that died is closed.
    seen_at INTEGER NOT NULL,
    ended_at INTEGER,
    -- succeeded, failed, cancelled, stopped (the runner let go) or interrupted (taken over).
    ended_because TEXT
);
CREATE INDEX evaluation_runs_evaluation ON evaluation_runs (evaluation_id, started_at);
CREATE INDEX evaluation_runs_usage ON evaluation_runs (organization_id, started_at);
