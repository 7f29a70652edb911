-- Platform tables, read and written by fazhi_platform::mutation and ::outbox (as in units).
CREATE TABLE plans.audit_log (
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
CREATE INDEX audit_log_resource ON plans.audit_log (resource, at);

CREATE TABLE plans.idempotency (
    subject     text NOT NULL,
    request_id  text NOT NULL,
    method      text NOT NULL,
    fingerprint bytea NOT NULL,
    response    jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, request_id)
);

CREATE TABLE plans.events (
    sequence    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type  text NOT NULL,
    resource    text NOT NULL,
    payload     jsonb NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now()
);

-- A plan (实施方案). The issuer is a unit of the units service: an id, never a join.
CREATE TABLE plans.plans (
    id                text PRIMARY KEY,
    title             text NOT NULL,
    document_number   text NOT NULL DEFAULT '',
    issuer_id         text NOT NULL,
    period_start_year int,
    period_end_year   int,
    state             text NOT NULL,
    task_count        int NOT NULL,
    import_report     jsonb NOT NULL,
    revision          bigint NOT NULL DEFAULT 1,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    delete_time       timestamptz
);
CREATE INDEX plans_issuer ON plans.plans (issuer_id, create_time DESC, id);
CREATE INDEX plans_recent ON plans.plans (create_time DESC, id);

-- Tasks in document order. Mentions keep the printed text next to their resolution; assignments
-- to concrete units are made on publishing.
CREATE TABLE plans.tasks (
    plan_id        text NOT NULL REFERENCES plans.plans (id),
    id             text NOT NULL,
    position       int NOT NULL,
    number         text NOT NULL,
    title          text NOT NULL,
    body           text NOT NULL,
    part_number    text NOT NULL DEFAULT '',
    part_title     text NOT NULL DEFAULT '',
    section_number text NOT NULL DEFAULT '',
    section_title  text NOT NULL DEFAULT '',
    source_line    int NOT NULL,
    mentions       jsonb NOT NULL,
    deadlines      jsonb NOT NULL,
    targets        jsonb NOT NULL,
    PRIMARY KEY (plan_id, id),
    UNIQUE (plan_id, position)
);
