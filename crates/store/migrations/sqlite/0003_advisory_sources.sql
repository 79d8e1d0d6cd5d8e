-- Online advisory sources (ADV-2) that the server syncs on a schedule.
-- Keep in lockstep with ../postgres/0003_advisory_sources.sql.

CREATE TABLE advisory_sources (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('osv', 'csaf', 'kev', 'epss')),
    url             TEXT NOT NULL,
    interval_secs   INTEGER NOT NULL,
    public_keys     TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    next_sync_at    INTEGER NOT NULL,
    last_sync_at    INTEGER,
    last_status     TEXT,
    last_message    TEXT,
    -- A replica that syncs a source holds it until lease_until, so that
    -- background work never runs twice (OPS-1).
    lease_until     INTEGER,
    lease_owner     TEXT
);
CREATE INDEX advisory_sources_due ON advisory_sources (next_sync_at);
