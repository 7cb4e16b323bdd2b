-- Keys outside the database (issue 16). Access tokens are signed with a key derived from the
-- master key, never stored: the stored secret goes, and every open session ends (its holders
-- sign in again; a refresh token of the old secret's era must not outlive it).
ALTER TABLE instance DROP COLUMN token_secret;
UPDATE sessions SET revoked_at = CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT), revoked_reason = 'signing_key_moved'
WHERE revoked_at IS NULL;

-- The audit chain is keyed with an audit key derived from the master key: each record names the
-- master key id whose audit key computed its hash (NULL: written before, plain SHA-256).
ALTER TABLE audit_events ADD COLUMN key_id TEXT;
