-- The external CA (issue 5). Numbered 0006: 0005 is taken by another branch (notices).

-- Which CA the organisation issues with, and how to reach an external one. Secrets (the HMAC
-- key, the proxy password) are sealed with the master key, never stored in clear.
CREATE TABLE ca_backend (
    id                     INTEGER PRIMARY KEY CHECK (id = 1),
    kind                   TEXT NOT NULL DEFAULT 'embedded' CHECK (kind IN ('embedded', 'cfssl')),
    url                    TEXT NOT NULL DEFAULT '',
    profile                TEXT NOT NULL DEFAULT '',
    auth_key_sealed        BLOB,
    connect_timeout_s      INTEGER NOT NULL DEFAULT 5,
    total_timeout_s        INTEGER NOT NULL DEFAULT 30,
    proxy_url              TEXT NOT NULL DEFAULT '',
    proxy_user             TEXT NOT NULL DEFAULT '',
    proxy_password_sealed  BLOB,
    ca_bundle_pem          TEXT NOT NULL DEFAULT '',
    updated_at             TEXT NOT NULL
);

-- Every request sent to the external CA, recorded (pending) before it is sent and finished in
-- the transaction that stores its certificate. A request whose answer never came stays
-- 'unanswered' with the CN and public key it asked for, so the CA operator can find it.
CREATE TABLE ca_requests (
    id                 INTEGER PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES users(id),
    operation          TEXT NOT NULL,
    cn                 TEXT NOT NULL,
    public_key_sha256  TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'unanswered', 'orphan')),
    error_code         TEXT,
    serial             TEXT,
    certificate_id     INTEGER REFERENCES certificates(id),
    created_at         TEXT NOT NULL,
    finished_at        TEXT
);
-- At most one request in flight per user: two could make two valid certificates at the CA.
CREATE UNIQUE INDEX ca_requests_one_pending_per_user ON ca_requests(user_id) WHERE state = 'pending';
