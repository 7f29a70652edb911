-- Assessment: schemes (考核方案) with every version kept, rounds with their frozen inputs, and
-- the scores they gave. (audit_log, idempotency, events and consumer_cursors come from the
-- platform's migrations.)

-- The latest version of each scheme, as JSON (the domain's Scheme).
CREATE TABLE assessment.schemes (
    id            text PRIMARY KEY,
    code          text NOT NULL,
    owner_unit_id text NOT NULL,
    year          integer NOT NULL,
    version       bigint NOT NULL DEFAULT 1,
    content       jsonb NOT NULL,
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schemes_owner_code UNIQUE (owner_unit_id, code)
);
CREATE INDEX schemes_owner ON assessment.schemes (owner_unit_id, year DESC, id);

-- Every version of every scheme, never changed: a round names the one it used.
CREATE TABLE assessment.scheme_versions (
    scheme_id   text NOT NULL REFERENCES assessment.schemes (id),
    version     bigint NOT NULL,
    content     jsonb NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scheme_id, version)
);

-- 考核轮次: a scheme version applied for a period.
CREATE TABLE assessment.rounds (
    id             text PRIMARY KEY,
    scheme_id      text NOT NULL,
    scheme_version bigint NOT NULL,
    owner_unit_id  text NOT NULL,
    kind           text NOT NULL,
    period         text NOT NULL,
    unit_count     integer NOT NULL,
    input_count    integer NOT NULL,
    run_by         text NOT NULL,
    create_time    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (scheme_id, scheme_version) REFERENCES assessment.scheme_versions (scheme_id, version)
);
CREATE INDEX rounds_scheme ON assessment.rounds (scheme_id, create_time DESC, id);

-- Each unit's frozen inputs and its score with the trace, as JSON: a score is explained from
-- this row alone, years later.
CREATE TABLE assessment.scores (
    round_id          text NOT NULL REFERENCES assessment.rounds (id),
    unit_id           text NOT NULL,
    unit_display_name text NOT NULL,
    peer_group        text NOT NULL,
    total             double precision NOT NULL,
    rank              integer NOT NULL,
    rank_shared       boolean NOT NULL,
    inputs            jsonb NOT NULL,
    score             jsonb NOT NULL,
    PRIMARY KEY (round_id, unit_id)
);
CREATE INDEX scores_ranking ON assessment.scores (round_id, peer_group, rank, unit_id);
