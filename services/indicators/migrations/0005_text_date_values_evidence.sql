-- Values of text and date elements, and the evidence (佐证材料) a value links to.
-- A text element's value is its text (`value` 0); a date element's is the day as YYYY-MM-DD,
-- with `value` its day number since 1970-01-01 so that the latest and earliest compare.
-- Revisions keep the text they replaced as they keep the number; evidence is the current
-- version's only (the audit log keeps every change of it).
ALTER TABLE indicators.data_values
    ADD COLUMN text_value text,
    ADD COLUMN evidence jsonb NOT NULL DEFAULT '[]';
ALTER TABLE indicators.data_value_revisions ADD COLUMN text_value text;
