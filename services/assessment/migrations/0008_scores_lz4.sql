-- A round's scores are written once, tens of megabytes of JSON for a large region: lz4 compresses
-- them several times faster than the default pglz, which had most of Postgres's share of
-- writing a round.
ALTER TABLE assessment.scores
    ALTER COLUMN inputs SET COMPRESSION lz4,
    ALTER COLUMN score SET COMPRESSION lz4;
