-- Distribution limits (issue 15): unopened pickups expire after a setting (then the key is
-- erased), and one bundle is built at a time per organisation.

-- Days an unopened pickup stays open; then it closes and its key is erased.
ALTER TABLE distribution_settings
    ADD COLUMN pickup_expiry_days INTEGER NOT NULL DEFAULT 14
    CHECK (pickup_expiry_days BETWEEN 1 AND 365);

-- Why a pickup closed: replaced by a newer one, or expired unopened.
ALTER TABLE pickups ADD COLUMN closed_reason TEXT
    CHECK (closed_reason IS NULL OR closed_reason IN ('replaced', 'expired'));

-- A bundle being built: the row exists from the start of the build to its end, so a second
-- start can be refused while it runs. Unfinished rows left by a stopped process are
-- finished ('abandoned') at start-up.
CREATE TABLE bundle_runs (
    id           INTEGER PRIMARY KEY,
    actor        TEXT NOT NULL,
    users        INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT CHECK (outcome IS NULL OR outcome IN ('made', 'failed', 'abandoned'))
);
CREATE UNIQUE INDEX bundle_runs_one_unfinished ON bundle_runs(finished_at IS NULL) WHERE finished_at IS NULL;
