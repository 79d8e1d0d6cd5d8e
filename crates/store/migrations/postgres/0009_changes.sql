-- Change management and rollout (CHG-1 to CHG-7, RLO-1 to RLO-7). The
-- change engine (crate rivet-change) decides; these tables keep its
-- documents as JSON, with the columns that listings filter on beside them.
-- Keep in lockstep with ../sqlite/0009_changes.sql.
CREATE TABLE changes (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL,
    title       TEXT NOT NULL,
    -- An emergency change waiting for its post-implementation review.
    review_due  BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    -- Raised by every write: a write that read an older revision is refused.
    revision    BIGINT NOT NULL,
    -- The rivet_change::change::Change, with its approvals and history.
    body        TEXT NOT NULL
);
CREATE INDEX changes_by_tenant ON changes (tenant_id, id);
CREATE INDEX changes_by_state ON changes (state, id);

-- Maintenance windows (RLO-1) of a tenant, for all its hosts or one group.
CREATE TABLE maintenance_windows (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    host_group  TEXT,
    name        TEXT NOT NULL,
    -- The rivet_change::window::Window: time zone, start, rule, duration.
    body        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Change freezes: no window opens while one runs; for one tenant or, with
-- tenant_id NULL, for every tenant.
CREATE TABLE change_freezes (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT REFERENCES tenants (id),
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX change_freezes_by_end ON change_freezes (ends_at);

-- A tenant's ring plan, update-class policy and approval policy, each a
-- JSON document of the change engine.
CREATE TABLE change_settings (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL CHECK (name IN ('ring_plan', 'update_policy', 'approval_policy', 'change_templates', 'patch_cycle')),
    body        TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- A customer's problem report on a host of a running rollout halts its
-- later rings (RLO-2) until it is closed.
CREATE TABLE problem_reports (
    id          TEXT PRIMARY KEY,
    change_id   TEXT NOT NULL REFERENCES changes (id),
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    host_id     TEXT,
    reported_by TEXT NOT NULL,
    text        TEXT NOT NULL,
    opened_at   BIGINT NOT NULL,
    closed_at   BIGINT,
    closed_by   TEXT,
    resolution  TEXT
);
CREATE INDEX problem_reports_by_change ON problem_reports (change_id, id);

-- A change's rollout (RLO-2, RLO-4): the engine's rollout document (its
-- plan, every host's job state, problem reports, controls), written by the
-- rollout driver and by people steering it, guarded by a revision.
CREATE TABLE rollouts (
    change_id   TEXT PRIMARY KEY REFERENCES changes (id),
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    state       TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX rollouts_by_state ON rollouts (state, change_id);

-- Jobs (RLO-4, REP-3): one per host of a change's rollout, handed to the
-- host's agent once dispatched, until it reports. With their reports they
-- are the patch register.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    change_id     TEXT NOT NULL REFERENCES changes (id),
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    host_id       TEXT NOT NULL,
    -- install, or rollback (the versions before a rolled-back change).
    kind          TEXT NOT NULL CHECK (kind IN ('install', 'rollback')),
    ring          TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'dispatched', 'succeeded', 'failed',
                  'rolled_back', 'refused', 'rollback_failed', 'skipped')),
    -- The packages (name, exact version, architecture) in order, as JSON.
    packages      TEXT NOT NULL,
    not_before    BIGINT NOT NULL,
    not_after     BIGINT,
    reboot        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    dispatched_at BIGINT,
    reported_at   BIGINT,
    -- The agent's report, as JSON.
    report        TEXT
);
CREATE INDEX jobs_by_change ON jobs (change_id, id);
CREATE INDEX jobs_by_host ON jobs (host_id, state);
