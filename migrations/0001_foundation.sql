-- Foundation: the organisation, its users, console sessions and the audit log.
-- Timestamps are UTC text of fixed width, 'YYYY-MM-DDThh:mm:ss.ffffffZ', so they sort as text.

CREATE TABLE organisation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),   -- one organisation per installation
    name        TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    bank_code   TEXT NOT NULL CHECK (length(bank_code) = 4),
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    login_id       TEXT NOT NULL,                      -- as entered
    login_key      TEXT NOT NULL,                      -- lower-case, for uniqueness
    name           TEXT NOT NULL,                      -- NFC
    email          TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('master', 'admin', 'general')),
    password_hash  TEXT,                               -- argon2id PHC string; NULL for general users
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_at      TEXT,                               -- 閉塞: set after 5 wrong passwords in a row
    deleted_at     TEXT,                               -- soft delete, kept for the audit trail
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX users_login_key_live ON users(login_key) WHERE deleted_at IS NULL;

-- Wrong passwords for login IDs that do not exist are counted too, so that the lock
-- message cannot be used to find out which login IDs exist.
CREATE TABLE unknown_login_failures (
    login_key       TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failed_at  TEXT NOT NULL
);

CREATE TABLE sessions (
    token_sha256  TEXT PRIMARY KEY,                    -- the cookie holds the token, we keep its hash
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    actor_user_id  INTEGER REFERENCES users(id),
    actor          TEXT NOT NULL,                      -- login ID at the time, or 'cli', 'system', 'anonymous'
    action         TEXT NOT NULL,
    target         TEXT,
    outcome        TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    detail         TEXT NOT NULL DEFAULT '{}'          -- JSON; never secrets
);
CREATE INDEX audit_log_at ON audit_log(at);

-- The audit log is append-only.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
