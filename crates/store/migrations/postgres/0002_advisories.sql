-- Advisories (ADV-1..ADV-3): normalised records from OSV, CSAF, KEV and EPSS.
-- Advisories are public knowledge shared by every tenant, so they carry no
-- tenant. Keep in lockstep with ../sqlite/0002_advisories.sql.

-- One row per document. The key tells apart documents that share an id
-- (AlmaLinux publishes one ALSA id per release); body is the normalised
-- record as JSON.
CREATE TABLE advisories (
    key             TEXT PRIMARY KEY,
    id              TEXT NOT NULL,
    format          TEXT NOT NULL,
    title           TEXT,
    published       BIGINT,
    modified        BIGINT,
    withdrawn       BIGINT,
    severity_score  DOUBLE PRECISION,
    severity        TEXT,
    source          TEXT NOT NULL,
    location        TEXT NOT NULL,
    fetched_at      BIGINT NOT NULL,
    content_sha256  TEXT NOT NULL,
    signature       TEXT NOT NULL,
    body            TEXT NOT NULL,
    imported_at     BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX advisories_by_id ON advisories (id);

CREATE TABLE advisory_aliases (
    advisory_key  TEXT NOT NULL REFERENCES advisories (key) ON DELETE CASCADE,
    alias         TEXT NOT NULL,
    PRIMARY KEY (advisory_key, alias)
);
CREATE INDEX advisory_aliases_by_alias ON advisory_aliases (alias);

-- What each advisory affects, for matching: ecosystem (as published),
-- its name, the package, and a fixed version where there is one.
CREATE TABLE advisory_packages (
    advisory_key    TEXT NOT NULL REFERENCES advisories (key) ON DELETE CASCADE,
    ecosystem       TEXT NOT NULL,
    ecosystem_name  TEXT NOT NULL,
    package         TEXT NOT NULL,
    fixed           TEXT
);
CREATE INDEX advisory_packages_by_package ON advisory_packages (ecosystem_name, package);
CREATE INDEX advisory_packages_by_advisory ON advisory_packages (advisory_key);

-- CISA's Known Exploited Vulnerabilities, by CVE.
CREATE TABLE kev (
    cve              TEXT PRIMARY KEY,
    date_added       TEXT NOT NULL,
    due_date         TEXT NOT NULL,
    ransomware       TEXT NOT NULL,
    vendor           TEXT NOT NULL,
    product          TEXT NOT NULL,
    name             TEXT NOT NULL,
    required_action  TEXT NOT NULL,
    catalog_version  TEXT NOT NULL,
    imported_at      BIGINT NOT NULL
);

-- FIRST EPSS scores, by CVE.
CREATE TABLE epss (
    cve            TEXT PRIMARY KEY,
    score          DOUBLE PRECISION NOT NULL,
    percentile     DOUBLE PRECISION NOT NULL,
    score_date     BIGINT NOT NULL,
    model_version  TEXT NOT NULL
);
