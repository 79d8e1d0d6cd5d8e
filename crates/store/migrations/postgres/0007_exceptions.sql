-- Exceptions (ASM-6): a risk accepted, or a workaround recorded, for an
-- advisory on one host, on a group of hosts, or on every host of a tenant,
-- until it expires. Findings they cover are accepted or mitigated; when an
-- exception expires or is revoked, they reopen.
-- Keep in lockstep with ../sqlite/0007_exceptions.sql.
CREATE TABLE finding_exceptions (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    kind         TEXT NOT NULL CHECK (kind IN ('accept', 'workaround')),
    -- The advisory's id (ALSA-2024:1234) or one of its aliases (a CVE).
    advisory     TEXT NOT NULL,
    -- One host, or one group of hosts, or neither: every host of the tenant.
    host_seq     BIGINT,
    host_group   TEXT,
    reason       TEXT NOT NULL,
    approver     TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    -- Set once its expiry reopened its findings.
    ended_at     BIGINT
);
CREATE INDEX finding_exceptions_by_tenant ON finding_exceptions (tenant_id, id);
-- The exception a finding is under.
ALTER TABLE findings ADD COLUMN exception_id TEXT;
