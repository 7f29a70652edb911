-- The indicators catalogue, targets, and reported values with their review history.
-- (audit_log, idempotency, events and consumer_cursors come from the platform's migrations.)

-- 数据项: what units report.
CREATE TABLE indicators.data_elements (
    id                 text PRIMARY KEY,
    -- How formulas name it.
    code               text NOT NULL UNIQUE,
    display_name       text NOT NULL,
    value_type         text NOT NULL,
    aggregation        text NOT NULL,
    period_aggregation text NOT NULL,
    period_type        text NOT NULL,
    category           text NOT NULL DEFAULT '',
    category_options   text[] NOT NULL DEFAULT '{}',
    unit_of_measure    text NOT NULL DEFAULT '',
    central            boolean NOT NULL DEFAULT false,
    revision           bigint NOT NULL DEFAULT 1,
    create_time        timestamptz NOT NULL DEFAULT now()
);

-- 指标: a formula over data elements, kept as written; parsed again on read.
CREATE TABLE indicators.indicators (
    id                 text PRIMARY KEY,
    code               text NOT NULL UNIQUE,
    display_name       text NOT NULL,
    formula            text NOT NULL,
    factor             double precision NOT NULL,
    unit_of_measure    text NOT NULL DEFAULT '',
    direction          text NOT NULL,
    data_element_codes text[] NOT NULL,
    revision           bigint NOT NULL DEFAULT 1,
    create_time        timestamptz NOT NULL DEFAULT now()
);

-- 目标值: the kind and its parameters as JSON (TargetKind).
CREATE TABLE indicators.targets (
    id               text PRIMARY KEY,
    display_name     text NOT NULL,
    indicator_id     text REFERENCES indicators.indicators (id),
    owner_unit_id    text NOT NULL,
    applies_to_group text,
    first_period     text,
    last_period      text,
    kind             jsonb NOT NULL,
    revision         bigint NOT NULL DEFAULT 1,
    create_time      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX targets_owner ON indicators.targets (owner_unit_id, id);

-- 填报数据: one row per element, unit ('' for a central element), period and category option
-- ('' for the total). The period's dates are kept so a longer period finds the values inside it.
CREATE TABLE indicators.data_values (
    id              text PRIMARY KEY,
    data_element_id text NOT NULL REFERENCES indicators.data_elements (id),
    unit_id         text NOT NULL,
    period          text NOT NULL,
    period_start    date NOT NULL,
    period_end      date NOT NULL,
    category_option text NOT NULL DEFAULT '',
    value           double precision NOT NULL,
    comment         text NOT NULL DEFAULT '',
    state           text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    -- What made this version: reported, submitted, approved, returned, reopened, ingested.
    action          text NOT NULL,
    update_subject  text NOT NULL,
    revision        bigint NOT NULL DEFAULT 1,
    update_time     timestamptz NOT NULL DEFAULT now(),
    -- The external row that last set it (bulk ingest): a re-sent row is recognised by these.
    source          text,
    external_id     text,
    fingerprint     bytea,
    CONSTRAINT data_values_key UNIQUE (data_element_id, unit_id, period, category_option),
    CONSTRAINT data_values_external UNIQUE (source, external_id)
);
-- Evaluation reads an element's values for a set of units over a date window.
CREATE INDEX data_values_window ON indicators.data_values (data_element_id, period_start, unit_id);
CREATE INDEX data_values_unit ON indicators.data_values (unit_id, data_element_id, period_start);

-- The versions a change replaced, never updated (修改记录): with the current version in
-- data_values, every revision of a value. A new value costs one row; a change, two.
CREATE TABLE indicators.data_value_revisions (
    data_value_id text NOT NULL REFERENCES indicators.data_values (id),
    revision      bigint NOT NULL,
    action        text NOT NULL,
    state         text NOT NULL,
    value         double precision NOT NULL,
    reason        text NOT NULL DEFAULT '',
    subject       text NOT NULL,
    time          timestamptz NOT NULL,
    PRIMARY KEY (data_value_id, revision)
);
