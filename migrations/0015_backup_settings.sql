-- Settings → Scheduled backups (issue 19). One row once a master saved the page; until then
-- `serve --backup-dir/--backup-every/--backup-keep` are in effect. An empty folder turns
-- scheduled backups off.
CREATE TABLE backup_settings (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    dir            TEXT NOT NULL,
    every_minutes  INTEGER NOT NULL CHECK (every_minutes BETWEEN 1 AND 527040),
    keep           INTEGER NOT NULL CHECK (keep BETWEEN 1 AND 1000),
    updated_at     TEXT NOT NULL
);
