-- Configuration templates of fine-tuning jobs, stored per project: a name, a description and
-- the reusable part of a job submission: an optional base model, the training configuration
-- (JSON, stored as jobs store theirs: with its schema version, the merge and chat-template
-- choices), the resource request (JSON) and the restarts allowed.
CREATE TABLE job_templates (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    base_model_id TEXT,
    config TEXT NOT NULL,
    resources TEXT NOT NULL,
    max_restarts INTEGER,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
