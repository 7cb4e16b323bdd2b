-- Human evaluations: assigned raters score (rubric) or compare (pairwise) the answers of
-- succeeded evaluations on one test set, blind, in an order and with answer labels shuffled per
-- rater.
CREATE TABLE human_evals (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    project_id TEXT REFERENCES projects(id),
    name TEXT NOT NULL,
    -- rubric | pairwise
    mode TEXT NOT NULL,
    -- open | closed
    state TEXT NOT NULL,
    -- JSON: the criteria and their scale (rubric), error tags, raters (users and roles),
    -- instructions, the examples rated, and the secret seed of each rater's shuffles.
    config TEXT NOT NULL,
    items INTEGER NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE INDEX human_evals_org ON human_evals(organization_id, id);

-- The evaluations whose answers are rated; position 0 is the first model.
CREATE TABLE human_eval_sources (
    human_eval_id TEXT NOT NULL REFERENCES human_evals(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    evaluation_id TEXT NOT NULL REFERENCES evaluations(id),
    PRIMARY KEY (human_eval_id, position)
);
CREATE INDEX human_eval_sources_evaluation ON human_eval_sources(evaluation_id);

-- One rater's verdict on one item (a rater rates an item once; rating again replaces it).
CREATE TABLE human_ratings (
    human_eval_id TEXT NOT NULL REFERENCES human_evals(id) ON DELETE CASCADE,
    rater_id TEXT NOT NULL REFERENCES users(id),
    item INTEGER NOT NULL,
    -- rated | skipped
    status TEXT NOT NULL,
    -- JSON by model position (never by the label the rater saw): the scores per criterion,
    -- the preferred position (null: a tie) and the error tags; null when skipped.
    verdict TEXT,
    flagged INTEGER NOT NULL,
    -- The rater's flag reason and comment, sealed (they may quote the test data).
    notes TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (human_eval_id, rater_id, item)
);
