-- Publishing rounds, and the rectification ledger (整改台账) their failed rules open.
ALTER TABLE assessment.rounds ADD COLUMN publish_time timestamptz;

-- One row per item: the columns lists filter on, and the whole item as JSON (the domain's Item).
CREATE TABLE assessment.rectification_items (
    id            text PRIMARY KEY,
    owner_unit_id text NOT NULL,
    unit_id       text NOT NULL,
    round_id      text REFERENCES assessment.rounds (id),
    state         text NOT NULL,
    deadline      date NOT NULL,
    revision      bigint NOT NULL DEFAULT 1,
    item          jsonb NOT NULL
);
CREATE INDEX rectification_items_owner ON assessment.rectification_items (owner_unit_id, deadline, id);
CREATE INDEX rectification_items_unit ON assessment.rectification_items (unit_id, deadline, id);
CREATE INDEX rectification_items_round ON assessment.rectification_items (round_id, unit_id);
