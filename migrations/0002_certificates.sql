-- Certificate lifecycle with the embedded CA: issuing profile, CA, certificates, their keys, CRLs.

CREATE TABLE issuing_profile (
    id                      INTEGER PRIMARY KEY CHECK (id = 1),
    validity_days           INTEGER NOT NULL DEFAULT 366 CHECK (validity_days BETWEEN 1 AND 3650),
    renewal_window_days     INTEGER NOT NULL DEFAULT 40 CHECK (renewal_window_days >= 1),
    key_type                TEXT NOT NULL DEFAULT 'rsa2048' CHECK (key_type IN ('rsa2048', 'ecdsa_p256')),
    friendly_name_template  TEXT NOT NULL DEFAULT '<organisation> <login ID>',
    ca_name                 TEXT NOT NULL DEFAULT 'certdesk CA',
    crl_next_update_days    INTEGER NOT NULL DEFAULT 7 CHECK (crl_next_update_days BETWEEN 1 AND 30),
    updated_at              TEXT NOT NULL,
    CHECK (renewal_window_days < validity_days)
);

-- The embedded CA. Its private key is in a sealed file in the data directory, not here.
CREATE TABLE ca (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    dn_o        TEXT NOT NULL,
    dn_ou       TEXT NOT NULL,
    dn_cn       TEXT NOT NULL,
    cert_der    BLOB NOT NULL,
    key_file    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE certificates (
    id                 INTEGER PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES users(id),
    serial             TEXT NOT NULL UNIQUE,            -- 128 random bits, lower-case hex
    seq                INTEGER NOT NULL,                -- the A001 in the CN, per user
    subject            TEXT NOT NULL,
    key_type           TEXT NOT NULL,
    friendly_name      TEXT NOT NULL,
    not_before         TEXT NOT NULL,
    not_after          TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('valid', 'revoked', 'superseded', 'expired')),
    cert_der           BLOB NOT NULL,
    sha256             TEXT NOT NULL,
    via                TEXT NOT NULL CHECK (via IN ('issue', 'renew', 'reissue')),
    replaces_id        INTEGER REFERENCES certificates(id),
    issued_at          TEXT NOT NULL,
    issued_by          TEXT NOT NULL,
    revoked_at         TEXT,
    revocation_reason  TEXT,
    ended_at           TEXT,                            -- superseded or marked expired
    UNIQUE (user_id, seq)
);
-- One valid certificate per login ID, enforced by the database as well as by the rules.
CREATE UNIQUE INDEX certificates_one_valid_per_user ON certificates(user_id) WHERE state = 'valid';
CREATE INDEX certificates_not_after ON certificates(not_after) WHERE state = 'valid';

-- At most 100 valid certificates per organisation (1 master + 99 others).
CREATE TRIGGER certificates_at_most_100_valid BEFORE INSERT ON certificates
WHEN NEW.state = 'valid' AND (SELECT count(*) FROM certificates WHERE state = 'valid') >= 100
BEGIN SELECT RAISE(ABORT, 'at most 100 valid certificates per organisation'); END;

-- Private keys made at issuance, sealed (AES-256-GCM, per-record nonce) until delivered.
CREATE TABLE certificate_keys (
    certificate_id  INTEGER PRIMARY KEY REFERENCES certificates(id),
    sealed          BLOB NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE crls (
    number       INTEGER PRIMARY KEY,
    this_update  TEXT NOT NULL,
    next_update  TEXT NOT NULL,
    entries      INTEGER NOT NULL,
    der          BLOB NOT NULL
);
