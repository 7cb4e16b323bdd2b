-- Deployments (a model served behind the gateway), what they report, and one row per inference
-- request through the gateway (usage and latency, kept when a deployment is deleted).
CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    project_id TEXT REFERENCES projects(id),
    -- The name requests put in `model`; unique in the organization.
    name TEXT NOT NULL,
    -- The model served: a base model, or a fine-tuned one (model_id) over its base; both NULL
    -- for an external deployment that is not one of Tunery's models.
    base_model_id TEXT REFERENCES base_models(id),
    model_id TEXT REFERENCES models(id),
    -- local | external
    backend TEXT NOT NULL,
    -- external: the OpenAI-compatible base URL, the upstream model name and its key (sealed with
    -- a key derived from the master key; never stored in the clear).
    endpoint_url TEXT,
    endpoint_model TEXT,
    endpoint_key TEXT,
    -- Wanted replicas: 0 is stopped.
    replicas INTEGER NOT NULL,
    -- Seconds without a request before the deployment scales to zero; NULL: never.
    idle_timeout_s INTEGER,
    -- Generation defaults (max_tokens, temperature, top_p), JSON.
    defaults TEXT NOT NULL,
    -- stopped | starting | ready | idle | failed
    state TEXT NOT NULL,
    error TEXT,
    last_request_at INTEGER,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX deployments_name ON deployments(organization_id, name);
CREATE INDEX deployments_model ON deployments(model_id);

CREATE TABLE deployment_events (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    time INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE inference_requests (
    -- The response id (chatcmpl-…, cmpl-…).
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    deployment_id TEXT,
    api_key_id TEXT,
    user_id TEXT,
    model TEXT NOT NULL,
    -- chat.completions | completions
    endpoint TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    time_to_first_token_ms INTEGER,
    latency_ms INTEGER NOT NULL,
    status INTEGER NOT NULL,
    error_code TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX inference_requests_org ON inference_requests(organization_id, created_at);
CREATE INDEX inference_requests_deployment ON inference_requests(deployment_id, created_at);
CREATE INDEX inference_requests_key ON inference_requests(api_key_id, created_at);

-- Inference limits: per API key (requests and tokens per minute, tokens per calendar month,
-- and the deployments it may call: a JSON list, NULL for every one it may see) and per
-- organization (requests and tokens per minute). NULL: no limit.
ALTER TABLE api_keys ADD COLUMN requests_per_minute INTEGER;
ALTER TABLE api_keys ADD COLUMN tokens_per_minute INTEGER;
ALTER TABLE api_keys ADD COLUMN monthly_tokens INTEGER;
ALTER TABLE api_keys ADD COLUMN deployment_ids TEXT;
ALTER TABLE organizations ADD COLUMN inference_requests_per_minute INTEGER;
ALTER TABLE organizations ADD COLUMN inference_tokens_per_minute INTEGER;

-- Online A/B tests: a name clients call that splits its traffic across deployments by weight
-- (sticky per user or key when asked), with feedback on the answers.
CREATE TABLE traffic_splits (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    project_id TEXT REFERENCES projects(id),
    -- The name requests put in `model`; never a deployment's name too.
    name TEXT NOT NULL,
    -- JSON list of {deployment_id, weight}.
    variants TEXT NOT NULL,
    -- none | user | key
    sticky TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX traffic_splits_name ON traffic_splits(organization_id, name);
ALTER TABLE inference_requests ADD COLUMN split_id TEXT;
CREATE INDEX inference_requests_split ON inference_requests(split_id, deployment_id);

-- Feedback on an answer (one per answer; a later one replaces it): thumbs up (1) or down (0),
-- or a score normalised to 0–1.
CREATE TABLE inference_feedback (
    response_id TEXT PRIMARY KEY REFERENCES inference_requests(id),
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    score DOUBLE PRECISION NOT NULL,
    -- thumbs | score
    kind TEXT NOT NULL,
    comment TEXT,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL
);
