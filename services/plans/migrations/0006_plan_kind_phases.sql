-- What a plan is for (multi_year, annual, special_action) and its stages with dates.
ALTER TABLE plans.plans
    ADD COLUMN kind   text,
    ADD COLUMN phases jsonb NOT NULL DEFAULT '[]';
