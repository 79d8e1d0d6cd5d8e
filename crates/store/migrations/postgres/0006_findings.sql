-- Findings (ASM-2 to ASM-6): host × advisory × package, with their
-- lifecycle, and the deadline policy of each tenant.
-- Keep in lockstep with ../sqlite/0006_findings.sql.

-- One row per host, advisory document and package (name and
-- architecture); several installed versions of one package (kernels)
-- share it. The matching engine says which rows are open; a row no longer
-- matched is fixed, not deleted, so that fixes and deadlines can be proven.
CREATE TABLE findings (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          TEXT NOT NULL,
    host_seq           BIGINT NOT NULL,
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
    score              DOUBLE PRECISION,
    kev                BOOLEAN NOT NULL,
    epss               DOUBLE PRECISION,
    priority           BIGINT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('open', 'fixed', 'mitigated', 'accepted', 'not_affected')),
    -- A fixed kernel is installed but not running yet (ASM-7).
    pending_reboot     BOOLEAN NOT NULL,
    published_at       BIGINT,
    first_found_at     BIGINT NOT NULL,
    due_at             BIGINT,
    fixed_at           BIGINT,
    updated_at         BIGINT NOT NULL,
    UNIQUE (host_seq, advisory_key, package, architecture)
);
CREATE INDEX findings_by_tenant ON findings (tenant_id, state, due_at);
CREATE INDEX findings_by_advisory ON findings (advisory_key);

-- When findings fall due (ASM-5), per tenant; a tenant without a row has
-- the defaults (3, 7, 30, 90 days, known exploited 3, from publication).
CREATE TABLE deadline_policies (
    tenant_id      TEXT PRIMARY KEY REFERENCES tenants (id),
    kev_days       BIGINT NOT NULL,
    critical_days  BIGINT NOT NULL,
    high_days      BIGINT NOT NULL,
    medium_days    BIGINT NOT NULL,
    low_days       BIGINT NOT NULL,
    count_from     TEXT NOT NULL CHECK (count_from IN ('published', 'found')),
    updated_at     BIGINT NOT NULL,
    updated_by     TEXT NOT NULL
);
