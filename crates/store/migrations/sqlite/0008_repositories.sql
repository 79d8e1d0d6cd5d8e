-- Repositories (ASM-3): the apt and dnf repositories whose metadata the
-- server knows, for one tenant or for every tenant (tenant_id NULL:
-- provider-wide), with what each offers. A host's missing updates are
-- computed from the approved repositories of its ecosystem.
-- Keep in lockstep with ../postgres/0008_repositories.sql.
CREATE TABLE repositories (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT REFERENCES tenants (id),
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('apt', 'rpm')),
    -- The ecosystem key its hosts have (Debian:12, AlmaLinux:9).
    ecosystem            TEXT NOT NULL,
    -- Everything it offers fixes security issues (bookworm-security).
    security             BOOLEAN NOT NULL,
    approved             BOOLEAN NOT NULL,
    package_count        INTEGER NOT NULL,
    erratum_count        INTEGER NOT NULL,
    -- SHA-256 of the last package list (Packages, primary.xml) imported.
    metadata_digest      TEXT,
    imported_at          INTEGER,
    -- SHA-256 of the last updateinfo.xml imported.
    errata_digest        TEXT,
    errata_imported_at   INTEGER,
    created_by           TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
-- One name per tenant, and one among the provider-wide repositories.
CREATE UNIQUE INDEX repositories_by_name ON repositories (COALESCE(tenant_id, ''), name);
CREATE INDEX repositories_by_ecosystem ON repositories (ecosystem, tenant_id);

-- What a repository offers; replaced whole by each import.
CREATE TABLE repository_packages (
    repository_id   TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    arch            TEXT NOT NULL,
    version         TEXT NOT NULL,
    source_name     TEXT NOT NULL,
    source_version  TEXT NOT NULL,
    PRIMARY KEY (repository_id, name, arch, version)
) WITHOUT ROWID;

-- A repository's errata (rpm-md updateinfo.xml); replaced whole by each
-- import of them.
CREATE TABLE repository_errata (
    repository_id  TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    id             TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('security', 'bugfix', 'enhancement', 'newpackage')),
    severity       TEXT,
    issued         TEXT,
    title          TEXT,
    -- JSON arrays of strings.
    cves           TEXT NOT NULL,
    refs           TEXT NOT NULL,
    PRIMARY KEY (repository_id, id)
) WITHOUT ROWID;

-- The package versions each erratum brings, found by package name.
CREATE TABLE repository_erratum_packages (
    repository_id  TEXT NOT NULL,
    erratum_id     TEXT NOT NULL,
    name           TEXT NOT NULL,
    arch           TEXT NOT NULL,
    version        TEXT NOT NULL,
    PRIMARY KEY (repository_id, name, arch, version, erratum_id),
    FOREIGN KEY (repository_id, erratum_id) REFERENCES repository_errata (repository_id, id) ON DELETE CASCADE
) WITHOUT ROWID;
