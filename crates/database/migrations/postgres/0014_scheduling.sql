-- Scheduling: each job's resource request (GPU type, count, memory, maximum duration, spot,
-- priority class and its value at submission), what preemption did to it, and a stop the
-- scheduler decided (`preempted:<job id>` or `max_duration`). Jobs stored before this
-- migration asked for one device of any type at the normal priority.
ALTER TABLE jobs ADD COLUMN resources TEXT NOT NULL DEFAULT '{"gpu_type":null,"gpus":1,"gpu_memory_gib":0,"max_duration_s":null,"preemptible":false,"priority":"normal","priority_value":1}';
ALTER TABLE jobs ADD COLUMN preemptions BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN preempted_by TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN stopping TEXT;

-- One row per run of a job on GPUs (or CPU slots): where it ran, from when to when. The open
-- row (ended_at NULL) is the job's current placement; closed rows are the GPU-time accounted
-- to its user and project (fair share, usage and cost).
CREATE TABLE job_runs (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    project_id TEXT,
    user_id TEXT NOT NULL,
    runner_instance TEXT NOT NULL,
    gpu_type TEXT NOT NULL,
    gpus BIGINT NOT NULL,
    placement TEXT NOT NULL,
    preemptible BIGINT NOT NULL,
    -- The price of one of its GPUs per hour when it started (on-demand or spot).
    price_per_gpu_hour DOUBLE PRECISION NOT NULL,
    priority_value BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    ended_because TEXT
);
CREATE INDEX job_runs_job ON job_runs (job_id, started_at);
CREATE INDEX job_runs_open ON job_runs (runner_instance) WHERE ended_at IS NULL;
CREATE INDEX job_runs_usage ON job_runs (organization_id, started_at);

-- One scheduler among several servers on one database: the server holding this lease runs the
-- dispatcher; it renews it at every tick, and another takes it once it expired.
CREATE TABLE scheduler_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO scheduler_lease (name, holder, expires_at) VALUES ('scheduler', '', 0);
