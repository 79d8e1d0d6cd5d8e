-- Notifications (RLO-6, REP-5): what each tenant wants to be told and how,
-- and the outbox the sender delivers from. One row of the outbox is one
-- message to one e-mail recipient or one webhook POST.
-- Keep in lockstep with ../sqlite/0010_notifications.sql.
CREATE TABLE notification_settings (
    tenant_id         TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    email_enabled     BOOLEAN NOT NULL,
    -- A JSON array of addresses.
    email_recipients  TEXT NOT NULL,
    webhook_enabled   BOOLEAN NOT NULL,
    webhook_url       TEXT,
    -- The HMAC key of the webhook's signature, shown once when made.
    webhook_secret    TEXT,
    lead_time_hours   BIGINT NOT NULL,
    updated_by        TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE notifications (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- downtime_planned, test, …
    kind             TEXT NOT NULL,
    channel          TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    -- The address, or the webhook's URL.
    target           TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    -- The JSON a webhook receives (and a record of what was said).
    payload          TEXT NOT NULL,
    -- The same notice is queued once per tenant: a second enqueue is a no-op.
    dedupe_key       TEXT NOT NULL,
    due_at           BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL,
    -- When the sender tries next (or its claim lapses); NULL once sent or
    -- given up.
    next_attempt_at  BIGINT,
    sent_at          BIGINT,
    -- Set when the sender gave up (too many attempts, or a permanent refusal).
    failed_at        BIGINT,
    last_error       TEXT,
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX notifications_due ON notifications (next_attempt_at);
CREATE INDEX notifications_by_tenant ON notifications (tenant_id, id);
