-- Evaluations: a model's answers to a test set scored by named metrics, or a predictions file
-- scored as it is. Each stores what it needs to be rerun (config), its corpus scores with
-- bootstrap intervals (results), and one row per example.
CREATE TABLE evaluations (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    project_id TEXT REFERENCES projects(id),
    name TEXT NOT NULL,
    -- generate (a model answers the test set) | predictions (a file of predictions is scored)
    kind TEXT NOT NULL,
    -- queued | running | succeeded | failed | cancelled
    state TEXT NOT NULL,
    -- What the request named: a model id (bm_, mdl_, ckpt_) or a deployment's name; NULL for
    -- a predictions file.
    model TEXT,
    -- The deployment the answers came through (generate).
    deployment_id TEXT,
    dataset_version_id TEXT REFERENCES dataset_versions(id),
    -- The evaluation's configuration as JSON (metrics, tokenize, generation, bootstrap, the
    -- resolved model and its chat template, the metric implementations): enough to rerun it.
    config TEXT NOT NULL,
    -- The corpus scores as JSON once it succeeded.
    results TEXT,
    examples_total BIGINT NOT NULL,
    examples_done BIGINT NOT NULL,
    error TEXT,
    -- The evaluation this one reran.
    rerun_of TEXT REFERENCES evaluations(id),
    -- The server running it, and until when it holds it (another server takes over after).
    runner_instance TEXT,
    lease_expires_at BIGINT,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX evaluations_org ON evaluations(organization_id, id);
CREATE INDEX evaluations_state ON evaluations(state, created_at);

-- One example of an evaluation: its prompt, references and prediction sealed together
-- (AES-256-GCM under a key derived from the master key: test data is the user's data), and its
-- scores per metric in the clear.
CREATE TABLE evaluation_examples (
    evaluation_id TEXT NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    -- {"prompt": [messages] | null, "references": [...], "prediction": "..." | null}
    sealed TEXT NOT NULL,
    -- 1 once the prediction is there.
    answered BIGINT NOT NULL,
    -- {"metric": score, ...} once scored.
    scores TEXT,
    PRIMARY KEY (evaluation_id, idx)
);

-- Offline A/B tests: two succeeded evaluations on the same test set compared on one metric;
-- the settings and the figures (difference, interval, p-value, sample size) as JSON.
CREATE TABLE ab_tests (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    project_id TEXT REFERENCES projects(id),
    name TEXT NOT NULL,
    evaluation_a TEXT NOT NULL REFERENCES evaluations(id),
    evaluation_b TEXT NOT NULL REFERENCES evaluations(id),
    metric TEXT NOT NULL,
    config TEXT NOT NULL,
    results TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX ab_tests_org ON ab_tests(organization_id, id);
CREATE INDEX ab_tests_evaluations ON ab_tests(evaluation_a, evaluation_b);
