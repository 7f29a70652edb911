-- Platform tables, read and written by fazhi_platform::mutation and ::outbox. Every service's
-- first migration creates these three in its own schema.
CREATE TABLE units.audit_log (
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
CREATE INDEX audit_log_resource ON units.audit_log (resource, at);

CREATE TABLE units.idempotency (
    subject     text NOT NULL,
    request_id  text NOT NULL,
    method      text NOT NULL,
    fingerprint bytea NOT NULL,
    response    jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, request_id)
);

CREATE TABLE units.events (
    sequence    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type  text NOT NULL,
    resource    text NOT NULL,
    payload     jsonb NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now()
);

-- A unit: what does not change with reorganisations lives here; its name and parent over time
-- live in unit_versions.
CREATE TABLE units.units (
    id           text PRIMARY KEY,
    short_name   text NOT NULL DEFAULT '',
    aliases      text[] NOT NULL DEFAULT '{}',
    kind         text NOT NULL,
    level        text NOT NULL,
    region_code  text,
    credit_code  text,
    tags         text[] NOT NULL DEFAULT '{}',
    contacts     jsonb NOT NULL DEFAULT '[]',
    -- The unit exists on [valid_from, valid_until).
    valid_from   date NOT NULL,
    valid_until  date,
    revision     bigint NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    delete_time  timestamptz,
    CHECK (valid_until IS NULL OR valid_until > valid_from)
);
CREATE UNIQUE INDEX units_credit_code ON units.units (credit_code) WHERE credit_code IS NOT NULL AND delete_time IS NULL;
CREATE INDEX units_tags ON units.units USING gin (tags);

-- Name and parent of a unit on [valid_from, valid_until); renames and moves add a version.
CREATE TABLE units.unit_versions (
    unit_id      text NOT NULL REFERENCES units.units (id),
    valid_from   date NOT NULL,
    valid_until  date,
    display_name text NOT NULL,
    parent_id    text REFERENCES units.units (id),
    PRIMARY KEY (unit_id, valid_from),
    CHECK (valid_until IS NULL OR valid_until > valid_from)
);
CREATE INDEX unit_versions_parent ON units.unit_versions (parent_id, valid_from);
CREATE INDEX unit_versions_name ON units.unit_versions (display_name COLLATE "zh-Hans-x-icu", unit_id);

CREATE TABLE units.reorganizations (
    id               text PRIMARY KEY,
    kind             text NOT NULL,
    effective_date   date NOT NULL,
    source_units     text[] NOT NULL,
    successor_units  text[] NOT NULL,
    new_display_name text NOT NULL DEFAULT '',
    new_parent       text REFERENCES units.units (id),
    note             text NOT NULL DEFAULT '',
    create_time      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reorganizations_sources ON units.reorganizations USING gin (source_units);

-- Who took over from whom, from which day.
CREATE TABLE units.successions (
    predecessor_id  text NOT NULL REFERENCES units.units (id),
    successor_id    text NOT NULL REFERENCES units.units (id),
    effective_date  date NOT NULL,
    reorganization_id text NOT NULL REFERENCES units.reorganizations (id),
    PRIMARY KEY (predecessor_id, successor_id)
);

CREATE TABLE units.unit_groups (
    id           text PRIMARY KEY,
    display_name text NOT NULL,
    aliases      text[] NOT NULL DEFAULT '{}',
    definition   jsonb NOT NULL,
    revision     bigint NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    delete_time  timestamptz
);
