-- Content safety: each organization's content policy (input and output filters, length limits,
-- an optional moderation model), what it did to requests, request/response logging per
-- deployment (off by default; masked and sealed when on), and exports of logged conversations
-- into dataset versions (lineage back to the deployment).
CREATE TABLE content_policies (
    organization_id TEXT PRIMARY KEY REFERENCES organizations(id),
    -- The policy as JSON (see services::deployments::safety::ContentPolicy).
    policy TEXT NOT NULL,
    updated_by TEXT NOT NULL REFERENCES users(id),
    updated_at BIGINT NOT NULL
);

-- One row per rule that acted on a request: blocked, masked or flagged, on input or output.
CREATE TABLE safety_events (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    -- The request's response id (inference_requests.id).
    request_id TEXT NOT NULL,
    deployment_id TEXT,
    -- input | output
    stage TEXT NOT NULL,
    -- The rule's name, `max_input_chars`/`max_output_chars`, or `moderation`.
    rule TEXT NOT NULL,
    -- block | mask | flag
    action TEXT NOT NULL,
    -- Matches (spans) the rule found.
    matches BIGINT NOT NULL,
    -- What a moderation model answered (its verdict line), else NULL. Never the matched text.
    detail TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX safety_events_org ON safety_events(organization_id, id);
CREATE INDEX safety_events_request ON safety_events(request_id);

-- Logging of requests and answers, per deployment.
ALTER TABLE deployments ADD COLUMN log_requests BIGINT NOT NULL DEFAULT 0;
CREATE TABLE inference_logs (
    -- The response id (inference_requests.id).
    request_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    deployment_id TEXT NOT NULL,
    -- The conversation (request messages or prompt, and the answers) with personal data masked,
    -- as JSON sealed with AES-256-GCM under a key derived from the master key.
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX inference_logs_deployment ON inference_logs(organization_id, deployment_id, created_at);

-- A deployment of a training checkpoint (a LoRA-family job's adapter at one step): the
-- checkpoint, with base_model_id its job's base and model_id NULL.
ALTER TABLE deployments ADD COLUMN checkpoint_id TEXT REFERENCES job_checkpoints(id);
CREATE INDEX deployments_checkpoint ON deployments(checkpoint_id);

-- A dataset version made from a deployment's logged conversations.
ALTER TABLE dataset_versions ADD COLUMN source_deployment_id TEXT;
