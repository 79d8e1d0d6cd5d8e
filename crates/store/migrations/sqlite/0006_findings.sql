-- Findings (ASM-2 to ASM-6): host × advisory × package, with their
-- lifecycle, and the deadline policy of each tenant.
-- Keep in lockstep with ../postgres/0006_findings.sql.

-- One row per host, advisory document and package (name and
-- architecture); several installed versions of one package (kernels)
-- share it. The matching engine says which rows are open; a row no longer
-- matched is fixed, not deleted, so that fixes and deadlines can be proven.
CREATE TABLE findings (
    id                 INTEGER PRIMARY KEY,
    tenant_id          TEXT NOT NULL,
    host_seq           INTEGER NOT NULL,
    advisory_key       TEXT NOT NULL,
    advisory_id        TEXT NOT NULL,
    -- The advisory's CVE and other ids (JSON array of strings).
    aliases            TEXT NOT NULL,
    package            TEXT NOT NULL,
    architecture       TEXT NOT NULL,
    installed_version  TEXT NOT NULL,
    source_package     TEXT NOT NULL,
    fixed_version      TEXT,
    severity           TEXT NOT NULL,
    score              REAL,
    kev                BOOLEAN NOT NULL,
    epss               REAL,
    priority           INTEGER NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('open', 'fixed', 'mitigated', 'accepted', 'not_affected')),
    -- A fixed kernel is installed but not running yet (ASM-7).
    pending_reboot     BOOLEAN NOT NULL,
    published_at       INTEGER,
    first_found_at     INTEGER NOT NULL,
    due_at             INTEGER,
    fixed_at           INTEGER,
    updated_at         INTEGER NOT NULL,
    UNIQUE (host_seq, advisory_key, package, architecture)
);
CREATE INDEX findings_by_tenant ON findings (tenant_id, state, due_at);
CREATE INDEX findings_by_advisory ON findings (advisory_key);

-- When findings fall due (ASM-5), per tenant; a tenant without a row has
-- the defaults (3, 7, 30, 90 days, known exploited 3, from publication).
CREATE TABLE deadline_policies (
    tenant_id      TEXT PRIMARY KEY REFERENCES tenants (id),
    kev_days       INTEGER NOT NULL,
    critical_days  INTEGER NOT NULL,
    high_days      INTEGER NOT NULL,
    medium_days    INTEGER NOT NULL,
    low_days       INTEGER NOT NULL,
    count_from     TEXT NOT NULL CHECK (count_from IN ('published', 'found')),
    updated_at     INTEGER NOT NULL,
    updated_by     TEXT NOT NULL
);
