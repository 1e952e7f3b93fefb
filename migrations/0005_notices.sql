-- Expiry dashboard and renewal notices: notification settings (with the sealed SMTP password),
-- one notice per certificate and threshold, the mail outbox with its retries, and the indexes
-- the dashboard's queries use on a long certificate history.

CREATE TABLE notification_settings (
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    email_enabled         INTEGER NOT NULL DEFAULT 1,
    first_days            INTEGER NOT NULL DEFAULT 40 CHECK (first_days BETWEEN 1 AND 365),
    second_days           INTEGER NOT NULL DEFAULT 7 CHECK (second_days BETWEEN 1 AND 365),
    notify_user           INTEGER NOT NULL DEFAULT 1,
    notify_admins         INTEGER NOT NULL DEFAULT 1,
    extra_recipients      TEXT NOT NULL DEFAULT '',
    daily_hour            INTEGER NOT NULL DEFAULT 8 CHECK (daily_hour BETWEEN 0 AND 23),  -- JST
    smtp_host             TEXT NOT NULL DEFAULT '',
    smtp_port             INTEGER NOT NULL DEFAULT 587 CHECK (smtp_port BETWEEN 1 AND 65535),
    smtp_security         TEXT NOT NULL DEFAULT 'starttls' CHECK (smtp_security IN ('starttls', 'tls', 'none')),
    smtp_username         TEXT NOT NULL DEFAULT '',
    smtp_password_sealed  BLOB,                        -- AES-256-GCM, purpose "certdesk smtp password v1"
    mail_from             TEXT NOT NULL DEFAULT '',
    updated_at            TEXT NOT NULL,
    CHECK (first_days > second_days)
);

-- A notice is recorded once per certificate and threshold, also across restarts.
CREATE TABLE notices (
    id              INTEGER PRIMARY KEY,
    certificate_id  INTEGER NOT NULL REFERENCES certificates(id),
    user_id         INTEGER NOT NULL REFERENCES users(id),
    threshold_days  INTEGER NOT NULL,
    not_after       TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX notices_once_per_threshold ON notices(certificate_id, threshold_days);
CREATE INDEX notices_created ON notices(created_at);

-- Mail waiting to be sent, sent, or given up. One row per notice (To: the user, Cc: admins
-- and extra recipients) or per test mail; retried with backoff until MAX_MAIL_ATTEMPTS.
CREATE TABLE mail_outbox (
    id               INTEGER PRIMARY KEY,
    notice_id        INTEGER REFERENCES notices(id),
    to_addresses     TEXT NOT NULL,                    -- comma separated
    cc_addresses     TEXT NOT NULL DEFAULT '',
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_error_code  TEXT,
    last_error       TEXT,                             -- the server's reply; never a password
    created_at       TEXT NOT NULL,
    sent_at          TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox(next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_outbox_notice ON mail_outbox(notice_id);
CREATE INDEX mail_outbox_trouble ON mail_outbox(id) WHERE last_error_code IS NOT NULL AND status <> 'sent';

-- The dashboard reads each user's newest certificate: max(id) per user in one index step.
CREATE INDEX certificates_user_newest ON certificates(user_id, id);
-- Unfinished bulk runs (resumed at start-up, followed on the dashboard).
CREATE INDEX bulk_jobs_unfinished ON bulk_jobs(id) WHERE finished_at IS NULL;
