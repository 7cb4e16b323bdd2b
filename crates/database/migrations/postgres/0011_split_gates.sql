-- A traffic split's gate: thresholds an evaluation of each newly promoted variant's model must
-- pass (JSON, `services::evaluations::Gate`), or NULL.
ALTER TABLE traffic_splits ADD COLUMN gate TEXT;
