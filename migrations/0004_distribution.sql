-- Distribution: single .p12 files, bundles (ZIP + password sheet) and pickups.
-- A certificate's private key stays sealed in certificate_keys until 24 hours after its
-- first download (any channel); then the row is deleted and the erasure audited.

ALTER TABLE certificate_keys ADD COLUMN first_delivered_at TEXT;

-- The organisation's default .p12 protection.
CREATE TABLE distribution_settings (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    default_profile  TEXT NOT NULL DEFAULT 'modern' CHECK (default_profile IN ('modern', 'compatible'))
);
INSERT INTO distribution_settings (id) VALUES (1);

-- A prepared delivery: one .p12 (single), a ZIP of .p12 files (bundle) or a set of pickups.
-- The file and the password sheet are sealed (AES-256-GCM, per-record nonce) and erased
-- (set to NULL) when the delivery expires, 24 hours after it was made.
CREATE TABLE deliveries (
    id            INTEGER PRIMARY KEY,
    token         TEXT NOT NULL UNIQUE,                 -- 128 random bits, hex: the URLs use it
    kind          TEXT NOT NULL CHECK (kind IN ('single', 'bundle', 'pickup')),
    profile       TEXT NOT NULL CHECK (profile IN ('modern', 'compatible')),
    file_name     TEXT,
    sealed_file   BLOB,
    sealed_sheet  BLOB,                                  -- JSON slips with passwords; never the file
    items         INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    erased_at     TEXT
);
CREATE INDEX deliveries_live ON deliveries(expires_at) WHERE erased_at IS NULL;

CREATE TABLE delivery_items (
    delivery_id     INTEGER NOT NULL REFERENCES deliveries(id),
    certificate_id  INTEGER NOT NULL REFERENCES certificates(id),
    PRIMARY KEY (delivery_id, certificate_id)
);

-- Self-service pickup (MaiNet style): a certificate number and a one-time pickup password.
-- Only a hash of the password is kept (it is 16 random characters, ~93 bits).
CREATE TABLE pickups (
    id                 INTEGER PRIMARY KEY,
    certificate_id     INTEGER NOT NULL REFERENCES certificates(id),
    number             TEXT NOT NULL UNIQUE,            -- 'NNNN-NNNN-NNNN'
    password_sha256    TEXT NOT NULL,
    profile            TEXT NOT NULL CHECK (profile IN ('modern', 'compatible')),
    created_at         TEXT NOT NULL,
    created_by         TEXT NOT NULL,
    failures           INTEGER NOT NULL DEFAULT 0,
    locked_at          TEXT,
    first_download_at  TEXT,
    closed_at          TEXT                              -- replaced by a newer pickup
);
CREATE UNIQUE INDEX pickups_one_open_per_certificate ON pickups(certificate_id) WHERE closed_at IS NULL;
