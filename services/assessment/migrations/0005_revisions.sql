-- Re-runs of a round as its next revision, and rounds marked stale when an input they froze
-- changed in another service after the run.
ALTER TABLE assessment.rounds
    ADD COLUMN revision          integer NOT NULL DEFAULT 1,
    ADD COLUMN previous_round_id text REFERENCES assessment.rounds (id),
    ADD COLUMN stale_reason      text,
    ADD COLUMN stale_time        timestamptz;
-- A round is revised once: its revisions form one chain.
CREATE UNIQUE INDEX rounds_revised_once ON assessment.rounds (previous_round_id);
