-- Issue 15: a lock caused by wrong passwords is temporary, with a growing back-off; the
-- counters of unknown login IDs expire.
--
-- users.locked_at stays the permanent lock (閉塞) set by a master or admin. A lock caused by
-- wrong passwords sets locked_until instead: sign-in is refused until that instant. Locks set
-- by wrong passwords before this migration stay permanent (a master can lift them).

-- 一時的な閉塞: refused until this instant; NULL when none.
ALTER TABLE users ADD COLUMN locked_until TEXT;
-- Temporary locks since the last successful sign-in: the next lasts 15 min x 2^step, at most 24 h.
ALTER TABLE users ADD COLUMN lockout_step INTEGER NOT NULL DEFAULT 0;

-- Unknown login IDs are locked the same way, so the answer cannot tell them apart.
ALTER TABLE unknown_login_failures ADD COLUMN locked_until TEXT;
ALTER TABLE unknown_login_failures ADD COLUMN lockout_step INTEGER NOT NULL DEFAULT 0;
-- Rows without a failure for a day (and no running lock) are deleted; this finds them.
CREATE INDEX unknown_login_failures_last ON unknown_login_failures(last_failed_at);
