-- The CA interface (issue 5): which CA issued each certificate, how keys are made with an
-- external CA, and requests whose lost answer is settled by serial number.

-- A certificate is revoked at the CA that issued it, whichever CA the organisation uses now.
ALTER TABLE certificates ADD COLUMN ca_kind TEXT NOT NULL DEFAULT 'embedded'
    CHECK (ca_kind IN ('embedded', 'cfssl'));
UPDATE certificates SET ca_kind = 'cfssl'
 WHERE id IN (SELECT certificate_id FROM ca_requests WHERE certificate_id IS NOT NULL);

-- 'csr': certdesk makes the key and sends a CSR (sign/authsign); 'ca': the CA makes the key
-- (newcert). serials_honoured: whether the CA's answers carried the serial certdesk proposed
-- (NULL until one answer was seen); only then can a lost answer be settled by serial.
ALTER TABLE ca_backend ADD COLUMN key_source TEXT NOT NULL DEFAULT 'csr'
    CHECK (key_source IN ('csr', 'ca'));
ALTER TABLE ca_backend ADD COLUMN serials_honoured INTEGER;

-- New states: 'reconciled' (the lost answer's certificate was found by serial and revoked at
-- the CA) and 'never_issued' (the CA did not know the serial after the grace period). The key
-- hash is unknown before the answer when the CA makes the key.
CREATE TABLE ca_requests_v2 (
    id                 INTEGER PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES users(id),
    operation          TEXT NOT NULL,
    cn                 TEXT NOT NULL,
    public_key_sha256  TEXT,
    state              TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'unanswered', 'orphan',
                                                      'reconciled', 'never_issued')),
    error_code         TEXT,
    serial             TEXT,
    proposed_serial    TEXT,
    -- "<url> <profile>" the request went to: what serials_honoured was learnt for.
    sent_to            TEXT,
    certificate_id     INTEGER REFERENCES certificates(id),
    created_at         TEXT NOT NULL,
    finished_at        TEXT
);
INSERT INTO ca_requests_v2 (id, user_id, operation, cn, public_key_sha256, state, error_code, serial,
                            certificate_id, created_at, finished_at)
SELECT id, user_id, operation, cn, public_key_sha256, state, error_code, serial, certificate_id, created_at,
       finished_at
  FROM ca_requests;
DROP TABLE ca_requests;
ALTER TABLE ca_requests_v2 RENAME TO ca_requests;
-- At most one request in flight per user: two could make two valid certificates at the CA.
CREATE UNIQUE INDEX ca_requests_one_pending_per_user ON ca_requests(user_id) WHERE state = 'pending';
