-- Data sets (报表) with their reporting schedule and validation rules, and when each value was
-- last submitted (for the timeliness of returns).

CREATE TABLE indicators.data_sets (
    id                 text PRIMARY KEY,
    code               text NOT NULL UNIQUE,
    display_name       text NOT NULL,
    period_type        text NOT NULL,
    data_element_codes text[] NOT NULL,
    owner_unit_id      text NOT NULL,
    reporting_group    text,
    due_days           integer NOT NULL,
    -- [ValidationRule] as JSON.
    validation_rules   jsonb NOT NULL DEFAULT '[]',
    revision           bigint NOT NULL DEFAULT 1,
    create_time        timestamptz NOT NULL DEFAULT now()
);
-- Which data sets hold an element (the rules to run when one of its values is submitted).
CREATE INDEX data_sets_elements ON indicators.data_sets USING gin (data_element_codes);

ALTER TABLE indicators.data_values ADD COLUMN submit_time timestamptz;

-- Values submitted before this migration: the last revision that submitted them.
UPDATE indicators.data_values v
SET submit_time = coalesce(
    (SELECT max(time) FROM indicators.data_value_revisions r
     WHERE r.data_value_id = v.id AND r.state = 'submitted'),
    v.update_time)
WHERE v.state IN ('submitted', 'approved');

-- Every write path (a report, a review, a bulk ingest) sets the submission time the same way: when
-- a value becomes submitted, or a submitted value is replaced by another.
CREATE FUNCTION indicators.stamp_submission() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'submitted' AND (TG_OP = 'INSERT' OR OLD.state <> 'submitted'
                                    OR OLD.value <> NEW.value) THEN
        NEW.submit_time := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER data_values_submission BEFORE INSERT OR UPDATE ON indicators.data_values
    FOR EACH ROW EXECUTE FUNCTION indicators.stamp_submission();
