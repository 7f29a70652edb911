-- What units put to the office about a criterion's score: self-assessments (自查自评) for a
-- scheme and period, appeals (申诉) against a published round; one row each, the whole claim
-- as JSON (the domain's Claim).
CREATE TABLE assessment.claims (
    id            text PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('appeal', 'self_assessment')),
    scheme_id     text NOT NULL REFERENCES assessment.schemes (id),
    period        text NOT NULL,
    round_id      text REFERENCES assessment.rounds (id),
    owner_unit_id text NOT NULL,
    unit_id       text NOT NULL,
    criterion     text NOT NULL,
    state         text NOT NULL,
    revision      bigint NOT NULL DEFAULT 1,
    create_time   timestamptz NOT NULL DEFAULT now(),
    claim         jsonb NOT NULL
);
-- One appeal per round, unit and criterion; one self-assessment per scheme, period, unit and
-- criterion (a unit resubmits it while it is pending).
CREATE UNIQUE INDEX claims_one_appeal ON assessment.claims (round_id, unit_id, criterion)
    WHERE kind = 'appeal';
CREATE UNIQUE INDEX claims_one_self_assessment ON assessment.claims (scheme_id, period, unit_id, criterion)
    WHERE kind = 'self_assessment';
CREATE INDEX claims_listing ON assessment.claims (kind, scheme_id, period, create_time, id);

-- Scores the office decided outside the rules, for the next run to freeze: an appeal's
-- adjustment (`adjusted/{criterion}`) and a finding of falsification (`falsified/{criterion}`).
CREATE TABLE assessment.score_findings (
    scheme_id     text NOT NULL REFERENCES assessment.schemes (id),
    period        text NOT NULL,
    unit_id       text NOT NULL,
    criterion     text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('adjusted', 'falsified')),
    score         double precision,
    justification text NOT NULL,
    decided_by    text NOT NULL,
    source        text NOT NULL,
    record_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scheme_id, period, unit_id, criterion, kind)
);
