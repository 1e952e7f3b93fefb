-- Issue 18: one-time passwords (TOTP) for masters and admins.

-- One row per user who has (or is setting up) a one-time password. The secrets are sealed
-- with the master key (purpose "certdesk otp secret v1", bound to the user).
CREATE TABLE otp_enrolments (
    user_id        INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed  BLOB,             -- the active secret; NULL until the first correct code
    pending_sealed BLOB,             -- a secret being set up; replaced at each new start
    offset_steps   INTEGER NOT NULL DEFAULT 0,  -- device clock drift found by time sync
    last_step      INTEGER,          -- the newest step accepted: it and older ones are refused
    enrolled_at    TEXT,
    started_at     TEXT NOT NULL
);

-- Single-use recovery codes: only their SHA-256 (salted with the user id) is kept.
CREATE TABLE otp_recovery_codes (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_sha256 TEXT NOT NULL,
    used_at     TEXT,
    PRIMARY KEY (user_id, code_sha256)
);

-- The policy and the step-up window (one row).
CREATE TABLE otp_settings (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    policy           TEXT NOT NULL DEFAULT 'optional'
                     CHECK (policy IN ('optional', 'masters', 'masters_and_admins')),
    step_up_minutes  INTEGER NOT NULL DEFAULT 10 CHECK (step_up_minutes BETWEEN 1 AND 720)
);
INSERT INTO otp_settings (id) VALUES (1);

-- A session made by a correct password waits for the code (otp_pending = 1) and serves
-- nothing else; otp_checked_at is the last correct code of the session (step-up).
ALTER TABLE sessions ADD COLUMN otp_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN otp_checked_at TEXT;
