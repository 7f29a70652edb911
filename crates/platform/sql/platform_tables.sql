-- Tables every service keeps in its own schema, used by fazhi_platform::mutation and ::outbox.
-- Each service's first migration copies this with the schema name filled in.

-- Audit trail: every mutation, and every refused call.
CREATE TABLE {schema}.audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    subject     text NOT NULL,
    caller_unit text,
    roles       text[] NOT NULL,
    method      text NOT NULL,
    resource    text NOT NULL,
    before      jsonb,
    after       jsonb,
    result      text NOT NULL,
    request_id  text
);
CREATE INDEX audit_log_resource ON {schema}.audit_log (resource, at);

-- request_id idempotency: a retry replays the stored response.
CREATE TABLE {schema}.idempotency (
    subject     text NOT NULL,
    request_id  text NOT NULL,
    method      text NOT NULL,
    fingerprint bytea NOT NULL,
    response    jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, request_id)
);

-- Transactional outbox, read by WatchEvents.
CREATE TABLE {schema}.events (
    sequence    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type  text NOT NULL,
    resource    text NOT NULL,
    payload     jsonb NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
