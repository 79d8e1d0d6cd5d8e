-- Hosts, the CMDB (INV-1 to INV-8): enrollment tokens, hosts with their
-- agent's identity, attributes and facts, packages interned once for all
-- hosts, each host's current package set and its software history.
-- Keep in lockstep with ../postgres/0004_hosts.sql.

CREATE TABLE enrollment_tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    secret_hash  TEXT NOT NULL,
    -- The HostAttributes (JSON) an enrolled host starts with.
    attributes   TEXT NOT NULL,
    note         TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    host_id      TEXT,
    revoked_at   INTEGER
);
CREATE INDEX enrollment_tokens_by_tenant ON enrollment_tokens (tenant_id, id);

-- seq is the host's compact key inside the database (host_packages holds
-- hundreds of rows per host); id is its public identity.
CREATE TABLE hosts (
    seq                   INTEGER PRIMARY KEY,
    id                    TEXT NOT NULL UNIQUE,
    tenant_id             TEXT NOT NULL REFERENCES tenants (id),
    name                  TEXT NOT NULL,
    source                TEXT NOT NULL CHECK (source IN ('agent', 'import')),
    public_key            TEXT,
    agent_version         TEXT,
    enrolled_at           INTEGER,
    revoked_at            INTEGER,
    os_id                 TEXT,
    os_version            TEXT,
    os_name               TEXT,
    architecture          TEXT,
    reboot_required       BOOLEAN NOT NULL,
    package_count         INTEGER NOT NULL,
    -- The inventory but its packages (InventoryRest, JSON).
    facts                 TEXT,
    inventory_digest      TEXT,
    inventory_at          INTEGER,
    last_seen_at          INTEGER,
    collect_requested_at  INTEGER,
    environment           TEXT,
    role                  TEXT,
    criticality           TEXT,
    owner                 TEXT,
    responsible           TEXT,
    managed_scope         TEXT NOT NULL,
    ring                  TEXT,
    maintenance_window    TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX hosts_by_tenant ON hosts (tenant_id, id);
CREATE INDEX hosts_by_name ON hosts (name);
-- An imported host is found again by its name, to update it.
CREATE UNIQUE INDEX hosts_imported_by_name ON hosts (tenant_id, name) WHERE source = 'import';

CREATE TABLE host_labels (
    host_seq  INTEGER NOT NULL REFERENCES hosts (seq) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('group', 'tag')),
    value     TEXT NOT NULL,
    PRIMARY KEY (host_seq, kind, value)
);
CREATE INDEX host_labels_by_value ON host_labels (kind, value, host_seq);

-- One row per distinct package; key is a hash of all its columns, so that
-- the uniqueness index does not copy every string a second time.
CREATE TABLE packages (
    id              INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    format          TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    source_name     TEXT NOT NULL,
    source_version  TEXT NOT NULL,
    repository      TEXT
);
CREATE INDEX packages_by_name ON packages (name);

-- The current package set of every host. No foreign keys: rows are written
-- by the hundred per inventory and deleted with their host by the store.
CREATE TABLE host_packages (
    host_seq      INTEGER NOT NULL,
    package_id    INTEGER NOT NULL,
    installed_at  INTEGER,
    PRIMARY KEY (host_seq, package_id)
) WITHOUT ROWID;
CREATE INDEX host_packages_by_package ON host_packages (package_id, host_seq);

-- Every software change observed on every host (INV-4). The first
-- inventory of a host is its baseline and records no changes.
CREATE TABLE host_history (
    id              INTEGER PRIMARY KEY,
    host_seq        INTEGER NOT NULL,
    observed_at     INTEGER NOT NULL,
    change          TEXT NOT NULL CHECK (change IN ('installed', 'upgraded', 'downgraded', 'removed')),
    old_package_id  INTEGER,
    new_package_id  INTEGER,
    -- The change request that made the change, once rollouts record it.
    change_request  TEXT
);
CREATE INDEX host_history_by_host ON host_history (host_seq, id);
