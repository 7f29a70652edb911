-- C7: a reviewer's score of a manual criterion for a unit and period (酌情评分), with its
-- justification; a round run afterwards freezes it as the `manual/{criterion}` input.
CREATE TABLE assessment.manual_scores (
    scheme_id     text NOT NULL REFERENCES assessment.schemes (id),
    period        text NOT NULL,
    unit_id       text NOT NULL,
    criterion     text NOT NULL,
    score         double precision NOT NULL,
    justification text NOT NULL,
    scorer        text NOT NULL,
    record_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scheme_id, period, unit_id, criterion)
);
