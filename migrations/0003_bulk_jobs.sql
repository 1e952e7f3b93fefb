-- Bulk certificate runs: one row per run and one per user, so that a run interrupted by a
-- restart resumes where it stopped. An item turns 'done' in the same transaction as its
-- certificate, so a resumed run never repeats finished work.

CREATE TABLE bulk_jobs (
    id           INTEGER PRIMARY KEY,
    operation    TEXT NOT NULL CHECK (operation IN ('issue', 'renew', 'revoke', 'reissue')),
    reason       TEXT,
    actor_user_id INTEGER REFERENCES users(id),
    actor        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    finished_at  TEXT
);

CREATE TABLE bulk_job_items (
    job_id       INTEGER NOT NULL REFERENCES bulk_jobs(id),
    user_id      INTEGER NOT NULL REFERENCES users(id),
    position     INTEGER NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    serial       TEXT,
    error_code   TEXT,
    message_ja   TEXT,
    message_en   TEXT,
    finished_at  TEXT,
    PRIMARY KEY (job_id, user_id)
);
