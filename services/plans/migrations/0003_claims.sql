-- Claims (认领): the unit's work plan, when and by whom.
ALTER TABLE plans.assignments
    ADD COLUMN work_plan  jsonb,
    ADD COLUMN claim_time timestamptz,
    ADD COLUMN claimed_by text;
