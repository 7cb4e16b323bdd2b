-- Several servers on one database: the server running a job renews a lease on it; another
-- server takes the job over only once the lease has expired (its owner is gone).
ALTER TABLE jobs ADD COLUMN lease_expires_at BIGINT;
