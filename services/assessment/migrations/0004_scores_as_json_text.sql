-- A round writes every unit's frozen inputs and score once and reads them back whole: `json`
-- (checked text) costs Postgres far less to take in than `jsonb`, which nothing here queries into.
ALTER TABLE assessment.scores ALTER COLUMN inputs TYPE json, ALTER COLUMN score TYPE json;
