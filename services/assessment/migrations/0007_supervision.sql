-- Supervision (督察): 约谈, 督察建议书, 责令整改, 通报批评 taken about a unit, each citing the
-- earlier steps it escalates from; the whole record as JSON (the domain's SupervisionRecord).
CREATE TABLE assessment.supervision_records (
    id            text PRIMARY KEY,
    owner_unit_id text NOT NULL,
    unit_id       text NOT NULL,
    round_id      text REFERENCES assessment.rounds (id),
    action        text NOT NULL,
    create_time   timestamptz NOT NULL,
    record        jsonb NOT NULL
);
CREATE INDEX supervision_records_owner ON assessment.supervision_records (owner_unit_id, create_time, id);
CREATE INDEX supervision_records_unit ON assessment.supervision_records (unit_id, create_time, id);
CREATE INDEX supervision_records_round ON assessment.supervision_records (round_id);
