-- Self-service enrolment (issue 17): the holder's browser makes the key and sends a CSR; the
-- server never sees that key. One enrolment per user at a time: a number and a one-time code
-- (only its SHA-256 is kept), valid for a setting (1–90 days), used once, locked after 5
-- wrong codes until an administrator resets it.

-- Who made a certificate's key: certdesk ('server', kept sealed in certificate_keys until
-- handed out) or its holder ('holder': no certificate_keys row ever exists for it).
ALTER TABLE certificates ADD COLUMN key_origin TEXT NOT NULL DEFAULT 'server'
    CHECK (key_origin IN ('server', 'holder'));

CREATE TABLE enrolment_settings (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    validity_days  INTEGER NOT NULL DEFAULT 14 CHECK (validity_days BETWEEN 1 AND 90),
    self_renewal   INTEGER NOT NULL DEFAULT 1 CHECK (self_renewal IN (0, 1))
);
INSERT INTO enrolment_settings (id) VALUES (1);

CREATE TABLE enrolments (
    id                      INTEGER PRIMARY KEY,
    user_id                 INTEGER NOT NULL REFERENCES users(id),
    number                  TEXT NOT NULL UNIQUE,            -- 'NNNN-NNNN-NNNN'
    code_sha256             TEXT NOT NULL,
    operation               TEXT NOT NULL CHECK (operation IN ('issue', 'reissue')),
    created_at              TEXT NOT NULL,
    created_by              TEXT NOT NULL,
    expires_at              TEXT NOT NULL,
    failures                INTEGER NOT NULL DEFAULT 0,
    locked_at               TEXT,
    used_at                 TEXT,                             -- the browser confirmed the download
    closed_at               TEXT,                             -- replaced by a newer enrolment
    -- Issued and not yet confirmed: a retry with the same code revokes it (superseded).
    pending_certificate_id  INTEGER REFERENCES certificates(id),
    confirm_sha256          TEXT
);
CREATE UNIQUE INDEX enrolments_one_open_per_user ON enrolments(user_id)
    WHERE used_at IS NULL AND closed_at IS NULL;

-- Renewals the holder made on the check page, authenticated by the certificate presented.
CREATE TABLE self_renewals (
    id                  INTEGER PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users(id),
    old_certificate_id  INTEGER NOT NULL REFERENCES certificates(id),
    new_certificate_id  INTEGER NOT NULL REFERENCES certificates(id),
    confirm_sha256      TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    confirmed_at        TEXT,
    replaced_at         TEXT                                  -- a retry issued a newer one
);
CREATE INDEX self_renewals_by_old ON self_renewals(old_certificate_id);
